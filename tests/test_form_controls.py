"""Every form control a page's form sends has a name: Reflex 0.10.1 still sends a control
that has only an id (and warns at start that 0.11 will not), so a handler reading such a
field would lose it on the next Reflex release without a word."""

from __future__ import annotations

import reflex as rx
from reflex_base.utils import console


def _forms(component: rx.Component):
    if isinstance(component, rx.el.elements.forms.Form):
        yield component
    for child in getattr(component, "children", ()):
        yield from _forms(child)


def test_no_page_sends_a_form_control_by_its_id(monkeypatch):
    from support_app.support_app import app

    sent_by_id: list[str] = []
    monkeypatch.setattr(console, "deprecate", lambda *a, **k: sent_by_id.append(k.get("feature_name", "")))
    checked = 0
    for page in app._unevaluated_pages.values():
        component = page.component() if callable(page.component) else page.component
        for form in _forms(component):
            form._deprecate_id_only_form_controls()
            checked += 1
    assert checked >= 10  # reply and note, a new case, both overviews, the refund forms and page, the workspace
    assert sent_by_id == []
