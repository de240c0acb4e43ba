"""Checks every value from the browser passes before any handler sees it (pure).

A websocket event is whatever a client chose to send: any JSON under any handler
name. These rules bound its shape and size and refuse text that no field accepts
(NUL bytes, lone UTF-16 surrogates, which cannot even be stored as UTF-8), so that a
hostile payload is answered with a clear refusal instead of reaching a handler, a
database driver or the logs.
"""

from __future__ import annotations

from typing import Any

MAX_EVENT_CHARS = 256 * 1024  # a whole event's payload, as JSON text
MAX_TEXT_CHARS = 20_000  # any one string (the longest field, a message, is 5,000)
MAX_ITEMS = 1_000  # values in one payload, all levels together
MAX_DEPTH = 6
MAX_NAME_CHARS = 200


class BadInput(ValueError):
    """The payload must not reach a handler; ``str(err)`` says why (safe to log)."""


def record_id(value: Any) -> int | None:
    """A record id as the browser may send it (an int, or ASCII digits that fit a
    64-bit integer), or None for anything else (bool, "1e3", "٣", a 40-digit string)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def text_problem(value: str, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """Why ``value`` is not acceptable text, or None."""
    if len(value) > max_chars:
        return f"text longer than {max_chars:,} characters"
    if "\x00" in value:
        return "text with a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text with an unpaired surrogate"
    return None


def check_payload(payload: Any) -> None:
    """Raise BadInput unless ``payload`` is a JSON object of bounded size whose texts
    are all acceptable."""
    if not isinstance(payload, dict):
        raise BadInput("the payload is not an object")
    budget = [MAX_ITEMS]
    _walk(payload, 0, budget)


def _walk(value: Any, depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise BadInput("too many values")
    if depth > MAX_DEPTH:
        raise BadInput("nested too deeply")
    if isinstance(value, str):
        if problem := text_problem(value):
            raise BadInput(problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or (problem := text_problem(key, 200)):
                raise BadInput("a bad field name")
            _walk(item, depth + 1, budget)
    elif isinstance(value, list):
        for item in value:
            _walk(item, depth + 1, budget)
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise BadInput("a value of an unknown kind")


def matches(value: Any, annotation: Any) -> bool:
    """Does ``value`` fit the handler parameter's annotation (str, int, bool, dict, list,
    or ``X | None``)? Unknown annotations accept anything (the handler checks)."""
    if annotation in (str, "str"):
        return isinstance(value, str)
    if annotation in (bool, "bool"):
        return isinstance(value, bool)
    if annotation in (int, "int"):  # Reflex turns digit strings into ints
        return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.lstrip("-").isdigit())
    if annotation in (dict, "dict") or str(annotation).startswith("dict["):
        return isinstance(value, dict)
    if annotation in (list, "list") or str(annotation).startswith("list["):
        return isinstance(value, list)
    return True
