"""Durations shown on the metrics page: one unit, chosen after rounding."""

from __future__ import annotations

import pytest

from support_app.domain.durations import human_duration


@pytest.mark.parametrize("seconds,shown", [
    (0, "0.0 s"),
    (0.84, "0.8 s"),
    (9.94, "9.9 s"),
    (9.96, "10 s"),  # rounds to 10: whole seconds from there
    (59.4, "59 s"),
    (59.6, "1 min"),  # rounds to 60 s: a minute
    (180, "3 min"),  # the 3-minute first response that read "0.0 h"
    (3569, "59 min"),
    (3571, "1.0 h"),  # 59.5 min rounds to 60: an hour
    (9000, "2.5 h"),
    (86219, "23.9 h"),
    (86221, "1.0 d"),  # 23.95 h rounds to 24.0: a day
    (1.2 * 86400, "1.2 d"),
    (40 * 86400, "40.0 d"),
])
def test_one_unit_after_rounding(seconds, shown):
    assert human_duration(seconds) == shown


@pytest.mark.parametrize("nothing", [None, -1, float("nan")])
def test_nothing_to_show(nothing):
    assert human_duration(nothing) == "—"
