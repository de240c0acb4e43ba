"""The app's pages, each added once with ``app.add_page`` (support_app.py).

Reflex's ``@rx.page`` keeps its pages in a list that every compile in a process applies
again, and each second application warned "Page … is being redefined with the same
component" (one line per page at every start). ``page`` records the same arguments and
the app adds them itself, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PAGES: list[tuple[Callable[[], Any], dict[str, Any]]] = []


def page(**options: Any) -> Callable:
    """``@page(route=..., title=..., on_load=...)``: the options of ``App.add_page``."""

    def record(render: Callable[[], Any]) -> Callable[[], Any]:
        PAGES.append((render, options))
        return render

    return record
