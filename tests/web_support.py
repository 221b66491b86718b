"""Running the web app for tests: a real uvicorn server on 127.0.0.1, in a thread."""

from __future__ import annotations

import base64
import email
import email.policy
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from digest.app import App
from digest.config import Settings
from digest.edition import Edition
from digest.store.subscribers import NewSubscriber
from digest.web import create_app, server_options
from tests.conftest import make_newsletter
from tests.servers.smtp import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "web-test-secret-0123456789"


def settings_for(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "newsletters": {
            "brief": make_newsletter(lists=["readers"], base_url="https://brief.example.org")
        },
        "secret_key": SECRET,
        "outbox_dir": tmp_path / "outbox",
        "first_send_check": False,  # example.org has no DNS (tests/test_doctor.py checks it)
    }
    values.update(overrides)
    return Settings.model_validate(values)


def draft_edition(app: App, readers: int = 3) -> Edition:
    app.add([str(ROOT / "examples/articles")])
    list_id = app.store.subscribers.ensure_list("readers")
    app.store.subscribers.upsert(
        list_id,
        [NewSubscriber(email=f"r{n}@example.org", name=f"Reader {n}") for n in range(readers)],
    )
    return app.build(app.settings.newsletter("brief"), date(2026, 11, 24))


@contextmanager
def serving(
    settings: Settings,
    host: str = "127.0.0.1",
    insecure_http: bool = False,
    configure: Callable[[FastAPI], None] | None = None,
    log_level: str = "warning",
) -> Iterator[str]:
    """Base URL of the app served by uvicorn as `digest serve` serves it; `host` is what the
    app believes it is bound to (the socket is always on loopback); `configure` may change the
    app before it serves (a test clock)."""
    port = free_port()
    web = create_app(settings, host, insecure_http=insecure_http)
    if configure is not None:
        configure(web)
    config = uvicorn.Config(
        web,
        host="127.0.0.1",
        port=port,
        log_level=log_level,
        **server_options(settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def webhook_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A key pair like SendGrid's: the private half signs, the public half (base64 DER, as
    SendGrid shows it) goes in sendgrid_webhook_public_key."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, base64.b64encode(public).decode()


def signed(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str) -> dict[str, str]:
    """The headers SendGrid sends with a body: its signature over timestamp + body."""
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def plain_text_of(eml: Path) -> str:
    """The decoded plain-text part of a message file (its body is quoted-printable, with soft
    line breaks that would cut a long link in the raw file)."""
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())
