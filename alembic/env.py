"""Alembic environment: the URL and metadata come from the app itself."""

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import support_app.models  # noqa: F401  (registers every table)
from support_app.db import make_engine
from support_app.settings import get_settings

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    return config.attributes.get("url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Batch mode rebuilds a table (create the new one, copy, drop the old, rename),
            # which SQLite's documented procedure does with foreign keys off: dropping a
            # referenced table would otherwise fail. Set on the DB-API connection before
            # any transaction (the pragma is a no-op inside one); a migration that
            # rebuilds tables runs PRAGMA foreign_key_check before it commits.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
