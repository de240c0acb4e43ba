"""Encrypted text columns: AES-256-GCM on the way in, decrypted on the way out.

``EncryptedText("<table>.<column>")`` stores ``enc1:<kid>:<base64url>`` (see
security/crypto) with the column's name as associated data, so services read and write
plain ``str`` as before and the database only ever holds ciphertext. A ciphertext is
different every time, so the database cannot compare, sort or search these columns:
the comparator refuses comparing it with a value and ordering by it, allowing only
``IS [NOT] NULL`` (a mistake fails loudly instead of matching nothing; SQLAlchemy's own
column-to-column comparisons stay possible); exact lookups and search go through blind
indexes (models/search_index).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Null
from sqlalchemy.types import TypeDecorator

from support_app.security.crypto import get_keyring

_ALLOWED = {operators.is_, operators.is_not}
_ORDERING = {operators.desc_op, operators.asc_op, operators.collate, operators.nulls_first_op, operators.nulls_last_op}


class EncryptedText(TypeDecorator):
    impl = Text
    cache_ok = True

    class Comparator(TypeDecorator.Comparator):
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            against_columns = other and all(isinstance(o, ColumnElement) and not _is_value(o) for o in other)
            if op in _ALLOWED or (against_columns and op not in _ORDERING):
                return super().operate(op, *other, **kwargs)
            raise TypeError(f"{self.expr} is encrypted: the database cannot compare or sort it "
                            f"({getattr(op, '__name__', op)}); use its blind index")

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            raise TypeError(f"{self.expr} is encrypted: the database cannot compare or sort it")

    comparator_factory = Comparator

    def __init__(self, aad: str) -> None:
        super().__init__()
        self.aad = aad

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else get_keyring().encrypt(value, self.aad)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else get_keyring().decrypt(value, self.aad)


def _is_value(element: Any) -> bool:
    return isinstance(element, (BindParameter, Null))
