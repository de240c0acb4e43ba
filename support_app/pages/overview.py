from __future__ import annotations

import reflex as rx

from support_app.components.bits import local_time, page_skeleton, status_badge
from support_app.components.filter_panel import filter_panel
from support_app.components.layout import page_shell
from support_app.components.overview_css import NOWRAP, PAGE_CLASS, TABLE_CLASS, overview_css
from support_app.domain.case_rules import CATEGORY_LABELS, STATUS_LABELS
from support_app.domain.priorities import PRIORITY_LABELS
from support_app.domain.overview_rules import DEFAULT_PAGE_SIZE, PAGE_SIZES
from support_app.domain.refund_rules import REASON_LABELS
from support_app.domain.refund_rules import STATUS_LABELS as REFUND_STATUS_LABELS
from support_app.services.overview_views import RefundOverviewRow, SupportOverviewRow
from support_app.state.overview import OverviewState as O
from support_app.pages.registry import page


# Amount sort and amount bounds compare one currency (the query picks EUR when none is chosen).
CURRENCIES = ("EUR", "USD", "GBP")


def _input(name: str, placeholder: str, type_: str = "text") -> rx.Component:
    return rx.input(name=name, id=f"f-{name}", placeholder=placeholder, aria_label=placeholder, type=type_, default_value=O.params.get(name, ""),
                    key=O.params.get(name, "") + name, width="10rem", max_length=254)


def _status_boxes(labels: dict) -> rx.Component:
    return rx.hstack(
        *[
            rx.el.label(
                rx.el.input(type="checkbox", name=f"status_{s.value}", id=f"f-status-{s.value}",
                            default_checked=O.statuses.contains(s.value), key=O.statuses.to_string() + s.value),
                " " + label,
                style={"fontSize": "0.85rem", "marginRight": "0.6rem"},
                class_name="touch-target",
            )
            for s, label in labels.items()
        ],
        wrap="wrap",
    )


def _select(name: str, options: list[tuple[str, str]], label: str, default: str = "") -> rx.Component:
    return rx.el.select(*[rx.el.option(label, value=value) for value, label in options], name=name, id=f"f-{name}", aria_label=label,
                        default_value=O.params.get(name, default or options[0][0]), key=O.params.get(name, "") + name,
                        style={"padding": "0.35rem"})


def _filters(refund: bool) -> rx.Component:
    sorts = [("created", "Created"), ("updated", "Updated")] + ([("amount", "Amount")] if refund else [])
    return filter_panel(rx.form(
        rx.vstack(
            _status_boxes(REFUND_STATUS_LABELS if refund else STATUS_LABELS),
            rx.hstack(
                _input("q", "Number, order id, email or subject words"),
                _input("customer", "Customer email, or name words"),
                _input("order_id", "Order id"),
                rx.text(rx.cond(O.params.get("sort", "") == "updated", "Updated", "Created"), " between", size="1"),
                _input("date_from", "From", "date"),
                _input("date_to", "To", "date"),
                *([_select("reason", [("", "Any reason")] + [(r.value, l) for r, l in REASON_LABELS.items()], "Reason"),
                   _select("currency", [("", "Any currency")] + [(c, c) for c in CURRENCIES], "Currency"),
                   _input("amount_min", "Min amount"), _input("amount_max", "Max amount")] if refund
                  else [_select("assignee", [("", "Anyone"), ("me", "Me"), ("none", "Unassigned")], "Assignee"),
                        _select("priority", [("", "Any priority")] + [(p.value, l) for p, l in PRIORITY_LABELS.items()], "Priority"),
                        _select("category", [("", "Any category")] + [(c.value, l) for c, l in CATEGORY_LABELS.items()], "Category")]),
                _select("sort", sorts, "Sort by"),
                _select("direction", [("desc", "Newest first"), ("asc", "Oldest first")], "Order"),
                _select("size", [(str(n), f"{n} per page") for n in PAGE_SIZES], "Rows per page", default=str(DEFAULT_PAGE_SIZE)),
                wrap="wrap",
                spacing="2",
            ),
            rx.hstack(
                rx.button("Apply", type="submit", id="apply-filters"),
                rx.button("Clear", type="button", variant="soft", on_click=O.clear, id="clear-filters"),
                rx.button("Export CSV", type="button", variant="outline", on_click=O.export, id="export-csv"),
                spacing="2",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=O.apply,
        width="100%",
    ), panel_id="overview-filters")


def _cell(label: str, *children, nowrap: bool = False, class_name: str = "") -> rx.Component:
    """A cell that names its column (shown before the value when rows are cards, on a phone)."""
    classes = " ".join(c for c in (NOWRAP if nowrap else "", class_name) if c)
    return rx.el.td(*children, custom_attrs={"data-label": label}, class_name=classes or None)


def _case_row(row: rx.Var[SupportOverviewRow]) -> rx.Component:
    return rx.el.tr(
        _cell("Case", rx.link(row.number, href="/cases/" + row.id.to_string()), nowrap=True),
        _cell("Status", status_badge(row.status, row.status_label), nowrap=True),
        _cell("Priority", row.priority_label, nowrap=True, class_name="priority"),
        _cell("Category", row.category_label, class_name="category"),
        _cell("Subject", row.subject),
        _cell("Customer", row.customer_name),
        _cell("Order", row.order_id, nowrap=True),
        _cell("Assignee", row.assignee_name),
        _cell("Created", local_time(row.created_at), nowrap=True),
        _cell("Updated", local_time(row.updated_at), nowrap=True),
        class_name="overview-row",
    )


def _refund_row(row: rx.Var[RefundOverviewRow]) -> rx.Component:
    return rx.el.tr(
        _cell("Refund", rx.link(row.number, href="/refunds/" + row.id.to_string()), nowrap=True),
        _cell("Status", status_badge(row.status, row.status_label), nowrap=True),
        _cell("Reason", row.reason_label),
        _cell("Amount", row.amount, nowrap=True),
        _cell("Customer", row.customer_name),
        _cell("Case", rx.link(row.case_number, href="/cases/" + row.case_id.to_string()), nowrap=True),
        _cell("Requested", local_time(row.requested_at), nowrap=True),
        class_name="overview-row",
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.text(O.count_text, " matching", size="2", id="overview-count"),
        rx.spacer(),
        rx.cond(O.prev_href != "", rx.link(rx.button("← Previous", variant="soft"), href=O.prev_href, id="prev-page")),
        rx.cond(O.next_href != "", rx.link(rx.button("Next →", variant="soft"), href=O.next_href, id="next-page")),
        width="100%",
        align="center",
    )


def _table(headers: list[str], body: rx.Component) -> rx.Component:
    """A plain HTML table (styled in overview_css): its rows become cards on a phone."""
    return rx.box(
        rx.el.table(rx.el.thead(rx.el.tr(*[rx.el.th(h, class_name=NOWRAP, scope="col") for h in headers])),
                    rx.el.tbody(body)),
        width="100%",
        class_name=f"{TABLE_CLASS} {PAGE_CLASS}",
    )


def _problems() -> rx.Component:
    return rx.cond(O.problems.length() > 0, rx.callout(rx.foreach(O.problems.values(), lambda p: rx.text(p, size="1")),
                                                       color_scheme="amber", icon="info", id="overview-problems"))


@page(route="/overview/cases", title="Support cases · Support & Refunds", on_load=O.load)
def cases_overview() -> rx.Component:
    return page_shell(
        overview_css(), _filters(False), _problems(), page_skeleton(~O.loaded), _pager(),
        _table(["Case", "Status", "Priority", "Category", "Subject", "Customer", "Order", "Assignee", "Created", "Updated"], rx.foreach(O.cases, _case_row)),
        _pager(),
        title="Support cases",
    )


@page(route="/overview/refunds", title="Refund cases · Support & Refunds", on_load=O.load)
def refunds_overview() -> rx.Component:
    return page_shell(
        overview_css(), _filters(True), _problems(), page_skeleton(~O.loaded), _pager(),
        _table(["Refund", "Status", "Reason", "Amount", "Customer", "Case", "Requested"], rx.foreach(O.refunds, _refund_row)),
        _pager(),
        title="Refund cases",
    )
