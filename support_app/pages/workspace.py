"""/workspace: the agents' screen — queue, conversation and sidebar side by side at
1280 px and wider (stacked below), with keyboard shortcuts and live updates."""

from __future__ import annotations

import reflex as rx

from support_app.components.bits import field_error, local_time, status_badge
from support_app.components.conversation import conversation
from support_app.components.layout import nav_bar
from support_app.domain.case_rules import MESSAGE_MAX
from support_app.state.workspace import PRIORITY_OPTIONS, STATUS_OPTIONS, WorkspaceState as W
from support_app.pages.registry import page
from support_app.pages.workspace_sidebar import sidebar

ws = W.selected
case = W.selected.case
SCOPE_LABELS = [("mine", "Mine"), ("unassigned", "Unassigned"), ("all", "All")]
KEYS = [("j / k", "Next / previous case"), ("r", "Write a reply"), ("n", "Write an internal note"),
        ("Ctrl+Enter", "Send what you wrote"), ("a", "Approve the first refund that can be approved (asks first)"),
        ("e", "Resolve the case"), ("?", "This list")]

# Keys go to hidden or visible controls by id, so a key does exactly what a click does
# (and the server checks it the same way). Ignored while typing in a field, with a
# modifier held, or while a dialog is open; Ctrl+Enter in the composer sends it.
KEYS_JS = """
(() => {
  if (window.__workspaceKeys) return;
  window.__workspaceKeys = true;
  const click = (sel) => { const el = document.querySelector(sel); if (el) el.click(); };
  const write = (mode) => { click('#ws-mode-' + mode); const d = document.getElementById('ws-draft'); if (d) d.focus(); };
  const keys = {j: () => click('#ws-next'), k: () => click('#ws-prev'), r: () => write('reply'), n: () => write('note'),
                a: () => click('.ws-approve'), e: () => click('#ws-resolve'), '?': () => click('#ws-keys-open')};
  document.addEventListener('keydown', (ev) => {
    if (!window.location.pathname.startsWith('/workspace')) return;
    const t = ev.target;
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && t && t.id === 'ws-draft') {
      ev.preventDefault();
      const form = document.getElementById('ws-composer');
      if (form) form.requestSubmit();
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (document.querySelector('[role=dialog], [role=alertdialog]')) return;
    const act = keys[ev.key];
    if (act) { ev.preventDefault(); act(); }
  });
})();
"""

WIDE = "@media (min-width: 1280px)"
PANE = {"min_width": "0", WIDE: {"height": "calc(100vh - 100px)", "overflow_y": "auto"}}


def _select(options, value, on_change, id_: str, label: str) -> rx.Component:
    return rx.el.select(*[rx.el.option(label, value=v) for v, label in options], value=value, on_change=on_change,
                        id=id_, aria_label=label, style={"padding": "0.3rem", "font_size": "0.85rem"})


def _filters() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            *[rx.button(label, size="1", variant=rx.cond(W.scope == value, "solid", "soft"), on_click=W.set_scope(value),
                        id=f"ws-scope-{value}") for value, label in SCOPE_LABELS],
            spacing="1",
        ),
        rx.hstack(_select(STATUS_OPTIONS, W.status_filter, W.set_status_filter, "ws-status", "Status"),
                  _select(PRIORITY_OPTIONS, W.priority_filter, W.set_priority_filter, "ws-priority", "Priority"), spacing="2", wrap="wrap"),
        spacing="2",
        width="100%",
    )


def _due(row) -> rx.Component:
    return rx.cond(
        row.due_at != "",
        rx.text(rx.cond(row.overdue, "Overdue since ", "Due "), local_time(row.due_at, "MM-DD HH:mm"), size="1",
                color_scheme=rx.cond(row.overdue, "red", "gray"), class_name="ws-due"),
        rx.text("Nothing due", size="1", color_scheme="gray", class_name="ws-due"),
    )


def _row(row) -> rx.Component:
    chosen = row.id == W.selected_id
    return rx.box(
        rx.hstack(
            rx.cond(row.unread, rx.box(width="8px", height="8px", border_radius="50%", background="var(--accent-9)",
                                       flex_shrink="0", class_name="ws-unread", title="Updated since you last opened it")),
            rx.text(row.number, weight="bold", size="1", white_space="nowrap"),
            status_badge(row.status, row.status_label),
            rx.badge(row.priority_label, variant="outline", size="1"),
            rx.spacer(),
            _due(row),
            align="center",
            spacing="2",
            width="100%",
        ),
        rx.text(row.subject, size="2", weight=rx.cond(row.unread, "bold", "regular"), trim="both", class_name="ws-subject"),
        rx.text(row.customer_name, " · ", rx.cond(row.assignee_name != "", row.assignee_name, "Unassigned"),
                size="1", color_scheme="gray"),
        on_click=W.select_case(row.id.to_string()),
        id="ws-row-" + row.id.to_string(),
        class_name=rx.cond(chosen, "ws-row ws-selected", "ws-row"),
        background=rx.cond(chosen, "var(--accent-3)", "transparent"),
        border_left=rx.cond(chosen, "3px solid var(--accent-9)", "3px solid transparent"),
        padding="0.5rem",
        border_bottom="1px solid var(--gray-4)",
        cursor="pointer",
        width="100%",
    )


def _queue() -> rx.Component:
    return rx.vstack(
        rx.heading("Queue", size="4"),
        _filters(),
        rx.cond(W.loaded & (W.rows.length() == 0), rx.text("No cases match these filters.", size="2", id="ws-empty")),
        rx.box(rx.foreach(W.rows, _row), width="100%", id="ws-queue"),
        # Targets of the j / k keys.
        rx.button("Next case", on_click=W.next_case, id="ws-next", display="none"),
        rx.button("Previous case", on_click=W.previous_case, id="ws-prev", display="none"),
        spacing="2",
        width="100%",
        style=PANE,
        padding="0.75rem",
        id="ws-queue-pane",
    )


def _header() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(case.number, size="4", id="ws-case-number"),
            rx.box(status_badge(case.status, case.status_label), id="ws-case-status"),
            rx.badge(case.priority_label, variant="outline", id="ws-case-priority"),
            rx.spacer(),
            rx.link("Full case page", href="/cases/" + case.id.to_string(), size="1", id="ws-case-link"),
            align="center",
            width="100%",
            wrap="wrap",
        ),
        rx.text(case.subject, weight="medium", id="ws-case-subject"),
        rx.text(case.description, white_space="pre-wrap", size="2"),
        rx.hstack(
            rx.text("Assigned to", size="1", color_scheme="gray"),
            rx.el.select(
                rx.el.option("Nobody", value=""),
                rx.foreach(ws.agents, lambda a: rx.el.option(a.label, value=a.value)),
                value=rx.cond(case.assignee_id == 0, "", case.assignee_id.to_string()),
                on_change=W.assign,
                id="ws-assignee",
                aria_label="Assigned to",
                disabled=(case.status == "closed") | W.busy,
                style={"padding": "0.25rem", "font_size": "0.85rem"},
            ),
            rx.spacer(),
            rx.cond((case.status != "resolved") & (case.status != "closed"),
                    rx.button("Resolve (e)", on_click=W.resolve, size="1", color_scheme="green", variant="soft", high_contrast=True,
                              id="ws-resolve", disabled=W.busy)),
            align="center",
            width="100%",
            wrap="wrap",
        ),
        spacing="2",
        width="100%",
    )


def _composer() -> rx.Component:
    note = W.compose_mode == "note"
    return rx.cond(
        case.status != "closed",
        rx.form(
            rx.vstack(
                rx.hstack(
                    rx.button("Reply (r)", type="button", size="1", variant=rx.cond(note, "soft", "solid"),
                              on_click=W.set_compose_mode("reply"), id="ws-mode-reply"),
                    rx.button("Internal note (n)", type="button", size="1", color_scheme="amber", high_contrast=True,
                              variant=rx.cond(note, "solid", "soft"), on_click=W.set_compose_mode("note"), id="ws-mode-note"),
                    spacing="2",
                ),
                rx.text_area(name="body", id="ws-draft", aria_label=rx.cond(note, "Internal note", "Reply"), width="100%", rows="3", max_length=MESSAGE_MAX,
                             placeholder=rx.cond(note, "Internal note — only agents see this…", "Reply to the customer…"),
                             background=rx.cond(note, "var(--amber-2)", "transparent")),
                field_error(W.field_errors, "body"),
                rx.hstack(
                    rx.button(rx.cond(note, "Add internal note", "Send reply"), type="submit", size="2",
                              color_scheme=rx.cond(note, "amber", "accent"), loading=W.busy, id="ws-send"),
                    rx.text("Ctrl+Enter sends", size="1", color_scheme="gray"),
                    align="center",
                    spacing="2",
                ),
                spacing="2",
                width="100%",
            ),
            on_submit=W.send,
            reset_on_submit=False,
            id="ws-composer",
            width="100%",
        ),
        rx.text("This case is closed.", color_scheme="gray", id="ws-case-closed"),
    )


def _middle() -> rx.Component:
    return rx.box(
        rx.cond(W.load_error != "", rx.callout(W.load_error, color_scheme="red", icon="triangle_alert", id="ws-error")),
        rx.cond(
            ws,
            rx.vstack(_header(), rx.divider(), conversation(case.messages, case.earlier_messages, W.show_earlier_messages),
                      _composer(), spacing="3", width="100%", id="ws-case"),
            rx.text("Pick a case from the queue (or press j).", color_scheme="gray", id="ws-no-case"),
        ),
        style=PANE,
        padding="0.75rem",
        border_left="1px solid var(--gray-5)",
        border_right="1px solid var(--gray-5)",
        id="ws-case-pane",
    )


def _keys_sheet() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(rx.button("?", size="1", variant="soft", id="ws-keys-open", title="Keyboard shortcuts")),
        rx.dialog.content(
            rx.dialog.title("Keyboard shortcuts"),
            rx.vstack(*[rx.hstack(rx.code(key), rx.text(what, size="2"), spacing="3") for key, what in KEYS], spacing="2",
                      id="ws-keys"),
            rx.text("Keys are ignored while you type in a field.", size="1", color_scheme="gray", margin_top="0.75rem"),
            rx.flex(rx.dialog.close(rx.button("Close", variant="soft")), justify="end", margin_top="1rem"),
        ),
    )


@page(route="/workspace", title="Workspace · Support & Refunds", on_load=W.load)
def workspace_page() -> rx.Component:
    return rx.box(
        nav_bar(),
        rx.hstack(rx.heading("Workspace", size="3", id="page-title"), _keys_sheet(), align="center", spacing="3",
                  padding="0.25rem 0.75rem"),
        rx.box(
            _queue(),
            _middle(),
            rx.box(sidebar(), style=PANE, padding="0.75rem", id="ws-sidebar"),
            style={"display": "grid", "grid_template_columns": "minmax(0, 1fr)",
                   WIDE: {"grid_template_columns": "340px minmax(0, 1fr) 360px"}},
            width="100%",
            id="workspace",
        ),
        on_mount=rx.call_script(KEYS_JS),
        width="100%",
    )
