"""Public pages: one-click unsubscribe (RFC 8058), subscribe with double opt-in, the archive of
sent editions and its RSS feed."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from digest.app import App
from digest.config import NewsletterConfig
from digest.edition import Edition, EditionStatus
from digest.errors import DigestError
from digest.preferences import ChoiceError
from digest.render import edition_web_url, render_web_copy
from digest.store.subscribers import NewSubscriber
from digest.subscribers.model import Status, Subscriber, normalise_address
from digest.web import choice_fields
from digest.web.choice_fields import ChoiceFields
from digest.web.messages import messages
from digest.web.public_pages import PublicError, public_page
from digest.web.ratelimit import RateLimit

router = APIRouter()

EMAIL_MAX = 320
NAME_MAX = 200


def _app(request: Request) -> App:
    app: App = request.app.state.digest
    return app


def owner_of(request: Request, list_name: str) -> NewsletterConfig | None:
    for newsletter in _app(request).settings.newsletters.values():
        if list_name in newsletter.lists:
            return newsletter
    return None


# Unsubscribe: GET shows a button (mail scanners open links), POST unsubscribes.


def newsletter_of_token(request: Request, token: str) -> NewsletterConfig | None:
    """The newsletter a broken link was most likely for, for its error page: the list the
    token names, if that list exists (the list is only shown as its newsletter's look)."""
    from digest.subscribers.tokens import InvalidToken

    app = _app(request)
    try:
        list_id = app.tokens().read(token).list_id
        names = {
            app.store.subscribers.list_id(name): name for name in app.store.subscribers.list_names()
        }
    except (InvalidToken, DigestError):
        return None
    return owner_of(request, names[list_id]) if list_id in names else None


def _subscriber_for(request: Request, token: str) -> tuple[Subscriber, NewsletterConfig | None]:
    from digest.subscribers.tokens import InvalidToken

    try:
        subscriber = _app(request).unsubscribe(token, apply=False)
    except (InvalidToken, DigestError):
        raise PublicError(404, "bad_unsubscribe", newsletter_of_token(request, token)) from None
    return subscriber, owner_of(request, subscriber.list)


def _unsubscribe_page(
    request: Request,
    subscriber: Subscriber,
    newsletter: NewsletterConfig | None,
    token: str,
    done: bool,
) -> HTMLResponse:
    # A list no newsletter sends any more: its name is all the reader can be told.
    newsletter_title = newsletter.title if newsletter else subscriber.list
    return public_page(
        request,
        "unsubscribe.html",
        newsletter,
        subscriber=subscriber,
        token=token,
        done=done,
        title=newsletter_title,
    )


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    subscriber, newsletter = _subscriber_for(request, token)
    return _unsubscribe_page(request, subscriber, newsletter, token, done=False)


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str) -> Response:
    """One click (RFC 8058: a POST with List-Unsubscribe=One-Click), or the page's button. No
    cookie, no login; doing it twice does no more. `digest doctor`'s probe token (signed,
    naming no reader) gets a plain answer and changes nothing."""
    if _app(request).is_unsubscribe_probe(token):
        from digest.doctor.unsubscribe import PROBE_ANSWER, PROBE_HEADER

        return Response(PROBE_ANSWER, media_type="text/plain", headers={PROBE_HEADER: "ok"})
    _, newsletter = _subscriber_for(request, token)
    subscriber = _app(request).unsubscribe(token)
    return _unsubscribe_page(request, subscriber, newsletter, token, done=True)


# Subscribe with double opt-in.


def _newsletter_for_list(request: Request, list_name: str) -> NewsletterConfig:
    newsletter = owner_of(request, list_name)
    if newsletter is None:
        raise PublicError(404, "no_list")
    return newsletter


def _confirmations(request: Request, newsletter: NewsletterConfig | None) -> URLSafeTimedSerializer:
    secret = _app(request).settings.secret_key.get_secret_value()
    if not secret:
        raise PublicError(503, "unavailable", newsletter)
    return URLSafeTimedSerializer(secret, salt="digest-confirm-subscription")


def _limits(request: Request) -> RateLimit:
    state = request.app.state
    if not hasattr(state, "subscribe_limit"):
        state.subscribe_limit = RateLimit(_app(request).settings.subscribe_limit_per_hour, 3600)
    limit: RateLimit = state.subscribe_limit
    return limit


def _form(
    request: Request,
    newsletter: NewsletterConfig,
    list_name: str,
    status: int = 200,
    sent: bool = False,
    error: str = "",
    error_field: str = "",
    email: str = "",
    name: str = "",
    fields: ChoiceFields | None = None,
) -> HTMLResponse:
    if fields is None:  # as a new reader starts: every topic, the main frequency
        fields = choice_fields.for_reader(_app(request).list_choices(list_name), [], "")
    return public_page(
        request,
        "subscribe.html",
        newsletter,
        status,
        list_name=list_name,
        sent=sent,
        error=error,
        error_field=error_field,
        email=email,
        name=name,
        fields=fields,
    )


@router.get("/subscribe/{list_name}", response_class=HTMLResponse)
def subscribe_form(request: Request, list_name: str) -> HTMLResponse:
    return _form(request, _newsletter_for_list(request, list_name), list_name)


@router.post("/subscribe/{list_name}", response_class=HTMLResponse)
def subscribe(
    request: Request,
    list_name: str,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    topic: Annotated[list[str] | None, Form()] = None,
    frequency: Annotated[str, Form(max_length=100)] = "",
    choosing: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse:
    """Ask for a subscription: a confirmation link goes to the address. The answer is the same
    whether or not the address is known, so the form tells nobody who subscribes. Bad input
    shows the form again, with what was typed and a line naming the field. The topics and
    frequency chosen (where the newsletter offers them; a post without the form's fields
    gets everything at the main frequency) wait in the pending request for confirmation."""
    newsletter = _newsletter_for_list(request, list_name)
    t = messages(newsletter.language)
    app = _app(request)
    choices = app.list_choices(list_name)
    topics = topic or []
    # Shown again as sent with an error; a post without them shows the defaults.
    fields = choice_fields.as_sent(choices, topics, frequency) if choosing else None
    email, name = email.strip(), name.strip()
    problem, field = "", "email"
    chosen = ("", "")
    if not email:
        problem = t("email_missing")
    elif len(email) > EMAIL_MAX:
        problem = t("email_too_long", limit=EMAIL_MAX)
    elif len(name) > NAME_MAX:
        problem, field = t("name_too_long", limit=NAME_MAX), "name"
    elif choices.offered and choosing:
        try:
            chosen = choices.chosen(topics, frequency)
        except ChoiceError as error:
            problem, field = choice_fields.problem(t, error), error.field
    if problem:
        return _form(
            request,
            newsletter,
            list_name,
            422,
            error=problem,
            error_field=field,
            email=email[:EMAIL_MAX],
            name=name[:NAME_MAX],
            fields=fields,
        )
    try:
        address = normalise_address(email)
    except ValueError:
        return _form(
            request,
            newsletter,
            list_name,
            422,
            error=t("email_invalid", value=email),
            error_field="email",
            email=email,
            name=name,
            fields=fields,
        )
    client = request.client.host if request.client else "unknown"
    limits = _limits(request)
    if not (limits.allow(f"client:{client}") and limits.allow(f"address:{address.casefold()}")):
        return _form(
            request,
            newsletter,
            list_name,
            429,
            error=t("rate_limited"),
            email=email,
            name=name,
            fields=fields,
        )
    serializer = _confirmations(request, newsletter)
    # The request is kept as a pending row, and the link names only that row: a link is
    # readable by whoever sees it (logs, forwarded mail), so it carries no address or name.
    list_id = app.store.subscribers.ensure_list(list_name)
    pending = app.store.subscribers.find(list_id, address)
    chosen_topics, chosen_frequency = chosen
    if pending is None:
        pending, _ = app.store.subscribers.add(
            list_id,
            NewSubscriber(
                email=address,
                name=name,
                status=Status.PENDING,
                source="web form",
                topics=chosen_topics,
                frequency=chosen_frequency,
            ),
        )
    elif pending.status != Status.SUBSCRIBED:
        # Not yet confirmed, or left: the confirmation sets them up as asked this time. A
        # subscribed reader's choice changes only from their own preference link.
        app.store.subscribers.set_preferences(pending.id, chosen_topics, chosen_frequency)
    token = serializer.dumps(
        {"list": list_name, "id": pending.id, "for": _address_check(serializer, address)}
    )
    link = f"{newsletter.web_base}/confirm/{token}"
    lifetime = t.duration(app.settings.confirm_link_lifetime)
    body = t("confirm_body", title=newsletter.title, lifetime=lifetime, link=link)
    from digest.notify import send_notice

    sender = app.sender(newsletter)
    try:
        send_notice(
            sender, newsletter, [address], t("confirm_subject", title=newsletter.title), body
        )
    finally:
        sender.close()
    return _form(request, newsletter, list_name, sent=True)


def _address_check(serializer: URLSafeTimedSerializer, address: str) -> str:
    """A keyed digest of the address: the link fits only the row it was sent for (a row
    erased and its id used again does not match), and says nothing of the address."""
    signer = serializer.make_signer("digest-confirm-address")
    return signer.get_signature(address.casefold()).decode("ascii")[:16]


def _confirmation(request: Request, token: str) -> tuple[Subscriber, NewsletterConfig]:
    """The pending request a confirmation link names, and its newsletter. An expired link was
    still ours (its signature holds), so its error page can name the newsletter."""
    settings = _app(request).settings
    lifetime = settings.confirm_link_lifetime
    fallback = next(iter(settings.newsletters.values())) if len(settings.newsletters) == 1 else None
    serializer = _confirmations(request, fallback)
    try:
        data = serializer.loads(token, max_age=int(lifetime.total_seconds()))
    except SignatureExpired as expired:
        owner = fallback
        try:
            old = serializer.load_payload(expired.payload) if expired.payload else None
            if isinstance(old, dict) and isinstance(old.get("list"), str):
                owner = owner_of(request, old["list"]) or fallback
        except BadData:
            pass
        t = messages(owner.language if owner else "en")
        raise PublicError(410, "expired_confirm", owner, lifetime=t.duration(lifetime)) from None
    except BadData:  # forged, altered, truncated, not base64, not JSON: all "unknown"
        raise PublicError(404, "bad_confirm", fallback) from None
    if not isinstance(data, dict) or not {"list", "id", "for"} <= data.keys():
        raise PublicError(404, "bad_confirm", fallback)
    owner = owner_of(request, str(data["list"]))
    if owner is None:
        raise PublicError(404, "no_list", fallback)
    try:
        person = _app(request).store.subscribers.get(int(data["id"]))
    except (DigestError, TypeError, ValueError):  # erased since, or not a number
        raise PublicError(404, "bad_confirm", owner) from None
    if person.list != data["list"] or data["for"] != _address_check(serializer, person.email):
        raise PublicError(404, "bad_confirm", owner)
    return person, owner


def _confirm_page(
    request: Request, token: str, person: Subscriber, newsletter: NewsletterConfig, done: bool
) -> HTMLResponse:
    """The request to confirm (or confirmed), with the topics and frequency it asks for."""
    t = messages(newsletter.language)
    choices = _app(request).list_choices(person.list)
    return public_page(
        request,
        "confirm.html",
        newsletter,
        email=person.email,
        token=token,
        done=done,
        offered=choices.offered,
        choice=choice_fields.summary(t, choices, person.topics, person.frequency),
    )


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str) -> HTMLResponse:
    person, newsletter = _confirmation(request, token)
    # A link used before: the reader is subscribed, and is told so rather than asked again.
    return _confirm_page(request, token, person, newsletter, person.status == Status.SUBSCRIBED)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str) -> HTMLResponse:
    """Only here does an address become subscribed; the consent is recorded."""
    person, newsletter = _confirmation(request, token)
    now = datetime.now(UTC)
    client = request.client.host if request.client else "?"
    origin = f"web form, double opt-in confirmed from {client}"
    if person.status != Status.SUBSCRIBED:
        # An explicit, confirmed request: the one way back for an address that had left.
        person = _app(request).store.subscribers.confirm(person.id, now, origin)
    return _confirm_page(request, token, person, newsletter, done=True)


# The archive of sent editions.


def _newsletter(request: Request, name: str) -> NewsletterConfig:
    newsletter = _app(request).settings.newsletters.get(name)
    if newsletter is None:
        raise PublicError(404, "not_found")
    return newsletter


def _sent(request: Request, name: str) -> list[Edition]:
    editions = _app(request).store.editions_with_status(name, [EditionStatus.SENT])
    return sorted(editions, key=lambda e: -e.number)


@router.get("/archive/{name}", response_class=HTMLResponse)
def archive(request: Request, name: str) -> HTMLResponse:
    newsletter = _newsletter(request, name)
    return public_page(request, "archive.html", newsletter, editions=_sent(request, name))


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
            settings = _app(request).settings
            return HTMLResponse(render_web_copy(edition, newsletter, settings.templates_dir))
    raise PublicError(404, "no_edition", newsletter)
