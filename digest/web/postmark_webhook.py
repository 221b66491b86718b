"""POST /webhooks/postmark: Postmark's webhooks (Bounce, SpamComplaint, Delivery,
SubscriptionChange…). Postmark signs nothing: the post must carry the configured basic-auth
credentials (from the webhook URL Postmark was given), come from `webhook_networks` when that
is set, and hold a fresh event; nothing is read before the credentials are checked, and the
body at most `webhook_max_bytes` (limits.BodyLimit). Each event is applied once by its id
(digest.app)."""

from __future__ import annotations

import ipaddress
import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from digest.app import App
from digest.web.postmark_events import BadEvent, credentials_match, fresh, parse_event

PATH = "/webhooks/postmark"
router = APIRouter()
log = logging.getLogger("digest.webhooks")


@router.post(PATH)
async def postmark_events(request: Request) -> JSONResponse:
    app: App = request.app.state.digest
    settings = app.settings.postmark
    password = settings.webhook_password.get_secret_value()
    if not (settings.webhook_username and password):
        raise HTTPException(
            status_code=503,
            detail="postmark webhook_username and webhook_password are not set",
        )
    if settings.webhook_networks and not _from_allowed(request, settings.webhook_networks):
        raise HTTPException(status_code=403, detail="not from postmark webhook_networks")
    if not credentials_match(
        request.headers.get("Authorization", ""), settings.webhook_username, password
    ):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong credentials",
            headers={"WWW-Authenticate": 'Basic realm="digest webhooks"'},
        )
    body = await request.body()  # at most webhook_max_bytes (limits.BodyLimit)
    try:
        event = parse_event(body)
    except BadEvent as problem:
        raise HTTPException(status_code=400, detail=str(problem)) from None
    if event is None:
        return JSONResponse({"received": 1, "changed": 0, "ignored": 1})
    if not fresh(event, settings.webhook_tolerance):
        # 403: Postmark stops retrying on it, and a retry would only be older.
        raise HTTPException(
            status_code=403,
            detail=f"event time {event.timestamp:%Y-%m-%dT%H:%M:%SZ} is further from now than "
            "postmark webhook_tolerance",
        )
    try:
        changed = await run_in_threadpool(app.provider_events, [event])
    except SQLAlchemyError as error:
        # Postmark posts again on any non-2xx, and event ids make the retry safe.
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()
        log.warning("webhook: event not applied, database error: %s", cause[0] if cause else "")
        raise HTTPException(status_code=503, detail="database unavailable; retry") from None
    return JSONResponse({"received": 1, "changed": changed})


def _from_allowed(request: Request, networks: list[str]) -> bool:
    """The client's address (a trusted proxy's X-Forwarded-For, as uvicorn applies it) is in
    one of the networks."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)
