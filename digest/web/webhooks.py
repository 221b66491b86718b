"""POST /webhooks/sendgrid: SendGrid's Event Webhook. Nothing is read before the headers say the
post is signed and fresh; the body is read up to its cap (sendgrid_webhook_max_bytes, enforced
by limits.BodyLimit as it streams in), its signature checked, and its events handed to
digest.app, which applies each once."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from digest.app import App
from digest.web.sendgrid_events import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    fresh,
    load_public_key,
    parse_events,
    verify,
)

router = APIRouter()
log = logging.getLogger("digest.webhooks")


@router.post("/webhooks/sendgrid")
async def sendgrid_events(request: Request) -> JSONResponse:
    app: App = request.app.state.digest
    settings = app.settings
    try:
        key = load_public_key(settings.sendgrid_webhook_public_key)
    except ValueError:
        raise HTTPException(
            status_code=503, detail="sendgrid_webhook_public_key is not set to a valid key"
        ) from None
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not (signature and timestamp):
        raise HTTPException(status_code=403, detail="not signed")
    if not fresh(timestamp, settings.sendgrid_webhook_tolerance):
        raise HTTPException(status_code=403, detail="signed timestamp too old or in the future")
    body = await request.body()  # at most sendgrid_webhook_max_bytes (limits.BodyLimit)
    if not verify(key, signature, timestamp, body):
        raise HTTPException(status_code=403, detail="bad signature")
    try:
        events = parse_events(body)
    except ValueError as problem:
        raise HTTPException(status_code=400, detail=str(problem)) from None
    try:
        changed = await run_in_threadpool(app.provider_events, events)
    except SQLAlchemyError as error:
        # SendGrid posts again on any non-2xx, and event ids make the retry safe: one log
        # line and a 503, never a traceback.
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()
        log.warning("webhook: events not applied, database error: %s", cause[0] if cause else "")
        raise HTTPException(status_code=503, detail="database unavailable; retry") from None
    return JSONResponse({"received": len(events), "changed": changed})
