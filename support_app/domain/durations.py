"""Durations as people read them: "45 s", "3 min", "2.5 h", "1.2 d". Pure.

The unit is the largest one the duration reaches once rounded as it will be shown, so
59.7 minutes reads "1.0 h" rather than "60 min":

* under a minute: seconds, with one decimal below 10 s ("0.8 s", "12 s");
* under an hour: whole minutes ("3 min");
* under a day: hours with one decimal ("2.5 h");
* else days with one decimal ("1.2 d").
"""

from __future__ import annotations

MINUTE, HOUR, DAY = 60, 3600, 86400


def human_duration(seconds: float | None) -> str:
    """``seconds`` (≥ 0) in one unit; "—" when there is nothing to show."""
    if seconds is None or seconds != seconds or seconds < 0:  # None, NaN or negative
        return "—"
    if round(seconds, 1) < 10:
        return f"{seconds:.1f} s"
    if round(seconds) < MINUTE:
        return f"{round(seconds)} s"
    if round(seconds / MINUTE) < 60:
        return f"{round(seconds / MINUTE)} min"
    if round(seconds / HOUR, 1) < 24:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} d"
