"""Money formatting: integer minor units and an ISO 4217 code, never floats."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from support_app.domain.money import exponent, format_money


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (12345, "EUR", "€123.45"),
        (12345, "USD", "$123.45"),
        (12345, "GBP", "£123.45"),
        (12345, "JPY", "¥12,345"),
        (12345, "BHD", "12.345 BHD"),
        (12345, "KWD", "12.345 KWD"),
        (12345, "CHF", "123.45 CHF"),
        (12345, "XYZ", "123.45 XYZ"),
        (0, "EUR", "€0.00"),
        (0, "JPY", "¥0"),
        (0, "BHD", "0.000 BHD"),
        (1, "EUR", "€0.01"),
        (10, "EUR", "€0.10"),
        (99, "USD", "$0.99"),
        (100, "USD", "$1.00"),
        (1, "BHD", "0.001 BHD"),
        (1000, "BHD", "1.000 BHD"),
        (1, "JPY", "¥1"),
    ],
)
def test_format(minor, currency, expected):
    assert format_money(minor, currency) == expected


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (100000, "EUR", "€1,000.00"),
        (99999, "EUR", "€999.99"),
        (123456789, "EUR", "€1,234,567.89"),
        (123456789, "USD", "$1,234,567.89"),
        (1234567, "JPY", "¥1,234,567"),
        (999, "JPY", "¥999"),
        (1000, "JPY", "¥1,000"),
        (1234567, "BHD", "1,234.567 BHD"),
        (123456789, "XYZ", "1,234,567.89 XYZ"),
    ],
)
def test_thousands_separators(minor, currency, expected):
    assert format_money(minor, currency) == expected


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (-12345, "EUR", "-€123.45"),
        (-5, "EUR", "-€0.05"),
        (-100, "USD", "-$1.00"),
        (-1234567, "JPY", "-¥1,234,567"),
        (-1, "BHD", "-0.001 BHD"),
        (-123456789, "XYZ", "-1,234,567.89 XYZ"),
    ],
)
def test_negatives(minor, currency, expected):
    assert format_money(minor, currency) == expected


def test_currency_code_is_case_insensitive():
    assert format_money(12345, "eur") == "€123.45"
    assert format_money(12345, "jpy") == "¥12,345"
    assert format_money(12345, "bhd") == "12.345 BHD"
    assert format_money(12345, "xyz") == "123.45 XYZ"


def test_exponents():
    assert [exponent(c) for c in ("EUR", "USD", "JPY", "KRW", "BHD", "KWD", "XYZ", "jpy")] == [2, 2, 0, 0, 3, 3, 2, 0]


def test_huge_amounts_are_exact():
    # A float would lose the last cent here; integer arithmetic must not.
    assert format_money(10**18 + 1, "EUR") == "€10,000,000,000,000,000.01"


@pytest.mark.parametrize("bad", [1.5, 100.0, -0.0, Decimal("1.00"), Fraction(1, 2), "100", None])
def test_rejects_non_integers(bad):
    with pytest.raises(TypeError):
        format_money(bad, "EUR")
