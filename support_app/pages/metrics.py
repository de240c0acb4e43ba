from __future__ import annotations

import reflex as rx

from support_app.components.bits import local_time
from support_app.components.layout import page_shell
from support_app.services.metrics import CurrencyRefunds
from support_app.state.metrics import MetricsState as M


def _stat(label: str, value: rx.Var, test_id: str) -> rx.Component:
    return rx.card(rx.vstack(rx.text(label, size="1", color_scheme="gray"), rx.heading(value, size="5", id=test_id), spacing="1"))


def _chart(title: str, *series: tuple[str, str], kind: str = "bar") -> rx.Component:
    chart, mark = (rx.recharts.bar_chart, rx.recharts.bar) if kind == "bar" else (rx.recharts.line_chart, rx.recharts.line)
    return rx.card(
        rx.vstack(
            rx.text(title, weight="bold", size="2"),
            chart(
                *[mark(data_key=key, name=name, fill=color, stroke=color) for key, name, color in
                  [(k, n, c) for (k, n), c in zip(series, ["var(--accent-9)", "var(--green-9)", "var(--amber-9)"])]],
                rx.recharts.x_axis(data_key="day"),
                rx.recharts.y_axis(),
                rx.recharts.legend(),
                rx.recharts.graphing_tooltip(),
                data=M.per_day,
                width="100%",
                height=220,
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
                rx.recharts.line(data_key="amount", name=r.currency, stroke="var(--green-9)"),
                rx.recharts.x_axis(data_key="day"),
                rx.recharts.y_axis(),
                rx.recharts.graphing_tooltip(),
                data=r.per_day,
                width="100%",
                height=220,
            ),
            width="100%",
        ),
        width="100%",
        class_name="refunded-chart",
    )


@rx.page(route="/metrics", title="Metrics · Support & Refunds", on_load=M.load)
def metrics_page() -> rx.Component:
    return page_shell(
        rx.el.select(
            *[rx.el.option(f"Last {d} days", value=str(d)) for d in (7, 30, 90)],
            value=M.days.to_string(),
            on_change=M.set_days,
            id="metrics-days",
            style={"padding": "0.35rem"},
        ),
        rx.grid(
            _stat("Median time to first response", M.median_first_response, "m-first-response"),
            _stat("Median time to resolution", M.median_resolution, "m-resolution"),
            _stat("Median approve → refunded", M.median_approve_to_refunded, "m-approve-refunded"),
            rx.card(rx.vstack(
                rx.text("Refunded in the period", size="1", color_scheme="gray"),
                rx.cond(M.refunded.length() > 0,
                        rx.foreach(M.refunded, lambda r: rx.heading(r.total, size="5", class_name="m-refunded-total")),
                        rx.heading("Nothing yet", size="5", class_name="m-refunded-total")),
                spacing="1", id="m-refunded-total")),
            columns=rx.breakpoints(initial="1", sm="2", md="4"),
            spacing="3",
            width="100%",
        ),
        _chart("Cases opened and resolved per day", ("opened", "Opened"), ("resolved", "Resolved")),
        _chart("Refund requests per day", ("refund_requests", "Requests")),
        rx.foreach(M.refunded, _refunded_chart),
        rx.card(
            rx.vstack(
                rx.text("Refund rate by reason", weight="bold", size="2"),
                rx.recharts.bar_chart(
                    rx.recharts.bar(data_key="rate", name="Refunded %", fill="var(--green-9)"),
                    rx.recharts.x_axis(data_key="reason"),
                    rx.recharts.y_axis(domain=[0, 100]),
                    rx.recharts.graphing_tooltip(),
                    data=M.by_reason,
                    width="100%",
                    height=220,
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
