"""Markers that rendering leaves in an email for sending to fill in per recipient.

The HTML part gets HTML-escaped values (`*_html`), the text part raw ones: SendGrid applies one
set of substitutions to both parts, so each part needs its own markers.
"""

import re
from html import escape

UNSUBSCRIBE_URL = "%%unsubscribe_url%%"
# The reader's preference page (topics, frequency): signed like the unsubscribe link.
PREFERENCES_URL = "%%preferences_url%%"
# With click tracking, the reader's signed redirect prefix: a link is CLICK_BASE + "/" + the
# article's id ("" when the newsletter does not track clicks).
CLICK_BASE = "%%click_base%%"
NAME = "%%name%%"
NAME_HTML = "%%name_html%%"
EMAIL = "%%email%%"
EMAIL_HTML = "%%email_html%%"

ALL = (UNSUBSCRIBE_URL, PREFERENCES_URL, CLICK_BASE, NAME, NAME_HTML, EMAIL, EMAIL_HTML)
_MARKER = re.compile(r"%%[a-z_]+%%")
_PERCENT_PAIR = re.compile(r"%(?=%)")
# Invisible, and no line may break at it: "%\u2060%name%\u2060%" reads as "%%name%%".
WORD_JOINER = "\u2060"


def inert(text: str) -> str:
    """Text that reads the same but holds no marker: every "%%" gets a word joiner between
    its two signs, so neither `fill` nor SendGrid's substitutions can find a marker in it."""
    return _PERCENT_PAIR.sub("%" + WORD_JOINER, text) if "%%" in text else text


class ForTemplates:
    """The markers as templates see them: `placeholders.name` in text, `.name_html` in MJML."""

    unsubscribe_url = UNSUBSCRIBE_URL
    preferences_url = PREFERENCES_URL
    click_base = CLICK_BASE
    name = NAME
    name_html = NAME_HTML
    email = EMAIL
    email_html = EMAIL_HTML


# The one rule for the greeting: a reader without a name is greeted as NAMELESS ("Hello
# reader,"), in every copy: sent, test send, editor's preview and `digest render`.
NAMELESS = "reader"


def values_for(
    name: str,
    email: str,
    unsubscribe_url: str,
    preferences_url: str = "",
    click_base: str = "",
) -> dict[str, str]:
    """The substitutions for one reader; a missing name reads as NAMELESS. A name is made
    inert: a reader called "%%email%%" must not become a marker filled in a second pass."""
    shown = inert(name) or NAMELESS
    return {
        UNSUBSCRIBE_URL: unsubscribe_url,
        PREFERENCES_URL: preferences_url or unsubscribe_url,
        CLICK_BASE: click_base,
        NAME: shown,
        NAME_HTML: escape(shown),
        EMAIL: email,
        EMAIL_HTML: escape(email),
    }


def sample_values(web_base: str) -> dict[str, str]:
    """A made-up reader, for previews of an email before it is sent. Nameless, as a test
    send's reader is, so the preview shows the greeting a test copy has."""
    return values_for("", "reader@example.org", f"{web_base}/u/preview", f"{web_base}/p/preview")


def fill(body: str, values: dict[str, str]) -> str:
    """Replace every marker in one pass."""
    return _MARKER.sub(lambda m: values.get(m.group(), m.group()), body)
