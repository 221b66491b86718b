"""POST /webhooks/mailgun: Mailgun's webhooks, one event a post. The body is read up to its cap
(mailgun.webhook_max_bytes, enforced by limits.BodyLimit as it streams in); its signature block
is checked (HMAC-SHA256, constant time), its timestamp must be fresh and its token unused, and
only then is its event handed to digest.app, which applies each event once by its id.

Mailgun retries any answer but 200 and 406 for hours: a replayed token gets 406 (Not
Acceptable: Mailgun's "rejected, do not retry"), as the post it repeats was applied already."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from digest.app import App
from digest.provider_events import ReplayedPost
from digest.web.mailgun_events import Unsigned, fresh, parse_body, parse_event, verify

PATH = "/webhooks/mailgun"
router = APIRouter()
log = logging.getLogger("digest.webhooks")


@router.post(PATH)
async def mailgun_events(request: Request) -> JSONResponse:
    app: App = request.app.state.digest
    settings = app.settings.mailgun
    key = settings.webhook_signing_key.get_secret_value()
    if not key:
        raise HTTPException(status_code=503, detail="mailgun webhook_signing_key is not set")
    body = await request.body()  # at most webhook_max_bytes (limits.BodyLimit)
    try:
        signed, data = parse_body(body)
    except Unsigned as problem:
        raise HTTPException(status_code=403, detail=str(problem)) from None
    except ValueError as problem:
        raise HTTPException(status_code=400, detail=str(problem)) from None
    if not verify(key, signed):
        raise HTTPException(status_code=403, detail="bad signature")
    if not fresh(signed.timestamp, settings.webhook_tolerance):
        raise HTTPException(status_code=403, detail="signed timestamp too old or in the future")
    try:
        event = parse_event(data)
    except ValueError as problem:
        raise HTTPException(status_code=400, detail=str(problem)) from None
    events = [event] if event is not None else []
    try:
        changed = await run_in_threadpool(app.signed_post_events, signed.token, events)
    except ReplayedPost as problem:
        raise HTTPException(status_code=406, detail=str(problem)) from None
    except SQLAlchemyError as error:
        # Mailgun posts again on a 503, and the claim on its token was undone: one log line,
        # never a traceback.
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()
        log.warning("webhook: event not applied, database error: %s", cause[0] if cause else "")
        raise HTTPException(status_code=503, detail="database unavailable; retry") from None
    return JSONResponse({"received": len(events), "changed": changed})
