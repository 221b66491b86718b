"""Mailgun's Messages API (`POST /v3/{domain}/messages`) through httpx: batch sending, up to
1000 readers a call with their recipient variables.

There is no well-kept Python client for Mailgun's sending API (its official SDK is young and
wraps requests), and the call is one multipart form: httpx sends it. 429 and 5xx answers are
retried with backoff (honouring Retry-After); 401, 402 and 403 stop the send at once (the key,
the account, the domain); other 4xx stop with Mailgun's own message. A connection that drops
after the request went out leaves the outcome unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import httpx

from digest.send import Batch, BatchRejected, BatchResult, OutcomeUnknown
from digest.send.mailgun_payload import (
    MAX_RECIPIENTS,
    MailgunRequest,
    PayloadBuilder,
    sendable,
)
from digest.send.retry_waits import backoff, wait_before_retry
from digest.store.deliveries import Failure

_KEY_ADVICE = "check MAILGUN_API_KEY (a sending or account key) and [mailgun] domain / region"


class MailgunSender:
    name = "mailgun"
    max_batch = MAX_RECIPIENTS
    idempotent = False
    reports_events = True

    def __init__(
        self,
        api_key: str,
        domain: str,
        api_base: str,
        *,
        batch_size: int = MAX_RECIPIENTS,
        timeout: float = 60.0,
        max_attempts: int = 6,
        retry_delay: float = 1.0,
        max_delay: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise BatchRejected("Mailgun needs an API key: set MAILGUN_API_KEY")
        if not domain:
            raise BatchRejected("Mailgun needs the sending domain: set domain in [mailgun]")
        if not 1 <= batch_size <= MAX_RECIPIENTS:
            raise ValueError(f"Mailgun takes 1 to {MAX_RECIPIENTS} recipients a call")
        self.max_batch = batch_size
        self.url = f"{api_base.rstrip('/')}/v3/{domain}/messages"
        self.api_base = api_base
        self.client = httpx.Client(
            auth=("api", api_key),
            timeout=timeout,
            # Proxies from the environment are not used: the key goes to Mailgun only.
            trust_env=False,
        )
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.builder = PayloadBuilder()

    def prepare(self, batch: Batch) -> object:
        kept, refused = sendable(batch)
        try:
            requests = self.builder.requests(kept) if kept.recipients else []
        except ValueError as error:  # the email alone passes the size limit
            raise BatchRejected(str(error)) from None
        return requests, refused

    def send(self, batch: Batch, prepared: object = None) -> BatchResult:
        if prepared is None:
            prepared = self.prepare(batch)
        requests, refused = cast(tuple[list[MailgunRequest], dict[int, Failure]], prepared)
        result = BatchResult(failures=dict(refused))
        ids: list[str] = []
        for number, request in enumerate(requests):
            try:
                ids.append(self._post(request))
            except (BatchRejected, OutcomeUnknown) as error:
                if number == 0:
                    raise
                # An email so large that the batch took several calls, and a later one failed:
                # the earlier readers were taken, these were not (or nobody knows).
                self._part_way(result, requests[number:], error)
                break
        result.provider_id = ",".join(ids)[:200] or None
        return result

    @staticmethod
    def _part_way(result: BatchResult, left: list[MailgunRequest], error: Exception) -> None:
        for request in left:
            for recipient in request.recipients:
                if isinstance(error, OutcomeUnknown) and request is left[0]:
                    result.unknown[recipient.delivery_id] = str(error)
                else:  # certainly not taken: tried again later
                    result.failures[recipient.delivery_id] = Failure(str(error), permanent=False)
        result.stop_reason = str(error)

    def _post(self, request: MailgunRequest) -> str:
        """Mailgun's message id for an accepted call; raises when it was not taken."""
        # Every field a form part without a file name: multipart/form-data, as Mailgun's
        # reference sends it (and `to` repeated, once per reader).
        parts = [(name, (None, value.encode())) for name, value in request.fields]
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.post(self.url, files=parts)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                # Nothing reached Mailgun: safe to retry, and certainly not delivered.
                last = f"cannot connect to {self.api_base}: {error}"
                if attempt < self.max_attempts:
                    self.sleep(self._backoff(attempt))
                continue
            except httpx.TransportError as error:
                raise OutcomeUnknown(
                    f"Mailgun connection lost before an answer ({type(error).__name__}: {error})"
                ) from None
            status = response.status_code
            if status == 200:
                return _message_id(response)
            if status in (401, 402, 403):
                what = {401: "refused the API key", 402: "refused: payment required"}
                raise BatchRejected(
                    f"Mailgun {what.get(status, 'refused access')} ({status}): "
                    f"{_message(response)}; {_KEY_ADVICE}"
                )
            if status != 429 and status < 500:
                raise BatchRejected(
                    f"Mailgun rejected the request ({status}): {_message(response)}"
                )
            last = f"{status}: {_message(response)}"
            if attempt < self.max_attempts:
                self.sleep(self._wait(response, attempt))
        raise BatchRejected(f"Mailgun still failing after {self.max_attempts} attempts ({last})")

    def _wait(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        return wait_before_retry(header, attempt, self.retry_delay, self.max_delay)

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, self.retry_delay, self.max_delay)

    def close(self) -> None:
        self.client.close()


def _message_id(response: httpx.Response) -> str:
    """The id of {"id": "<…@domain>", "message": "Queued. Thank you."}, without brackets."""
    try:
        data = response.json()
    except ValueError:
        return ""
    value = data.get("id") if isinstance(data, dict) else None
    return str(value).strip("<>")[:200] if value else ""


def _message(response: httpx.Response) -> str:
    """Mailgun's own words, from {"message": "…"} (or its plain-text answer), one line."""
    try:
        data = response.json()
        text = data.get("message") if isinstance(data, dict) else None
    except ValueError:
        text = None
    if not text:
        text = response.text or response.reason_phrase
    return " ".join(str(text).split())[:300]
