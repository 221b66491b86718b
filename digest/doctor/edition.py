"""The rendered edition, as the doctor reports it: the lint's findings (size against Gmail's
clip, images' https and alt text, links' https, digest.render.lint), and, which the lint
leaves to the doctor, links and images to local addresses no reader can open."""

from __future__ import annotations

from urllib.parse import urlsplit

from lxml import html as lxml_html

from digest.doctor.findings import Finding, error, ok, warning
from digest.doctor.unsubscribe import is_local
from digest.render import RenderedEmail
from digest.render.lint import GMAIL_CLIP_BYTES


def check_edition(label: str, email: RenderedEmail) -> list[Finding]:
    findings = [
        ok(
            "edition",
            f"{label}: HTML {email.size / 1024:.1f} KB (Gmail clips over "
            f"{GMAIL_CLIP_BYTES // 1024} KB), {email.images} image(s)",
        )
    ]
    for lint in email.findings:
        make = error if lint.severity == "error" else warning
        findings.append(make("edition", f"{label}: {lint.code}: {lint.message}"))
    findings += _local_addresses(label, email.html)
    return findings


def _local_addresses(label: str, html: str) -> list[Finding]:
    document = lxml_html.document_fromstring(html)
    seen: set[str] = set()
    findings = []
    for element, attribute in [(a, "href") for a in document.iter("a")] + [
        (img, "src") for img in document.iter("img")
    ]:
        url = (element.get(attribute) or "").strip()
        if url in seen or not url.startswith(("http://", "https://")):
            continue
        seen.add(url)
        host = urlsplit(url).hostname or ""
        if is_local(host):
            what = "image" if attribute == "src" else "link"
            findings.append(
                error(
                    "edition",
                    f"{label}: {what} to a local address no reader can open: {url}",
                    "set base_url (and logo_url) to the newsletter's public https address",
                )
            )
    return findings
