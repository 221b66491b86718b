"""POST /webhooks/sendgrid: SendGrid's Event Webhook. The signature is checked on the raw body;
bounces, drops, spam reports and unsubscribes stop all further mail to the address."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from digest.app import App
from digest.subscribers.model import SUPPRESSED, Status
from digest.web.sendgrid_events import (
    SIGNATURE_HEADER,
    STATUS_FOR_EVENT,
    TIMESTAMP_HEADER,
    load_public_key,
    verify,
)

router = APIRouter()
log = logging.getLogger("digest.webhooks")
# A status never gives way to a milder one (a complaint stays a complaint).
_SEVERITY = {Status.UNSUBSCRIBED: 1, Status.BOUNCED: 2, Status.COMPLAINED: 3}


@router.post("/webhooks/sendgrid")
async def sendgrid_events(request: Request) -> JSONResponse:
    app: App = request.app.state.digest
    key_text = app.settings.sendgrid_webhook_public_key
    if not key_text:
        raise HTTPException(status_code=503, detail="sendgrid_webhook_public_key is not set")
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not (
        signature and timestamp and verify(load_public_key(key_text), signature, timestamp, body)
    ):
        raise HTTPException(status_code=403, detail="bad signature")
    try:
        events = json.loads(body)
    except ValueError:
        raise HTTPException(status_code=400, detail="not JSON") from None
    if not isinstance(events, list):
        raise HTTPException(status_code=400, detail="expected a list of events")
    changed = sum(_apply(app, event) for event in events if isinstance(event, dict))
    return JSONResponse({"received": len(events), "changed": changed})


def _apply(app: App, event: dict[str, Any]) -> int:
    """Apply one event; returns how many subscriptions changed (replays change none)."""
    status_name = STATUS_FOR_EVENT.get(str(event.get("event", "")))
    email = str(event.get("email", ""))
    if status_name is None or not email:
        return 0
    status = Status(status_name)
    repository = app.store.subscribers
    targets = []
    subscriber_id = str(event.get("subscriber_id", ""))
    if subscriber_id.isdigit():
        try:
            found = repository.get(int(subscriber_id))
            if found.email.casefold() == email.casefold():
                targets.append(found)
        except Exception:
            pass
    if not targets or status != Status.UNSUBSCRIBED:
        # A bad address or a complaint concerns every list the address is on.
        for name in repository.list_names():
            other = repository.find(repository.list_id(name), email)
            if other is not None and other not in targets:
                targets.append(other)
    changed = 0
    for subscriber in targets:
        current = _SEVERITY.get(subscriber.status, 0) if subscriber.status in SUPPRESSED else 0
        if _SEVERITY[status] > current:
            repository.set_status(subscriber.id, status)
            changed += 1
            log.info(
                "%s: %s on %s (SendGrid %s)",
                email,
                status.value,
                subscriber.list,
                event.get("event"),
            )
    return changed
