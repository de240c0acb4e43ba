"""POST /api/gateway/webhook: refund status updates pushed by the payment gateway.

Rejects a missing or wrong HMAC signature and stale or future timestamps (400),
then applies the event once per event id (replays answer 200 "duplicate").
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from support_app.integrations.gateway_webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRejected, verify
from support_app.services.gateway_events import apply_gateway_event
from support_app.services.runner import run_sync
from support_app.settings import get_settings

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


async def gateway_webhook(request: Request) -> JSONResponse:
    declared = request.headers.get("content-length", "0")
    if not (declared.isascii() and declared.isdigit()) or int(declared) > MAX_BODY:
        return JSONResponse({"error": "too_large"}, status_code=413)
    body = b""
    async for chunk in request.stream():  # never buffer more than MAX_BODY, whatever the header said
        body += chunk
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "too_large"}, status_code=413)
    try:
        verify(
            get_settings().gateway_webhook_secret,
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
            now=int(time.time()),
        )
    except WebhookRejected as rejected:
        log.warning("gateway webhook rejected: %s", rejected)
        return JSONResponse({"error": str(rejected)}, status_code=400)
    try:
        event = json.loads(body)
    except ValueError:
        return JSONResponse({"error": "bad_json"}, status_code=400)
    outcome = await asyncio.to_thread(run_sync, apply_gateway_event, event)
    return JSONResponse({"result": outcome})


routes = [Route("/api/gateway/webhook", gateway_webhook, methods=["POST"])]
