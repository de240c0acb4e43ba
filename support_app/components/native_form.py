"""A plain HTML form that the browser itself submits (a full page POST).

Reflex's own form always prevents the browser's submission and sends the fields over
the websocket instead. Sign-in and sign-out must reach a server route that can set
or clear an HttpOnly cookie, so they use this element, which renders <form> with its
action and method and nothing else.
"""

from __future__ import annotations

from reflex_base.vars.base import Var
from reflex_components_core.el.elements.base import BaseHTML


class NativeForm(BaseHTML):
    tag = "form"

    action: Var[str]
    method: Var[str]


native_form = NativeForm.create
