"""Public pages: one-click unsubscribe (RFC 8058), subscribe with double opt-in, the archive of
sent editions and its RSS feed."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from digest.app import App
from digest.config import NewsletterConfig
from digest.edition import Edition, EditionStatus
from digest.errors import DigestError
from digest.render import edition_web_url, placeholders
from digest.store.subscribers import NewSubscriber
from digest.subscribers.model import Status, Subscriber, normalise_address
from digest.web import PAGES
from digest.web.ratelimit import RateLimit

router = APIRouter()


def _app(request: Request) -> App:
    app: App = request.app.state.digest
    return app


def _page(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    return PAGES.TemplateResponse(request, name, context, status_code=status)


# Unsubscribe: GET shows a button (mail scanners open links), POST unsubscribes.


def _subscriber_for(request: Request, token: str) -> Subscriber:
    from digest.subscribers.tokens import InvalidToken

    try:
        return _app(request).unsubscribe(token, apply=False)
    except (InvalidToken, DigestError):
        raise HTTPException(status_code=404, detail="unknown link") from None


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    subscriber = _subscriber_for(request, token)
    return _page(request, "unsubscribe.html", subscriber=subscriber, token=token, done=False)


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str) -> HTMLResponse:
    """One click (RFC 8058: a POST with List-Unsubscribe=One-Click), or the page's button. No
    cookie, no login; doing it twice does no more."""
    _subscriber_for(request, token)
    subscriber = _app(request).unsubscribe(token)
    return _page(request, "unsubscribe.html", subscriber=subscriber, token=token, done=True)


# Subscribe with double opt-in.


def _newsletter_for_list(request: Request, list_name: str) -> NewsletterConfig:
    for newsletter in _app(request).settings.newsletters.values():
        if list_name in newsletter.lists:
            return newsletter
    raise HTTPException(status_code=404, detail="no such list")


def _confirmations(request: Request) -> URLSafeTimedSerializer:
    secret = _app(request).settings.secret_key.get_secret_value()
    if not secret:
        raise HTTPException(status_code=503, detail="subscriptions need secret_key")
    return URLSafeTimedSerializer(secret, salt="digest-confirm-subscription")


def _limits(request: Request) -> RateLimit:
    state = request.app.state
    if not hasattr(state, "subscribe_limit"):
        state.subscribe_limit = RateLimit(_app(request).settings.subscribe_limit_per_hour, 3600)
    limit: RateLimit = state.subscribe_limit
    return limit


@router.get("/subscribe/{list_name}", response_class=HTMLResponse)
def subscribe_form(request: Request, list_name: str) -> HTMLResponse:
    newsletter = _newsletter_for_list(request, list_name)
    return _page(request, "subscribe.html", newsletter=newsletter, list_name=list_name, sent=False)


@router.post("/subscribe/{list_name}", response_class=HTMLResponse)
def subscribe(
    request: Request,
    list_name: str,
    email: Annotated[str, Form(max_length=320)],
    name: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    """Ask for a subscription: a confirmation link goes to the address. The answer is the same
    whether or not the address is known, so the form tells nobody who subscribes."""
    newsletter = _newsletter_for_list(request, list_name)
    try:
        address = normalise_address(email)
    except ValueError as error:
        return _page(
            request,
            "subscribe.html",
            422,
            newsletter=newsletter,
            list_name=list_name,
            sent=False,
            error=str(error),
        )
    client = request.client.host if request.client else "unknown"
    limits = _limits(request)
    if not (limits.allow(f"client:{client}") and limits.allow(f"address:{address.casefold()}")):
        return _page(
            request,
            "subscribe.html",
            429,
            newsletter=newsletter,
            list_name=list_name,
            sent=False,
            error="Too many requests: please try again later.",
        )
    app = _app(request)
    token = _confirmations(request).dumps(
        {"list": list_name, "email": address, "name": name.strip(), "client": client}
    )
    lifetime = app.settings.confirm_link_lifetime
    link = f"{newsletter.web_base}/confirm/{token}"
    body = (
        f"Someone (we hope you) asked to receive {newsletter.title} at this address.\n\n"
        f"To confirm, open this link within {lifetime}:\n\n    {link}\n\n"
        "If it was not you, ignore this message: nothing happens without confirmation."
    )
    from digest.notify import send_notice

    sender = app.sender(newsletter)
    try:
        send_notice(
            sender, newsletter, [address], f"Confirm your subscription to {newsletter.title}", body
        )
    finally:
        sender.close()
    list_id = app.store.subscribers.ensure_list(list_name)
    if app.store.subscribers.find(list_id, address) is None:
        app.store.subscribers.add(
            list_id,
            NewSubscriber(
                email=address, name=name.strip(), status=Status.PENDING, source="web form"
            ),
        )
    return _page(request, "subscribe.html", newsletter=newsletter, list_name=list_name, sent=True)


def _confirmation(request: Request, token: str) -> dict[str, str]:
    lifetime = int(_app(request).settings.confirm_link_lifetime.total_seconds())
    try:
        data = _confirmations(request).loads(token, max_age=lifetime)
    except SignatureExpired:
        raise HTTPException(status_code=410, detail="this confirmation link has expired") from None
    except BadData:  # forged, altered, truncated, not base64, not JSON: all "unknown"
        raise HTTPException(status_code=404, detail="unknown link") from None
    if not isinstance(data, dict) or not {"list", "email"} <= data.keys():
        raise HTTPException(status_code=404, detail="unknown link")
    return {key: str(value) for key, value in data.items()}


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str) -> HTMLResponse:
    data = _confirmation(request, token)
    newsletter = _newsletter_for_list(request, data["list"])
    return _page(
        request, "confirm.html", newsletter=newsletter, email=data["email"], token=token, done=False
    )


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str) -> HTMLResponse:
    """Only here does an address become subscribed; the consent is recorded."""
    data = _confirmation(request, token)
    newsletter = _newsletter_for_list(request, data["list"])
    app = _app(request)
    list_id = app.store.subscribers.ensure_list(data["list"])
    now = datetime.now(UTC)
    client = request.client.host if request.client else "?"
    origin = f"web form, double opt-in confirmed from {client}"
    found = app.store.subscribers.find(list_id, data["email"])
    if found is None:
        app.store.subscribers.add(
            list_id,
            NewSubscriber(
                email=data["email"],
                name=data.get("name", ""),
                status=Status.SUBSCRIBED,
                source="web form",
                consent_at=now,
                consent_origin=origin,
            ),
        )
    elif found.status != Status.SUBSCRIBED:
        # An explicit, confirmed request: the one way back for an address that had left.
        app.store.subscribers.confirm(found.id, now, origin)
    return _page(
        request, "confirm.html", newsletter=newsletter, email=data["email"], token=token, done=True
    )


# The archive of sent editions.


def _newsletter(request: Request, name: str) -> NewsletterConfig:
    newsletter = _app(request).settings.newsletters.get(name)
    if newsletter is None:
        raise HTTPException(status_code=404, detail="no such newsletter")
    return newsletter


def _sent(request: Request, name: str) -> list[Edition]:
    editions = _app(request).store.editions_with_status(name, [EditionStatus.SENT])
    return sorted(editions, key=lambda e: -e.number)


@router.get("/archive/{name}", response_class=HTMLResponse)
def archive(request: Request, name: str) -> HTMLResponse:
    newsletter = _newsletter(request, name)
    return _page(request, "archive.html", newsletter=newsletter, editions=_sent(request, name))


@router.get("/archive/{name}/feed.xml")
def archive_feed(request: Request, name: str) -> Response:
    newsletter = _newsletter(request, name)
    items = []
    for edition in _sent(request, name)[:50]:
        link = edition_web_url(newsletter, edition)
        published = datetime(edition.date.year, edition.date.month, edition.date.day, tzinfo=UTC)
        items.append(
            f"<item><title>{escape(edition.subject)}</title><link>{escape(link)}</link>"
            f"<guid>{escape(link)}</guid><pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{escape(edition.preheader)}</description></item>"
        )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(newsletter.title)}</title>"
        f"<link>{escape(newsletter.web_base)}/archive/{name}</link>"
        f"<description>{escape(newsletter.theme)}</description>{''.join(items)}</channel></rss>"
    )
    return Response(xml, media_type="application/rss+xml")


@router.get("/archive/{name}/{number}", response_class=HTMLResponse)
def archived_edition(request: Request, name: str, number: int) -> HTMLResponse:
    newsletter = _newsletter(request, name)
    for edition in _sent(request, name):
        if edition.number == number:
            email = _app(request).render(edition)
            values = placeholders.values_for(
                "",
                "",
                f"{newsletter.web_base}/subscribe/{newsletter.lists[0]}"
                if newsletter.lists
                else newsletter.web_base,
            )
            values[placeholders.EMAIL_HTML] = "you"
            return HTMLResponse(placeholders.fill(email.html, values))
    raise HTTPException(status_code=404, detail="no such edition")
