"""Rendering a public page in its newsletter's look and language, and the error such a page
raises: it names the newsletter (when known) and a catalogue key, never an English sentence,
so the error page speaks the reader's language."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse

from digest.config import NewsletterConfig
from digest.web import PAGES
from digest.web.look import look_for
from digest.web.messages import messages

# Readers whose own link failed are subscribed (or want out): no "Subscribe" button for them.
NO_SUBSCRIBE = {"bad_unsubscribe", "bad_preferences"}


class PublicError(HTTPException):
    """An error on a public page: `key` picks the heading ("KEY_heading") and the text ("KEY")
    of messages; `values` fill the text in."""

    def __init__(
        self,
        status: int,
        key: str,
        newsletter: NewsletterConfig | None = None,
        **values: object,
    ) -> None:
        super().__init__(status_code=status, detail=key)
        self.key = key
        self.newsletter = newsletter
        self.values = values


def subscribe_url(newsletter: NewsletterConfig | None) -> str | None:
    """Where a reader subscribes: the form of the newsletter's first list, if it has one."""
    if newsletter is None or not newsletter.lists:
        return None
    return f"/subscribe/{newsletter.lists[0]}"


def public_page(
    request: Request,
    template: str,
    newsletter: NewsletterConfig | None,
    status_code: int = 200,
    /,
    **context: object,
) -> HTMLResponse:
    """A template of pages/ framed by public_base.html, with `t` (the messages), `look` and
    `subscribe_url` set for the newsletter."""
    language = newsletter.language if newsletter else "en"
    values: dict[str, object] = {
        "newsletter": newsletter,
        "t": messages(language),
        "look": look_for(newsletter.accent_color if newsletter else None),
        "subscribe_url": subscribe_url(newsletter),
    }
    values.update(context)
    return PAGES.TemplateResponse(request, template, values, status_code=status_code)


def error_page(
    request: Request,
    status: int,
    key: str,
    newsletter: NewsletterConfig | None,
    home_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    values: Mapping[str, object] | None = None,
) -> HTMLResponse:
    """The error page: status code, heading and text from the catalogue, links onward."""
    t = messages(newsletter.language if newsletter else "en")
    response = public_page(
        request,
        "error.html",
        newsletter,
        status,
        status=status,
        heading=t(f"{key}_heading"),
        text=t(key, **(values or {})),
        home_url=home_url,
        offer_subscribe=key not in NO_SUBSCRIBE,
    )
    if headers:
        response.headers.update(headers)
    return response
