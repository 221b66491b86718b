"""For the complaint and bounce guard's tests: a newsletter sent through the local SendGrid
server, whose accepted requests are reported back as SendGrid's Event Webhook reports them
(delivered, spamreport, bounce, blocked) through `digest serve`'s real endpoint, signed, while
the send runs; and a script saying how many complaints and bounces each request brings."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from digest.app import App
from digest.config import load_settings
from tests.conftest import cli_environment, environment
from tests.servers.sendgrid import SendGridState, running_sendgrid
from tests.test_send import ROOT, SECRET, subscribe
from tests.web_support import serving, signed, webhook_key

EDITOR = "editor@example.org"


def guard_config(**newsletter: str) -> str:
    """A SendGrid newsletter with an editor to tell, the guard's keys as given (TOML)."""
    extra = "\n".join(f"{key} = {value}" for key, value in newsletter.items())
    return f"""
[newsletters.brief]
title = "The Test Brief"
theme = "Russia's war in Ukraine and its allies"
from_name = "Test Brief"
from_address = "brief@example.org"
postal_address = "1 Test Street, Testville"
base_url = "https://brief.example.org"
lists = ["readers"]
sender = "sendgrid"
editors = ["{EDITOR}"]
{extra}
"""


@dataclass
class Request:
    """What SendGrid reports of one accepted request of the edition: how many of its readers
    complain, hard-bounce, or are blocked (SendGrid's "bounce" of type "blocked"); the rest
    are delivered. The first readers of the request get them, in that order. Events lag
    behind a send: those of the first `arrived` readers (None: all) are in before the next
    batch is weighed, the others never come here."""

    complaints: int = 0
    bounces: int = 0
    blocked: int = 0
    arrived: int | None = None


@dataclass
class Events:
    """The webhook as SendGrid would drive it: each accepted request of the edition (notices
    to editors carry no delivery id and are left out) gets its events posted, signed, before
    the server answers, so they are in the store when the next batch is weighed."""

    base: str = ""
    script: list[Request] = field(default_factory=list)
    requests: int = 0
    posted: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.key, self.public = webhook_key()

    def on_accept(self, accepted: list[tuple[str, dict[str, str]]]) -> None:
        readers = [(address, args) for address, args in accepted if args.get("delivery_id")]
        if not readers:
            return
        plan = self.script[self.requests] if self.requests < len(self.script) else Request()
        self.requests += 1
        events = []
        for number, (address, args) in enumerate(readers[: plan.arrived]):
            kinds: list[dict[str, str]] = [{"event": "delivered"}]
            if number < plan.complaints:
                kinds.append({"event": "spamreport"})
            elif number < plan.complaints + plan.bounces:
                kinds = [{"event": "bounce", "type": "bounce", "reason": "550 5.1.1 no user"}]
            elif number < plan.complaints + plan.bounces + plan.blocked:
                kinds = [{"event": "bounce", "type": "blocked", "reason": "421 try later"}]
            for kind in kinds:
                self.posted[kind.get("type", kind["event"])] += 1
                events.append(
                    {
                        "email": address,
                        "timestamp": int(time.time()),
                        "sg_event_id": f"{args['delivery_id']}-{kind.get('type', kind['event'])}",
                        **kind,
                        **args,
                    }
                )
        self.post(events)

    def post(self, events: list[dict[str, object]]) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            for start in range(0, len(events), 1000):
                body = json.dumps(events[start : start + 1000]).encode()
                headers = signed(self.key, body, str(int(time.time())))
                answer = client.post("/webhooks/sendgrid", content=body, headers=headers)
                assert answer.status_code == 200, answer.text


@dataclass
class GuardedSend:
    """A newsletter set up to go out through the local SendGrid server, with `digest serve`
    taking its events: `env` is the process environment the CLI runs in."""

    env: dict[str, str]
    edition_id: int
    state: SendGridState
    events: Events
    readers: int

    def app(self) -> App:
        with environment(self.env):
            return App(load_settings())

    def copies(self) -> Counter[str]:
        """Copies per reader the server took (the editors' notices left out)."""
        return Counter(
            {address: n for address, n in self.state.recipients.items() if address != EDITOR}
        )

    def notices(self) -> list[dict[str, Any]]:
        """The requests that went to the editor (the pause notices)."""
        return [
            body
            for body in self.state.bodies
            if any(
                to["email"] == EDITOR
                for personalization in body["personalizations"]
                for to in personalization["to"]
            )
        ]


@contextmanager
def guarded_send(
    tmp_path: Path,
    database_url: str,
    readers: int,
    script: list[Request],
    **newsletter: str,
) -> Iterator[GuardedSend]:
    """An approved edition for `readers` readers, the SendGrid server and `digest serve`
    running, each request's events following `script`."""
    events = Events(script=script)
    with running_sendgrid() as (host, state):
        env = cli_environment(
            tmp_path,
            guard_config(**newsletter),
            database_url,
            SECRET,
            DIGEST_SENDGRID_HOST=host,
            SENDGRID_API_KEY=state.api_key,
            DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY=events.public,
        )
        with environment(env):
            settings = load_settings()
            app = App(settings)
            app.add([str(ROOT / "examples/articles/sanctions.jsonl")])
            edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
            app.approve(edition)
            subscribe(app, readers)
            app.close()
        assert edition.id is not None
        with serving(settings) as base:
            events.base = base
            state.on_accept = events.on_accept
            yield GuardedSend(env, edition.id, state, events, readers)
