"""How a history event reads on the timeline."""

from __future__ import annotations

from support_app.domain.case_rules import STATUS_LABELS, CaseStatus


def _label(status: str | None) -> str:
    try:
        return STATUS_LABELS[CaseStatus(status)]
    except ValueError:
        return status or ""


def event_text(kind: str, from_status: str | None, to_status: str | None, detail: str | None) -> str:
    if kind == "created":
        return "Opened the case"
    if kind == "status_changed":
        text = f"Changed status from {_label(from_status)} to {_label(to_status)}"
        return f"{text}: {detail}" if detail else text
    if kind == "reopened":
        text = f"Reopened the case ({_label(from_status)} to {_label(to_status)})"
        return f"{text}: {detail}" if detail else text
    if kind == "assigned":
        return f"Assigned the case to {detail}" if detail else "Unassigned the case"
    if kind == "reply":
        return "Replied"
    if kind == "note":
        return "Added an internal note"
    return detail or kind.replace("_", " ").capitalize()
