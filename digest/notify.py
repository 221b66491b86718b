"""Messages to a newsletter's editors (a draft to review, an edition not sent), through the
newsletter's own sender."""

from __future__ import annotations

import html
import logging
import re

from digest.config import NewsletterConfig
from digest.edition import Edition
from digest.render import RenderedEmail
from digest.send import Batch, Recipient, Sender
from digest.send_guard import SendPause

log = logging.getLogger("digest.notify")


def outline(edition: Edition) -> str:
    lines = [f"Subject: {edition.subject}", f"Preheader: {edition.preheader}", ""]
    for section in edition.sections:
        lines.append(section.title)
        lines.extend(f"  - {item.article.title}" for item in section.items)
    return "\n".join(lines)


def pause_notice(edition: Edition, pause: SendPause, report_url: str) -> tuple[str, str]:
    """The subject and body that tell the editors a send was paused, why, and how to go on."""
    what = "complaints" if pause.kind == "complaints" else "hard bounces"
    subject = f"No. {edition.number} paused: {what} over the threshold"
    body = (
        f"Sending No. {edition.number} ({edition.subject}) was paused at "
        f"{pause.paused_at:%Y-%m-%d %H:%M} UTC:\n\n    {pause.reason}\n\n"
        "The readers not sent it yet wait; nobody gets it twice. Look at the report first:\n\n"
        f"    {report_url}\n\n"
        'To go on, press "Resume sending" there, or run\n\n'
        f"    digest send {pause.edition_id} --resume\n\n"
        "After a resume the guard judges the complaints and bounces that come from then on."
    )
    return subject, body


def notify_editors(
    sender: Sender, newsletter: NewsletterConfig, edition_id: int, subject: str, body: str
) -> int:
    """Send `body` to every editor; returns how many got it. Failures are logged, not raised:
    a notice must not stop the run that sends the newsletter."""
    return send_notice(
        sender, newsletter, [str(a) for a in newsletter.editors], subject, body, edition_id
    )


_LINK = re.compile(r"https?://[^\s<>\"']+")


def send_notice(
    sender: Sender,
    newsletter: NewsletterConfig,
    addresses: list[str],
    subject: str,
    body: str,
    edition_id: int = 0,
) -> int:
    """A plain message from the newsletter (no unsubscribe link: not a mailing)."""
    if not addresses:
        return 0
    # The newsletter is named once: in front, unless the subject already says it.
    named = subject if newsletter.title in subject else f"[{newsletter.title}] {subject}"
    # Links are links in the HTML part too (the body is escaped first, so an address in it
    # stays text and a link's "&" reads as "&amp;", which HTML takes back).
    linked = _LINK.sub(lambda m: f'<a href="{m[0]}">{m[0]}</a>', html.escape(body))
    email = RenderedEmail(
        subject=named,
        preheader="",
        text=body + "\n",
        html=f'<pre style="font-family: inherit; white-space: pre-wrap">{linked}</pre>',
        mjml="",
    )
    batch = Batch(
        edition_id=edition_id,
        newsletter=newsletter,
        email=email,
        recipients=[
            Recipient(number, 0, address, "", newsletter.web_base)
            for number, address in enumerate(addresses, start=1)
        ],
        purpose="notice",
    )
    try:
        result = sender.send(batch, sender.prepare(batch))
    except Exception as error:
        log.warning("could not send %r for %s: %s", subject, newsletter.name, error)
        return 0
    return len(batch.recipients) - len(result.failures)
