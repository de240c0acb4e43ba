"""Small display pieces: status badges, field errors, local times, loading."""

from __future__ import annotations

import reflex as rx
from reflex.vars.base import Var, VarData

STATUS_COLORS = {
    "open": "blue",
    "in_progress": "amber",
    "waiting_on_customer": "purple",
    "resolved": "green",
    "closed": "gray",
    # refund cases
    "requested": "blue",
    "approved": "cyan",
    "processing": "amber",
    "refunded": "green",
    "failed": "red",
    "rejected": "red",
    "settled": "green",
    "cancelled": "gray",
}


def status_badge(status: rx.Var, label: rx.Var) -> rx.Component:
    return rx.badge(
        label,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),
        variant="soft",
        high_contrast=True,  # the soft badge's own text colour is under 4.5:1 on its tint
        class_name="status-badge",
    )


def field_label(text: str, field_id: str) -> rx.Component:
    """The visible name of a form field, tied to it (screen readers read it on focus; a click focuses the field)."""
    return rx.el.label(text, html_for=field_id, class_name="field-label")


def field_error(errors: rx.Var, name: str) -> rx.Component:
    return rx.cond(
        errors.contains(name),
        rx.text(errors[name], color_scheme="red", size="1", id=f"error-{name}", role="alert"),
    )


def _zoned_js(iso: str, date: bool, time: bool, seconds: bool) -> str:
    """A JavaScript expression: the ISO UTC instant ``iso`` as the browser's own time zone
    reads it, "2026-11-05 15:00 GMT+1" (Intl, so no time zone data to ship; the zone is
    named whenever a time of day is shown, a bare date needs none)."""
    options = ['year:"numeric"', 'month:"2-digit"', 'day:"2-digit"', 'hour:"2-digit"', 'minute:"2-digit"',
               'second:"2-digit"', 'hourCycle:"h23"', 'timeZoneName:"short"']
    parts = []
    if date:
        parts.append('p.year+"-"+p.month+"-"+p.day')
    if time:
        parts.append('p.hour+":"+p.minute' + ('+":"+p.second' if seconds else "") + '+" "+p.timeZoneName')
    text = '+" "+'.join(parts)
    return ("((s) => { if (!s) return \"—\"; const d = new Date(s); if (isNaN(d)) return s; "
            "const p = Object.fromEntries(new Intl.DateTimeFormat(\"en-US\", {" + ",".join(options) + "})"
            ".formatToParts(d).map((x) => [x.type, x.value])); return " + text + "; })(" + iso + ")")


def local_time(iso: rx.Var, fmt: str = "YYYY-MM-DD HH:mm") -> rx.Component:
    """A UTC timestamp (ISO, from a read model) in the viewer's own time zone, the zone
    named: "2026-11-05 15:00 GMT+1". Rendered in the browser, which alone knows its
    zone, so every viewer (and every live update) gets their own; hovering shows UTC.
    ``fmt`` picks the parts as moment tokens did: YYYY-MM-DD, HH:mm, ss."""
    expr = _zoned_js(str(iso), "YYYY" in fmt, "HH" in fmt, "ss" in fmt)
    text = Var(_js_expr=expr, _var_type=str, _var_data=VarData.merge(iso._get_all_var_data()))
    return rx.el.time(text, date_time=iso, title=iso.to(str) + " (UTC)", class_name="local-time")


def loading(flag: rx.Var) -> rx.Component:
    return rx.cond(flag, rx.hstack(rx.spinner(size="2"), rx.text("Loading…", size="2"), id="loading"))


def page_skeleton(when: rx.Var) -> rx.Component:
    """Grey placeholders where the page's data will be, while it is on its way (a full
    page load shows the shell at once; the data arrives over the websocket after)."""
    return rx.cond(
        when,
        rx.vstack(
            *[rx.skeleton(rx.box(height=height, width="100%"), loading=True, width="100%") for height in ("5rem", "5rem", "5rem")],
            spacing="3",
            width="100%",
            id="page-skeleton",
            role="status",
            aria_label="Loading",
        ),
    )


def skeleton_until(data: rx.Var, error: rx.Var) -> rx.Component:
    """Placeholders until ``data`` is there or ``error`` says why it will not be."""
    return rx.cond(data, rx.fragment(), page_skeleton(error == ""))


def show_earlier(count: rx.Var, one: str, many: str, on_click, element_id: str) -> rx.Component:
    """"Show 12 earlier messages": a long thread opens on its newest entries; this asks for all."""
    return rx.cond(
        count > 0,
        rx.button(rx.icon("chevrons-up", size=14), "Show ", count.to_string(), " ", rx.cond(count == 1, one, many),
                  on_click=on_click, variant="soft", size="1", id=element_id),
    )
