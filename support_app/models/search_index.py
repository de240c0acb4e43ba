"""Blind indexes: what the database can look up without holding the plaintext.

* ``users.email_bidx`` — blind index of the (lower-cased) email, unique.
* ``customer_name_terms`` (term_bidx, user_id) — each customer's name words and their
  prefixes (domain/search_terms.name_terms), for the overview's customer filter.
* ``case_subject_terms`` (term_bidx, case_id) — each support case's subject words
  (domain/search_terms.subject_terms), for the overview's ``q``.

Both term tables are keyed (term_bidx, id), WITHOUT ROWID on SQLite: a term's ids are
one ordered range, and "does this row carry the term" is one key probe. They are kept
by mapper events in the same flush (so the same transaction) as the row they index:
inserting a user or a case writes its terms, changing a name or subject rewrites them,
and every email write sets email_bidx. Bulk loaders that bypass the ORM (the
large-data generator, the migration, test fixtures) use the same row builders.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Index, delete, event, insert
from sqlalchemy.orm import attributes
from sqlmodel import Field, SQLModel

from support_app.domain.search_terms import name_terms, subject_terms
from support_app.models.support_case import SupportCase
from support_app.models.user import User
from support_app.security.crypto import get_blind_index

EMAIL, NAME, SUBJECT = "email", "name", "subject"  # blind-index purposes


class CustomerNameTerm(SQLModel, table=True):
    __tablename__ = "customer_name_terms"
    __table_args__ = (Index("ix_customer_name_terms_user_id", "user_id"), {"sqlite_with_rowid": False})

    term_bidx: str = Field(max_length=32, primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)


class CaseSubjectTerm(SQLModel, table=True):
    __tablename__ = "case_subject_terms"
    __table_args__ = {"sqlite_with_rowid": False}

    term_bidx: str = Field(max_length=32, primary_key=True)
    case_id: int = Field(foreign_key="support_cases.id", primary_key=True)


def email_index(email: str) -> str:
    """Blind index of an email, compared case-insensitively (as accounts are)."""
    return get_blind_index()(EMAIL, email.strip().lower())


@lru_cache(maxsize=100_000)
def term_index(purpose: str, word: str) -> str:
    """Blind index of one normalised search word (cached: vocabularies repeat)."""
    return get_blind_index()(purpose, word)


def name_term_rows(user_id: int, full_name: str) -> list[dict[str, Any]]:
    return [{"term_bidx": term_index(NAME, t), "user_id": user_id} for t in sorted(name_terms(full_name))]


def subject_term_rows(case_id: int, subject: str) -> list[dict[str, Any]]:
    return [{"term_bidx": term_index(SUBJECT, t), "case_id": case_id} for t in sorted(subject_terms(subject))]


# -- kept in the same flush as the row ---------------------------------------------


def _changed(target: Any, name: str) -> tuple[bool, Any]:
    """(did ``name`` change in this flush, its previous value if loaded)."""
    history = attributes.get_history(target, name)
    return history.has_changes(), history.deleted[0] if history.deleted else None


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _user_email_index(_mapper, _connection, user: User) -> None:
    user.email_bidx = email_index(user.email)


@event.listens_for(User, "after_insert")
def _user_terms_insert(_mapper, connection, user: User) -> None:
    if user.role == "customer":
        connection.execute(insert(CustomerNameTerm.__table__), name_term_rows(user.id, user.full_name))


@event.listens_for(User, "before_update")
def _user_terms_update(_mapper, connection, user: User) -> None:
    if _changed(user, "full_name")[0] or _changed(user, "role")[0]:
        connection.execute(delete(CustomerNameTerm.__table__).where(CustomerNameTerm.user_id == user.id))
        if user.role == "customer":
            connection.execute(insert(CustomerNameTerm.__table__), name_term_rows(user.id, user.full_name))


@event.listens_for(SupportCase, "after_insert")
def _case_terms_insert(_mapper, connection, case: SupportCase) -> None:
    rows = subject_term_rows(case.id, case.subject)
    if rows:
        connection.execute(insert(CaseSubjectTerm.__table__), rows)


@event.listens_for(SupportCase, "before_update")
def _case_terms_update(_mapper, connection, case: SupportCase) -> None:
    changed, old = _changed(case, "subject")
    if not changed:
        return
    table = CaseSubjectTerm.__table__
    if old is not None:  # the old terms by key (no index on case_id alone is needed)
        gone = [r["term_bidx"] for r in subject_term_rows(case.id, old)]
        if gone:
            connection.execute(delete(table).where(table.c.case_id == case.id, table.c.term_bidx.in_(gone)))
    else:
        connection.execute(delete(table).where(table.c.case_id == case.id))
    rows = subject_term_rows(case.id, case.subject)
    if rows:
        connection.execute(insert(table), rows)
