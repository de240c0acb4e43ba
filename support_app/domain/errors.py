"""Stable error codes. They travel unchanged from the domain to the UI and any API;
the messages are what a person reads."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION_FAILED = "VALIDATION_FAILED"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RATE_LIMITED = "RATE_LIMITED"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    TOKEN_REUSED = "TOKEN_REUSED"
    FORBIDDEN = "FORBIDDEN"
    NOT_CASE_OWNER = "NOT_CASE_OWNER"
    NOT_ORDER_OWNER = "NOT_ORDER_OWNER"
    CASE_NOT_FOUND = "CASE_NOT_FOUND"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    INVALID_STATUS_TRANSITION = "INVALID_STATUS_TRANSITION"
    CASE_CLOSED = "CASE_CLOSED"
    REOPEN_PERIOD_ENDED = "REOPEN_PERIOD_ENDED"
    CONCURRENT_UPDATE = "CONCURRENT_UPDATE"
    ORDER_SYSTEM_UNAVAILABLE = "ORDER_SYSTEM_UNAVAILABLE"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    INVALID_REFUND_TRANSITION = "INVALID_REFUND_TRANSITION"
    REFUND_ALREADY_PROCESSED = "REFUND_ALREADY_PROCESSED"
    ORDER_NOT_DELIVERED = "ORDER_NOT_DELIVERED"
    REFUND_WINDOW_EXPIRED = "REFUND_WINDOW_EXPIRED"
    EMPTY_REFUND = "EMPTY_REFUND"
    LINE_NOT_IN_ORDER = "LINE_NOT_IN_ORDER"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    QUANTITY_EXCEEDS_REFUNDABLE = "QUANTITY_EXCEEDS_REFUNDABLE"
    INVALID_REASON = "INVALID_REASON"
    SHIPPING_ALREADY_REFUNDED = "SHIPPING_ALREADY_REFUNDED"
    ORDER_OVER_REFUNDED = "ORDER_OVER_REFUNDED"
    REFUND_NOT_FOUND = "REFUND_NOT_FOUND"
    SERVICE_BUSY = "SERVICE_BUSY"
    PAGE_BUSY = "PAGE_BUSY"
    PAGE_STALE = "PAGE_STALE"
    BAD_REQUEST = "BAD_REQUEST"
    INTERNAL_ERROR = "INTERNAL_ERROR"


MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.VALIDATION_FAILED: "Some fields need your attention.",
    ErrorCode.NOT_AUTHENTICATED: "Please sign in to continue.",
    ErrorCode.INVALID_CREDENTIALS: "That email and password do not match an account.",
    ErrorCode.RATE_LIMITED: "Too many attempts. Please wait a few minutes and try again.",
    ErrorCode.TOKEN_INVALID: "Your session is not valid. Please sign in again.",
    ErrorCode.TOKEN_EXPIRED: "Your session has expired. Please sign in again.",
    ErrorCode.TOKEN_REVOKED: "You have been signed out. Please sign in again.",
    ErrorCode.TOKEN_REUSED: "Your session was ended for your safety. Please sign in again.",
    ErrorCode.FORBIDDEN: "You do not have access to that.",
    ErrorCode.NOT_CASE_OWNER: "That case was not found.",
    ErrorCode.NOT_ORDER_OWNER: "That order was not found among your orders.",
    ErrorCode.CASE_NOT_FOUND: "That case was not found.",
    ErrorCode.ORDER_NOT_FOUND: "That order was not found.",
    ErrorCode.USER_NOT_FOUND: "That user was not found.",
    ErrorCode.INVALID_STATUS_TRANSITION: "The case cannot move to that status from its current one.",
    ErrorCode.CASE_CLOSED: "This case is closed.",
    ErrorCode.REOPEN_PERIOD_ENDED: "This case can no longer be reopened. Please open a new case about the order.",
    ErrorCode.CONCURRENT_UPDATE: "Someone else changed this case just now. It has been reloaded.",
    ErrorCode.ORDER_SYSTEM_UNAVAILABLE: "The order system is not answering right now. Please try again shortly.",
    ErrorCode.EMAIL_TAKEN: "An account with that email already exists.",
    ErrorCode.INVALID_REFUND_TRANSITION: "The refund cannot move to that status from its current one.",
    ErrorCode.REFUND_ALREADY_PROCESSED: "This refund has already been processed.",
    ErrorCode.ORDER_NOT_DELIVERED: "This order has not been delivered yet, so it cannot be refunded online. An agent can still help.",
    ErrorCode.REFUND_WINDOW_EXPIRED: "The refund window for this order has ended. An agent can still review your request.",
    ErrorCode.EMPTY_REFUND: "Choose at least one item to refund.",
    ErrorCode.LINE_NOT_IN_ORDER: "That item is not part of this order.",
    ErrorCode.INVALID_QUANTITY: "Enter a whole number of items.",
    ErrorCode.QUANTITY_EXCEEDS_REFUNDABLE: "That is more items than are left to refund.",
    ErrorCode.INVALID_REASON: "Choose a reason for the refund.",
    ErrorCode.SHIPPING_ALREADY_REFUNDED: "Shipping for this order has already been refunded.",
    ErrorCode.ORDER_OVER_REFUNDED: "This refund would return more than was paid for the order.",
    ErrorCode.REFUND_NOT_FOUND: "That refund was not found.",
    ErrorCode.SERVICE_BUSY: "We are very busy right now and could not save that. Please try again in a moment.",
    ErrorCode.PAGE_BUSY: "We are very busy right now and this page could not keep up. Please reload it to see where things stand.",
    # The tab's page state no longer holds what the page shows (left open past the state's
    # lifetime, lost on a saturated server) or never did (a forged event): never "not found".
    ErrorCode.PAGE_STALE: "This page is out of date. Please reload it to see where things stand.",
    ErrorCode.BAD_REQUEST: "That request could not be understood. Please reload the page and try again.",
    ErrorCode.INTERNAL_ERROR: "Something went wrong on our side. Please try again; if it keeps happening, tell us the reference.",
}


class DomainError(Exception):
    """A rule said no. ``code`` is stable; ``fields`` maps form fields to messages."""

    def __init__(self, code: ErrorCode, message: str | None = None, fields: dict[str, str] | None = None):
        self.code = code
        self.message = message or MESSAGES[code]
        self.fields = fields or {}
        super().__init__(f"{code}: {self.message}")
