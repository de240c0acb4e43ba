"""Does a payment gateway's answer agree with the attempt it answers? Pure, no I/O.

An attempt asks the gateway to refund ``amount`` minor units in ``currency`` under one
idempotency key. Every answer about that key — the reply to the request, a later lookup
by the key, a webhook — describes a refund. If it says money moved or will move
(succeeded, pending) it must state exactly the attempt's amount and currency: another
figure, or none at all, means nobody can tell what happened to the customer's money.
Such an answer is a mismatch: the attempt is recorded as ``mismatch`` with what the
gateway said, the refund is never marked refunded, nothing is retried, and an agent
must look (services/refund_execution). A decline (failed) moved nothing, so it is a
mismatch only when it names a different amount or currency (then it is not about our
request); a decline that names none is taken as it is.
"""

from __future__ import annotations

from support_app.domain.money import format_money

MONEY_MOVING = frozenset({"succeeded", "pending"})
_SAID = {"succeeded": "refunded", "pending": "accepted a refund of", "failed": "declined a refund of"}


def describe(amount: int | None, currency: str | None) -> str:
    """A reported figure in words, saying plainly what the gateway left out."""
    if amount is None:
        return f"an unstated amount{f' in {currency}' if currency else ''}"
    if currency is None:
        return f"{amount:,} minor units of an unstated currency"
    return format_money(amount, currency)


def answer_mismatch(outcome: str, amount: int, currency: str, reported_amount: int | None,
                    reported_currency: str | None) -> str | None:
    """None when the answer agrees with the attempt (``amount`` in ``currency``); else the
    sentence an agent reads, with both figures.

    >>> answer_mismatch("succeeded", 2777, "EUR", 100000, "EUR")
    'The payment gateway says it refunded €1,000.00 for this attempt of €27.77.'
    """
    if outcome in MONEY_MOVING:
        agrees = (reported_amount, reported_currency) == (amount, currency)
    elif outcome == "failed":
        agrees = reported_amount in (None, amount) and reported_currency in (None, currency)
    else:
        return None  # unknown: the gateway said nothing about any refund
    if agrees:
        return None
    return (f"The payment gateway says it {_SAID[outcome]} {describe(reported_amount, reported_currency)} "
            f"for this attempt of {format_money(amount, currency)}.")
