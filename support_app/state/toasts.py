"""The toasts a page shows, one at a time.

Every toast carries the same id, so the next one replaces the one on screen instead of
stacking under it: a success replaces a stale error, and a double click that succeeds
twice leaves one toast. The toaster sits bottom-right (support_app/support_app.py),
away from the navigation.
"""

from __future__ import annotations

import reflex as rx

TOAST_ID = "problem"


def success(message: str):
    return rx.toast.success(message, id=TOAST_ID)


def info(message: str):
    return rx.toast.info(message, id=TOAST_ID)


def warning(message: str):
    return rx.toast.warning(message, id=TOAST_ID)


def error(message: str):
    return rx.toast.error(message, id=TOAST_ID)
