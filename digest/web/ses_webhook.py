"""POST /webhooks/ses: SES's events through an SNS topic's HTTPS subscription.

Checked in the order that costs a forger most and us least: the body's size (limits.BodyLimit,
`[ses] webhook_max_bytes`), its shape, the TopicArn against `[ses] sns_topic_arns` and the
signed Timestamp's age, before anything is fetched; then the signature, with the certificate
from an SNS host only. A SubscriptionConfirmation from an allowed topic is confirmed by a GET
of its SubscribeURL (on the SNS hosts too); a Notification's SES event goes to digest.app, which
applies each MessageId once.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from digest.app import App
from digest.config import SesSettings
from digest.web import sns
from digest.web.ses_events import events_of

PATH = "/webhooks/ses"
router = APIRouter()
log = logging.getLogger("digest.webhooks")


def _certificates(request: Request, settings: SesSettings) -> sns.Certificates:
    """One certificate cache per web app (SNS signs with few certificates, rotated rarely)."""
    state = request.app.state
    cached: sns.Certificates | None = getattr(state, "sns_certificates", None)
    if cached is None:
        cached = sns.Certificates(settings.sns_hosts, settings.sns_ca_file)
        state.sns_certificates = cached
    return cached


def _refuse(status: int, detail: str) -> HTTPException:
    log.warning("webhook ses: refused (%s): %s", status, detail)
    return HTTPException(status_code=status, detail=detail)


@router.post(PATH)
async def ses_events(request: Request) -> JSONResponse:
    app: App = request.app.state.digest
    settings = app.settings.ses
    if not settings.sns_topic_arns:
        raise HTTPException(status_code=503, detail="[ses] sns_topic_arns is not set")
    body = await request.body()  # at most webhook_max_bytes (limits.BodyLimit)
    try:
        message = sns.parse(body)
    except sns.SnsRefused as problem:
        raise _refuse(400, str(problem)) from None
    if message.topic_arn not in settings.sns_topic_arns:
        raise _refuse(403, f"topic not allowed: {message.topic_arn[:200]}")
    if not sns.fresh(message, settings.webhook_tolerance):
        raise _refuse(403, "signed Timestamp too old or in the future")
    certificates = _certificates(request, settings)
    try:
        await run_in_threadpool(sns.verify, message, certificates)
    except sns.SnsRefused as problem:
        raise _refuse(403, str(problem)) from None
    if message.type == "SubscriptionConfirmation":
        return await _confirm(message, certificates)
    if message.type == "UnsubscribeConfirmation":
        log.warning("webhook ses: SNS unsubscribed this endpoint from %s", message.topic_arn)
        return JSONResponse({"received": 0})
    try:
        notification = sns.loads_object(message.message)
    except sns.SnsRefused:
        # SES's own test message when the destination is set up is plain text.
        log.info("webhook ses: a notification with no SES event: %s", message.message[:100])
        return JSONResponse({"received": 0})
    events = events_of(notification, message.message_id)
    try:
        changed = await run_in_threadpool(app.provider_events, events)
    except SQLAlchemyError as error:
        # SNS retries on any non-2xx, and MessageIds make the retry safe.
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()
        log.warning("webhook ses: events not applied, database error: %s", cause[:1])
        raise HTTPException(status_code=503, detail="database unavailable; retry") from None
    return JSONResponse({"received": len(events), "changed": changed})


async def _confirm(message: sns.SnsMessage, certificates: sns.Certificates) -> JSONResponse:
    url = message.subscribe_url
    query = parse_qs(urlsplit(url).query) if url else {}
    if not sns.allowed_url(url, certificates.hosts) or query.get("Action") != [
        "ConfirmSubscription"
    ]:
        raise _refuse(403, "SubscribeURL is not an SNS confirmation URL")
    if query.get("TopicArn") != [message.topic_arn]:
        raise _refuse(403, "SubscribeURL names another topic")
    try:
        status, _ = await run_in_threadpool(certificates.get, url)
    except sns.SnsRefused as problem:
        raise _refuse(502, str(problem)) from None
    if status != 200:
        raise _refuse(502, f"SNS answered {status} to the subscription confirmation")
    log.info("webhook ses: subscription to %s confirmed", message.topic_arn)
    return JSONResponse({"confirmed": message.topic_arn})
