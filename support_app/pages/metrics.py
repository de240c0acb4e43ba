from __future__ import annotations

import reflex as rx

from support_app.components.bits import local_time, page_skeleton
from support_app.components.layout import page_shell
from support_app.services.metrics import CurrencyRefunds
from support_app.state.metrics import PERIODS
from support_app.state.metrics import MetricsState as M
from support_app.pages.registry import page

COLORS = ["var(--accent-9)", "var(--green-9)", "var(--amber-9)"]
CHART_HEIGHT = 240


def _stat(label: str, value: rx.Var, test_id: str) -> rx.Component:
    return rx.card(rx.vstack(rx.text(label, size="1", color_scheme="gray"), rx.heading(value, size="5", id=test_id), spacing="1"))


def _axes(x_key: str, x_label: str, y_label: str, **y) -> list[rx.Component]:
    return [
        rx.recharts.x_axis(data_key=x_key, label={"value": x_label, "position": "insideBottom", "offset": -4}, height=40),
        rx.recharts.y_axis(label={"value": y_label, "angle": -90, "position": "insideLeft"}, allow_decimals=False, **y),
        rx.recharts.graphing_tooltip(),
    ]


def _drawn(chart: rx.Component, test_id: str) -> rx.Component:
    """The chart once the load's data is here (no empty frame first): a quiet box of
    the same height until then, so nothing jumps."""
    return rx.cond(M.loaded, chart, rx.box(height=f"{CHART_HEIGHT}px", width="100%", class_name="chart-waiting", id=test_id))


def _bars(title: str, test_id: str, y_label: str, *series: tuple[str, str]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(title, weight="bold", size="2"),
            _drawn(
                rx.recharts.bar_chart(
                    *[rx.recharts.bar(data_key=key, name=name, fill=color, is_animation_active=False)
                      for (key, name), color in zip(series, COLORS)],
                    *_axes("day", "Day", y_label),
                    rx.recharts.legend(vertical_align="top"),
                    data=M.per_day,
                    width="100%",
                    height=CHART_HEIGHT,
                    margin={"top": 20, "right": 10, "left": 10, "bottom": 10},
                    id=test_id,
                ),
                test_id,
            ),
            width="100%",
        ),
        width="100%",
    )


def _refunded_chart(r: rx.Var[CurrencyRefunds]) -> rx.Component:
    """One chart per currency: amounts in different currencies share no axis."""
    return rx.card(
        rx.vstack(
            rx.text("Refunded per day in ", r.currency, " (", r.total, " in the period)", weight="bold", size="2"),
            rx.recharts.line_chart(
                rx.recharts.line(data_key="amount", name=r.currency, stroke="var(--green-9)", is_animation_active=False),
                rx.recharts.x_axis(data_key="day", label={"value": "Day", "position": "insideBottom", "offset": -4}, height=40),
                rx.recharts.y_axis(label={"value": r.currency, "angle": -90, "position": "insideLeft"}),
                rx.recharts.graphing_tooltip(),
                data=r.per_day,
                width="100%",
                height=CHART_HEIGHT,
                margin={"top": 10, "right": 10, "left": 10, "bottom": 10},
            ),
            width="100%",
        ),
        width="100%",
        class_name="refunded-chart",
    )


@page(route="/metrics", title="Metrics · Support & Refunds", on_load=M.load)
def metrics_page() -> rx.Component:
    return page_shell(
        rx.el.select(
            *[rx.el.option(f"Last {d} days", value=str(d)) for d in PERIODS],
            value=M.days.to_string(),
            on_change=M.set_days,
            id="metrics-days",
            aria_label="Period",
            style={"padding": "0.35rem"},
        ),
        page_skeleton(~M.loaded),
        rx.grid(
            _stat("Median time to first response", M.median_first_response, "m-first-response"),
            _stat("Median time to resolution", M.median_resolution, "m-resolution"),
            _stat("Median approve → refunded", M.median_approve_to_refunded, "m-approve-refunded"),
            rx.card(rx.vstack(
                rx.text("Refunded in the period", size="1", color_scheme="gray"),
                rx.cond(M.refunded.length() > 0,
                        rx.foreach(M.refunded, lambda r: rx.heading(r.total, size="5", class_name="m-refunded-total")),
                        rx.heading(rx.cond(M.loaded, "Nothing yet", ""), size="5", class_name="m-refunded-total")),
                spacing="1", id="m-refunded-total")),
            columns=rx.breakpoints(initial="1", sm="2", md="4"),
            spacing="3",
            width="100%",
        ),
        _bars("Cases opened and resolved per day", "chart-cases", "Cases", ("opened", "Opened"), ("resolved", "Resolved")),
        _bars("Refund requests per day", "chart-requests", "Requests", ("refund_requests", "Requests")),
        rx.foreach(M.refunded, _refunded_chart),
        rx.card(
            rx.vstack(
                rx.text("Refund rate by reason", weight="bold", size="2"),
                _drawn(
                    rx.recharts.bar_chart(
                        rx.recharts.bar(rx.recharts.label_list(data_key="rate", position="top"),
                                        data_key="rate", name="Refunded %", fill="var(--green-9)", unit=" %",
                                        is_animation_active=False),
                        rx.recharts.x_axis(data_key="reason", interval=0, height=40,
                                           label={"value": "Reason", "position": "insideBottom", "offset": -4}),
                        rx.recharts.y_axis(domain=[0, 100], unit=" %", width=80,
                                           label={"value": "Refunded", "angle": -90, "position": "insideLeft"}),
                        rx.recharts.graphing_tooltip(),
                        data=M.by_reason,
                        width="100%",
                        height=CHART_HEIGHT,
                        margin={"top": 20, "right": 10, "left": 10, "bottom": 10},
                        id="chart-reasons",
                    ),
                    "chart-reasons",
                ),
                rx.foreach(M.by_reason, lambda r: rx.text(r["reason"].to(str), ": ", r["refunded"].to(str), " of ", r["requests"].to(str), " refunded", size="1", class_name="reason-row")),
                width="100%",
            ),
            width="100%",
        ),
        rx.card(
            rx.vstack(
                rx.text("Oldest open items", weight="bold", size="2"),
                rx.foreach(
                    M.oldest,
                    lambda o: rx.link(
                        rx.hstack(rx.text(o.number, size="2"), rx.text("since ", local_time(o.since), size="1", color_scheme="gray")),
                        href=rx.cond(o.kind == "case", "/cases/", "/refunds/") + o.id.to_string(),
                        class_name="oldest-item",
                    ),
                ),
                width="100%",
            ),
            width="100%",
            id="oldest",
        ),
        title="Metrics",
    )
