"""Money is integer minor units plus an ISO 4217 code; never floats."""

from __future__ import annotations

# Currencies whose minor unit is not 1/100.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3}
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def format_money(minor: int, currency: str) -> str:
    """12345, "EUR" → "€123.45"; exact integer arithmetic, no float on the way."""
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise TypeError("money must be integer minor units")
    exp = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp) if exp else (abs(minor), 0)
    number = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
    symbol = _SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency.upper()}"
