"""GET /api/export/{cases|refunds}.csv?<overview filters>&token=<download token>."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from support_app.domain.errors import DomainError
from support_app.security import tokens
from support_app.services.exports import KINDS, csv_stream


async def export_csv(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind not in KINDS:
        return JSONResponse({"error": "not_found"}, status_code=404)
    raw = {k: v for k, v in request.query_params.items() if k != "token"}
    try:
        session = tokens.decode_session(request.cookies.get(tokens.SESSION_COOKIE, ""))
        stream = await asyncio.to_thread(csv_stream, request.query_params.get("token", ""), session.family_id, kind, raw)
    except DomainError as err:
        return JSONResponse({"error": err.code.value, "message": err.message}, status_code=403)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        stream,  # a sync iterator: Starlette walks it in a worker thread
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}-{stamp}.csv"', "Cache-Control": "no-store"},
    )


routes = [Route("/api/export/{kind}.csv", export_csv, methods=["GET"])]
