"""Numbers from the URL or a header: "²" and "١" are digits to str.isdigit() (int() then
raises, or reads another script's digits), so only ASCII digits count."""

from __future__ import annotations

import pytest

from support_app.state.login import refusal_text
from support_app.state.metrics import DEFAULT_DAYS, PERIODS, period


@pytest.mark.parametrize("text", ["²", "³0", "١٤", "３０", "", "30 ", "-7", "0x1e", "9" * 400, None, 30, ["30"]])
def test_a_period_that_is_not_plain_ascii_digits_is_the_default(text):
    assert period(text) == DEFAULT_DAYS


@pytest.mark.parametrize("days", sorted(PERIODS))
def test_every_offered_period_is_read(days):
    assert period(str(days)) == days


@pytest.mark.parametrize("wait", ["²", "١٢٠", "", "0", "86401", "x"])
def test_a_sign_in_refusal_with_an_unreadable_wait_still_says_what_happened(wait):
    text = refusal_text("RATE_LIMITED", wait)
    assert "Too many failed sign-in attempts" in text or text == refusal_text("RATE_LIMITED", "")


def test_a_readable_wait_is_said_in_minutes():
    assert "2 minute(s)" in refusal_text("RATE_LIMITED", "120")
