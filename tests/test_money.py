"""Money formatting: integer minor units and an ISO 4217 code, never floats."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from support_app.domain.money import exponent, format_money
from support_app.domain.money import AmountError, parse_amount


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


# ------------------------------------------------------------ amounts as people type them



@pytest.mark.parametrize(
    ("text", "exp", "minor"),
    [
        ("12.50", 2, 1250), ("12,50", 2, 1250), ("12,5", 2, 1250), ("12.5", 2, 1250), ("12", 2, 1200), (" 12,50 ", 2, 1250),
        ("0,01", 2, 1), ("0.01", 2, 1), ("0", 2, 0), ("1,234.50", 2, 123450), ("1.234,50", 2, 123450),
        ("1,234,567", 2, 123456700), ("1 234,50", 2, 123450), ("1\u00a0234,50", 2, 123450),
        ("999999999999.99", 2, 99999999999999),  # 12 whole digits: the most there may be
        ("1,234", 0, 1234), ("1234", 0, 1234),  # no minor unit: a comma can only group thousands
        ("1,234", 3, 1234), ("1.234", 3, 1234),  # three decimals: that is the minor unit
    ],
)
def test_amounts_that_are_read(text, exp, minor):
    assert parse_amount(text, exp) == minor


@pytest.mark.parametrize(
    ("text", "exp", "says"),
    [
        ("1,234,5", 2, "comma"), ("1,23,456", 2, "comma"), ("12,", 2, "comma"), (",50", 2, "comma"),
        ("1,234", 2, "comma could mean either"),  # a thousand, or 1.234? asked, not guessed
        ("1.234.5", 2, "point"), ("1.234,5,0", 2, "point"), ("1,2.50", 2, "comma"),
        ("12,505", 2, "comma could mean either"), ("12.505", 2, "at most 2 digits"), ("12,5050", 2, "at most 2 digits"),
        ("12.5", 0, "no cents"), ("-12.50", 2, "digits only"), ("12.50 EUR", 2, "digits only"), ("١٢", 2, "digits only"),
        ("", 2, "like 12.50"), ("   ", 2, "like 12.50"), ("1000000000000", 2, "like 12.50"),
    ],
)
def test_amounts_that_are_refused_say_what_is_wrong(text, exp, says):
    with pytest.raises(AmountError) as err:
        parse_amount(text, exp)
    assert says in str(err.value)


def test_the_refused_comma_is_named_as_the_problem():
    with pytest.raises(AmountError) as err:
        parse_amount("1,234,5")
    assert str(err.value) == ("The comma in this amount cannot be read: use one comma for the decimals, like 1234,50, "
                              "and no other separator.")


@pytest.mark.parametrize("value", [None, 12, 12.5, b"12"])
def test_only_text_is_an_amount_to_read(value):
    with pytest.raises(AmountError):
        parse_amount(value)
