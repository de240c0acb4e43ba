"""``column IN <list of ids>`` as one SQL text whatever the list's length.

SQLAlchemy's expanding ``IN`` renders the statement again at every execution, with one
placeholder per id, so each list length is a different statement: nothing to prepare,
and psycopg's prepared-statement cache churns. ``in_ids(column, "ids")`` binds the
whole list as one parameter instead:

- PostgreSQL: ``column = ANY(:ids::INTEGER[])`` (psycopg prepares it after a few runs);
- SQLite: ``column IN (SELECT value FROM json_each(:ids))``, the list sent as JSON.

An empty list matches nothing on both. Ids are checked to be integers when bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, Integer, String, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine


class IdList(TypeDecorator):
    """A list of integer ids bound as one value: an integer array, or JSON text on SQLite."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(Integer))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Iterable[int] | None, dialect: Dialect) -> Any:
        ids = [int(v) for v in value or ()]
        return ids if dialect.name == "postgresql" else json.dumps(ids)


class InIds(ColumnElement[bool]):
    """``column`` is one of the ids bound under ``name`` (see the module docstring)."""

    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: SQLite gets no "= 1" after it
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("param", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.param: BindParameter[Any] = bindparam(name, type_=IdList())


def in_ids(column: Any, name: str = "ids") -> InIds:
    return InIds(column, name)


@compiles(InIds)
def _in_ids_default(element: InIds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each({compiler.process(element.param, **kw)}))"


@compiles(InIds, "postgresql")
def _in_ids_postgresql(element: InIds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.param, **kw)})"
