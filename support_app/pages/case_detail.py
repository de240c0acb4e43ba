from __future__ import annotations

import reflex as rx

from support_app.domain.case_rules import MESSAGE_MAX
from support_app.components.bits import field_error, local_time, skeleton_until, status_badge
from support_app.components.conversation import conversation
from support_app.components.layout import page_shell
from support_app.components.timeline import timeline
from support_app.state.base import AppState
from support_app.state.case_page import CaseState
from support_app.pages.registry import page

case = CaseState.case


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(case.number, size="5", id="case-number"),
                rx.box(status_badge(case.status, case.status_label), id="case-status"),
                rx.badge(case.priority, variant="outline"),
                wrap="wrap",
                align="center",
            ),
            rx.text(case.subject, weight="medium", id="case-subject"),
            rx.text(case.description, white_space="pre-wrap", size="2"),
            rx.hstack(
                rx.text(case.category_label, size="1", color_scheme="gray"),
                rx.text("Opened ", size="1", color_scheme="gray"),
                rx.text(local_time(case.created_at), size="1"),
                rx.cond(AppState.is_agent, rx.text(case.customer_name, " <", case.customer_email, ">", size="1", color_scheme="gray")),
                rx.text(rx.cond(case.assignee_name != "", "Assigned to " + case.assignee_name, "Unassigned"), size="1", color_scheme="gray", id="case-assignee"),
                wrap="wrap",
                spacing="3",
            ),
            rx.text("Order ", rx.text.strong(case.order.order_id), " · ", case.order.total, size="2"),
            rx.foreach(case.order.lines, lambda ln: rx.text(ln.quantity, " × ", ln.name, " — ", ln.line_total, size="1")),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id="case-summary",
    )


def _close_case() -> rx.Component:
    """The customer's "Close case" asks first: a closed case takes no more replies."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button("Close case", variant="outline", disabled=CaseState.busy, id="status-closed")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Close this case?"),
            rx.alert_dialog.description("Nobody can reply on a closed case, and you cannot request refunds on it. You can reopen it within ",
                                        case.reopen_days, " days if you need to."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep it open", variant="soft")),
                rx.alert_dialog.action(rx.button("Close case", on_click=CaseState.set_status("closed"), id="status-closed-confirm")),
                justify="end",
                spacing="3",
            ),
        ),
    )


def _actions() -> rx.Component:
    return rx.hstack(
        rx.cond(
            AppState.is_agent & (case.status != "closed"),
            rx.cond(
                case.assigned_to_viewer,
                rx.badge("Assigned to you", variant="soft", color_scheme="green", id="assigned-to-you"),
                rx.button(rx.cond(case.assignee_name != "", "Take over from " + case.assignee_name, "Assign to me"),
                          on_click=CaseState.assign_to_me, variant="soft", id="assign-me", disabled=CaseState.busy),
            ),
        ),
        rx.foreach(
            case.next_statuses,
            lambda opt: rx.cond(
                (opt.value == "closed") & ~AppState.is_agent,
                _close_case(),
                rx.button(
                    rx.cond(opt.value == "closed", "Close", "Move to " + opt.label),
                    on_click=CaseState.set_status(opt.value),
                    variant="outline",
                    disabled=CaseState.busy,
                    id="status-" + opt.value,
                ),
            ),
        ),
        _reopen(),
        wrap="wrap",
        spacing="2",
        id="case-actions",
    )


def _reopen() -> rx.Component:
    """A resolved or closed case: "Reopen case" while the period lasts (until when, in the
    viewer's zone), afterwards why not and what to do. An agent on a resolved case has
    "Move to In progress" for that already, so not a second button doing the same."""
    return rx.cond(
        AppState.is_agent & (case.status == "resolved"),
        rx.fragment(),
        _reopen_button(),
    )


def _reopen_button() -> rx.Component:
    return rx.cond(
        case.can_reopen,
        rx.hstack(
            rx.button("Reopen case", on_click=CaseState.reopen, variant="soft", color_scheme="amber", disabled=CaseState.busy, id="reopen-case"),
            rx.text("possible until ", local_time(case.reopen_until), size="1", color_scheme="gray", id="reopen-until"),
            align="center",
            spacing="2",
        ),
        rx.cond(case.reopen_text != "", rx.text(case.reopen_text, size="2", color_scheme="gray", id="reopen-ended")),
    )


def _refunds() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Refunds", size="4"),
            rx.spacer(),
            rx.cond(
                case.status != "closed",
                rx.cond(
                    AppState.is_agent,
                    rx.link(rx.button("Record a settlement", variant="soft", size="2"), href="/cases/" + case.id.to_string() + "/settle", id="record-settlement"),
                    rx.link(rx.button("Request a refund", variant="soft", size="2"), href="/cases/" + case.id.to_string() + "/refund", id="request-refund"),
                ),
            ),
            width="100%",
            align="center",
        ),
        rx.cond(case.refunds.length() == 0, rx.text("No refunds on this case.", size="2", color_scheme="gray")),
        rx.foreach(
            case.refunds,
            lambda r: rx.link(
                rx.hstack(
                    rx.text(r.number, weight="bold", size="2"),
                    status_badge(r.status, r.status_label),
                    rx.spacer(),
                    rx.text(r.amount, size="2"),
                    width="100%",
                    align="center",
                ),
                href="/refunds/" + r.id.to_string(),
                underline="none",
                width="100%",
                class_name="refund-row",
            ),
        ),
        spacing="2",
        width="100%",
        id="case-refunds",
    )


def _composer() -> rx.Component:
    """Plain forms: what is typed stays in the browser until it is sent (one event per reply,
    none per pause in typing), as in the workspace."""
    return rx.cond(
        case.status != "closed",
        rx.vstack(
            rx.form(
                rx.vstack(
                    rx.text_area(name="body", placeholder="Write a reply…", aria_label="Reply", id="reply-text", width="100%", rows="3", max_length=MESSAGE_MAX),
                    field_error(CaseState.field_errors, "body"),
                    rx.button("Send reply", type="submit", loading=CaseState.busy, id="send-reply"),
                    width="100%",
                    spacing="2",
                ),
                on_submit=CaseState.send_reply,
                reset_on_submit=False,
                width="100%",
            ),
            rx.cond(
                AppState.is_agent,
                rx.form(
                    rx.vstack(
                        rx.text_area(name="body", placeholder="Internal note (only agents see this)…", aria_label="Internal note", id="note-text", width="100%", rows="2", background="var(--amber-2)", max_length=MESSAGE_MAX),
                        field_error(CaseState.field_errors, "note_body"),
                        rx.button("Add internal note", type="submit", variant="soft", color_scheme="amber", high_contrast=True, id="add-note", loading=CaseState.busy),
                        width="100%",
                        spacing="2",
                    ),
                    on_submit=CaseState.add_note,
                    reset_on_submit=False,
                    width="100%",
                ),
            ),
            width="100%",
            spacing="2",
        ),
        rx.text("This case is closed.", color_scheme="gray", id="case-closed"),
    )


@page(route="/cases/[case_id]", title="Case · Support & Refunds", on_load=CaseState.load)
def case_page() -> rx.Component:
    return page_shell(
        rx.cond(CaseState.load_error != "", rx.callout(CaseState.load_error, color_scheme="red", icon="triangle_alert", id="case-error")),
        skeleton_until(case, CaseState.load_error),
        rx.cond(
            case,
            rx.vstack(
                _summary(),
                _actions(),
                _refunds(),
                conversation(case.messages, case.earlier_messages, CaseState.show_earlier_messages),
                _composer(),
                timeline(case.timeline, case.earlier_events, CaseState.show_earlier_history),
                spacing="4",
                width="100%",
            ),
        ),
        title="Support case",
    )
