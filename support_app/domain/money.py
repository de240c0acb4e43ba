"""Money is integer minor units plus an ISO 4217 code; never floats."""

from __future__ import annotations

import re

# Currencies whose minor unit is not 1/100.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3}
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def format_money(minor: int, currency: str) -> str:
    """12345, "EUR" → "€123.45"; exact integer arithmetic, no float on the way."""
    sign, number = _sign_and_number(minor, currency, grouped=True)
    symbol = _SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency.upper()}"


def decimal_text(minor: int, currency: str) -> str:
    """2777, "EUR" → "27.77"; 500, "JPY" → "500": a plain number a spreadsheet can sum."""
    sign, number = _sign_and_number(minor, currency, grouped=False)
    return sign + number


def _sign_and_number(minor: int, currency: str, *, grouped: bool) -> tuple[str, str]:
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise TypeError("money must be integer minor units")
    exp = exponent(currency)
    whole, frac = divmod(abs(minor), 10**exp) if exp else (abs(minor), 0)
    return "-" if minor < 0 else "", (f"{whole:,}" if grouped else str(whole)) + (f".{frac:0{exp}d}" if exp else "")


class AmountError(ValueError):
    """An amount a person typed that cannot be read; the message says what is wrong."""


def _grouped(number: str, sep: str) -> bool:
    """"1,234,567": thousands grouped in threes by ``sep``."""
    return re.fullmatch(r"[0-9]{1,3}(?:" + re.escape(sep) + r"[0-9]{3})+", number) is not None


def parse_amount(text: object, exponent: int = 2) -> int:
    """An amount a person typed → integer minor units, exactly (no float).

    Accepted (exponent 2): "12.50", "12,50" (a decimal comma), "12", "12.5", "1,234.50"
    and "1.234,50" (thousands grouped in threes, the other mark the decimal one),
    "1,234,567" and "1 234,50". Refused, with the mark that is the problem named:
    "1,234,5" (a comma that is neither a thousands separator nor a decimal one),
    "1,234" (a thousand, or one with 234 thousandths? — asked, not guessed, unless the
    currency has no minor unit), more decimals than the currency has, signs, letters,
    and more than 12 whole digits.
    """
    if not isinstance(text, str):
        raise AmountError("Enter an amount like 12.50.")
    raw = "".join(text.split())  # "1 234,50": spaces (any kind) group thousands
    if not raw:
        raise AmountError("Enter an amount like 12.50.")
    if not all(ch.isascii() and (ch.isdigit() or ch in ",.") for ch in raw):
        raise AmountError("Enter digits only, with a decimal point or comma, like 12.50.")
    whole, frac = _split_amount(raw, exponent)
    if not whole.isdigit() or len(whole.lstrip("0")) > 12:
        raise AmountError("Enter an amount like 12.50.")
    if len(frac) > exponent:
        raise AmountError(f"Use at most {exponent} digit{'s' if exponent != 1 else ''} after the decimal mark."
                          if exponent else "This currency has no cents: enter a whole amount.")
    return int(whole) * 10**exponent + int(frac.ljust(exponent, "0") or "0")


def _split_amount(raw: str, exponent: int) -> tuple[str, str]:
    """(whole digits, fraction digits) of ``raw``, made of digits, commas and points."""
    commas, points = raw.count(","), raw.count(".")
    if commas and points:  # both: the last one is the decimal mark, the other groups thousands
        dec, group = (".", ",") if raw.rfind(".") > raw.rfind(",") else (",", ".")
        whole, _, frac = raw.rpartition(dec)
        if raw.count(dec) > 1 or not _grouped(whole, group) or not frac.isdigit():
            raise AmountError(f"The {_name(group)} in this amount is not in the right place: write it like 1{group}234{dec}50, "
                              f"or with no thousands separator: 1234{dec}50.")
        return whole.replace(group, ""), frac
    mark = "," if commas else "." if points else ""
    if not mark:
        return raw, ""
    count = commas or points
    if count > 1:  # only thousands can repeat: 1,234,567
        if _grouped(raw, mark):
            return raw.replace(mark, ""), ""
        raise AmountError(f"The {_name(mark)} in this amount cannot be read: use one {_name(mark)} for the decimals, "
                          f"like 1234{mark}50, and no other separator.")
    whole, _, frac = raw.partition(mark)
    if not whole or not frac or not frac.isdigit():
        raise AmountError(f"The {_name(mark)} in this amount needs digits on both sides, like 12{mark}50.")
    if mark == "," and len(frac) == 3 and exponent != 3:
        if exponent == 0:
            return whole + frac, ""  # no minor unit: a comma can only group thousands
        raise AmountError(f"Is that {whole}{frac} or {whole}.{frac}? The comma could mean either: write 12.50 for "
                          f"an amount with cents, or {whole}{frac} without a separator.")
    return whole, frac


def _name(mark: str) -> str:
    return "comma" if mark == "," else "point"
