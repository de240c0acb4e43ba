"""All tables, imported here so SQLModel.metadata knows every one (Alembic uses it)."""

from support_app.models.order import OrderLine, OrderSnapshot
from support_app.models.refund import RefundAttempt, RefundCase, RefundEvent, RefundItem, WebhookEvent
from support_app.models.search_index import CaseSubjectTerm, CustomerNameTerm
from support_app.models.support_case import CaseEvent, CaseMessage, SupportCase
from support_app.models.user import RefreshToken, SignIn, User
from support_app.models.workspace_mark import CaseSeen

__all__ = [
    "CaseEvent",
    "CaseMessage",
    "CaseSeen",
    "CaseSubjectTerm",
    "CustomerNameTerm",
    "OrderLine",
    "OrderSnapshot",
    "RefreshToken",
    "RefundAttempt",
    "RefundCase",
    "RefundEvent",
    "RefundItem",
    "SignIn",
    "SupportCase",
    "User",
    "WebhookEvent",
]
