"""The reader's preference page, `/p/TOKEN`: the topics they follow and how often they get the
newsletter. Opened from every email with the reader's unsubscribe token, as `/u/TOKEN` is:
GET only shows (mail scanners open links), POST saves; no cookie, no login, the token is the
secret. So the answer is never cached or sent on as a referrer, and a forged, altered or
malformed token gets the same 404 page as a broken unsubscribe link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from digest.app import App
from digest.config import NewsletterConfig
from digest.errors import DigestError
from digest.preferences import ChoiceError, Choices
from digest.subscribers.model import Status, Subscriber
from digest.web import choice_fields
from digest.web.choice_fields import ChoiceFields
from digest.web.messages import messages
from digest.web.public import newsletter_of_token, owner_of
from digest.web.public_pages import PublicError, public_page

router = APIRouter()

# The page names a reader's address and its URL is their key: kept out of caches, history
# sync aside, and out of the Referer of any link followed from it.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _app(request: Request) -> App:
    app: App = request.app.state.digest
    return app


def _reader(request: Request, token: str) -> tuple[Subscriber, Choices, NewsletterConfig | None]:
    from digest.subscribers.tokens import InvalidToken

    try:
        subscriber, choices = _app(request).reader_preferences(token)
    except (InvalidToken, DigestError):
        raise PublicError(404, "bad_preferences", newsletter_of_token(request, token)) from None
    return subscriber, choices, owner_of(request, subscriber.list)


def _page(
    request: Request,
    token: str,
    subscriber: Subscriber,
    newsletter: NewsletterConfig | None,
    fields: ChoiceFields,
    status: int = 200,
    *,
    saved: list[str] | None = None,
    error: ChoiceError | None = None,
) -> HTMLResponse:
    t = messages(newsletter.language if newsletter else "en")
    response = public_page(
        request,
        "preferences.html",
        newsletter,
        status,
        # A list no newsletter sends any more: its name is all the reader can be told.
        title=newsletter.title if newsletter else subscriber.list,
        subscriber=subscriber,
        subscribed=subscriber.status == Status.SUBSCRIBED,
        token=token,
        fields=fields,
        saved=saved or [],
        error=choice_fields.problem(t, error) if error else "",
        error_field=error.field if error else "",
        error_value=error.value if error else "",
    )
    response.headers.update(PRIVATE)
    return response


@router.get("/p/{token}", response_class=HTMLResponse)
def preferences_page(request: Request, token: str) -> HTMLResponse:
    subscriber, choices, newsletter = _reader(request, token)
    fields = choice_fields.for_reader(choices, subscriber.topics, subscriber.frequency)
    return _page(request, token, subscriber, newsletter, fields)


@router.post("/p/{token}", response_class=HTMLResponse)
def save_preferences(
    request: Request,
    token: str,
    topic: Annotated[list[str] | None, Form()] = None,
    frequency: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    """Save the boxes ticked and the frequency chosen, then show what was saved. None ticked
    is refused (that is unsubscribing, linked from the message); a reader who left is told
    so and stays unsubscribed."""
    subscriber, choices, newsletter = _reader(request, token)
    topics = topic or []
    # A post without the radio buttons (not our form) keeps the frequency the reader has.
    frequency = frequency or choices.selected_frequency(subscriber.frequency)
    if subscriber.status != Status.SUBSCRIBED:
        fields = choice_fields.for_reader(choices, subscriber.topics, subscriber.frequency)
        return _page(request, token, subscriber, newsletter, fields, 409)
    if not choices.offered:
        return _page(request, token, subscriber, newsletter, choice_fields.as_sent(choices, [], ""))
    try:
        saved, choices = _app(request).set_preferences(token, topics, frequency)
    except ChoiceError as error:
        fields = choice_fields.as_sent(choices, topics, frequency)
        return _page(request, token, subscriber, newsletter, fields, 422, error=error)
    t = messages(newsletter.language if newsletter else "en")
    return _page(
        request,
        token,
        saved,
        newsletter,
        choice_fields.for_reader(choices, saved.topics, saved.frequency),
        saved=choice_fields.summary(t, choices, saved.topics, saved.frequency),
    )
