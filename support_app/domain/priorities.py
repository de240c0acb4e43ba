"""How case priorities rank and read. Pure.

The agents' queue works the most urgent cases first and, within a priority, the
oldest first (a case waiting longer is served before a newer one of the same weight).
"""

from __future__ import annotations

from support_app.domain.case_rules import Priority

# Most urgent first: the order the queue works them in.
PRIORITY_ORDER: tuple[Priority, ...] = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)
PRIORITY_LABELS: dict[Priority, str] = {
    Priority.URGENT: "Urgent",
    Priority.HIGH: "High",
    Priority.NORMAL: "Normal",
    Priority.LOW: "Low",
}
