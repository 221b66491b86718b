"""Postmark's batch Email API (`POST /email/batch`) through httpx.

`/email/batch` rather than `/email/batchWithTemplates`: a template must first be stored on the
Postmark server (`POST /templates`, a side effect outside the ledger, to create per copy of
each edition and clean up after), and its Mustachio syntax would read any "{{" in an article's
text as its own. The batch endpoint takes each reader's message whole, bodies filled here from
the copy rendered once; the 50 MB limit a call that this costs is honoured by sizing batches
(`batch_size`).

The answer is an array, one result per message in order: ErrorCode 0 is taken; 406 (inactive
recipient: Postmark suppressed the address) and 300 (invalid request: the address) fail that
reader for good; any other code fails it for now (retried as a deferral). 429 and 5xx are
retried with backoff, honouring Retry-After; 401 stops the send at once; 422 (the whole request
refused: Postmark's ErrorCode and Message are given), 413 and other 4xx stop it with Postmark's
words. A connection that drops after the request went out leaves the outcome unknown, settled
by Postmark's webhooks (Delivery, Bounce) carrying our ids in `Metadata`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import httpx

from digest.config import NewsletterConfig
from digest.render import RenderedEmail
from digest.send import Batch, BatchRejected, BatchResult, OutcomeUnknown
from digest.send.postmark_payload import MAX_MESSAGES, PreparedCall, batch_size, build_call
from digest.send.retry_waits import backoff, wait_before_retry
from digest.store.deliveries import Failure

# Per-message codes that no retry can change (Postmark's API error codes).
PERMANENT_CODES = {300: "invalid email request", 406: "inactive recipient"}


class PostmarkSender:
    name = "postmark"
    max_batch = MAX_MESSAGES
    idempotent = False
    reports_events = True

    def __init__(
        self,
        server_token: str,
        host: str,
        message_stream: str = "broadcast",
        *,
        batch_size: int = MAX_MESSAGES,
        timeout: float = 60.0,
        max_attempts: int = 6,
        retry_delay: float = 1.0,
        max_delay: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not server_token:
            raise BatchRejected(
                "Postmark needs a server token: set POSTMARK_SERVER_TOKEN (or "
                "server_token in [postmark])"
            )
        if not 1 <= batch_size <= MAX_MESSAGES:
            raise ValueError(f"Postmark takes 1 to {MAX_MESSAGES} messages a call")
        self.max_batch = batch_size
        self.host = host.rstrip("/")
        self.message_stream = message_stream
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.max_delay = max_delay
        self.sleep = sleep
        # Proxies from the environment are not used: the server token goes to Postmark only.
        self.client = httpx.Client(
            base_url=self.host,
            timeout=timeout,
            trust_env=False,
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "X-Postmark-Server-Token": server_token,
            },
        )

    def batch_size(self, email: RenderedEmail, newsletter: NewsletterConfig) -> int:
        return batch_size(email, newsletter.web_base)

    def prepare(self, batch: Batch) -> object:
        return build_call(batch, self.message_stream)

    def send(self, batch: Batch, prepared: object = None) -> BatchResult:
        if prepared is None:
            prepared = self.prepare(batch)
        call, refused = cast(tuple[PreparedCall | None, dict[int, Failure]], prepared)
        if call is None:
            return BatchResult(failures=refused)
        result = self._results(call, self._post(call.body))
        result.failures.update(refused)
        return result

    def _post(self, body: bytes) -> list[Any]:
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.post("/email/batch", content=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                # Nothing reached Postmark: safe to retry, and certainly not delivered.
                last = f"cannot connect to {self.host}: {error}"
                if attempt < self.max_attempts:
                    self.sleep(self._backoff(attempt))
                continue
            except httpx.TransportError as error:
                raise OutcomeUnknown(
                    f"Postmark connection lost before an answer ({type(error).__name__}: "
                    f"{error or 'no detail'})"
                ) from None
            status = response.status_code
            if status == 200:
                return _array(response)
            if status == 401:
                raise BatchRejected(
                    f"Postmark refused the server token (401): {_message(response)}; check "
                    "POSTMARK_SERVER_TOKEN (a server's token, not the account's)"
                )
            if status != 429 and status < 500:
                raise BatchRejected(
                    f"Postmark rejected the request ({status}): {_message(response)}"
                )
            last = f"{status}: {_message(response)}"
            if attempt < self.max_attempts:
                self.sleep(self._wait(response, attempt))
        raise BatchRejected(f"Postmark still failing after {self.max_attempts} attempts ({last})")

    def _results(self, call: PreparedCall, answers: list[Any]) -> BatchResult:
        """Per reader: taken, failed with Postmark's code and words, or unknown when the
        answer has no entry for the message."""
        result = BatchResult()
        for index, delivery_id in enumerate(call.delivery_ids):
            answer = answers[index] if index < len(answers) else None
            if not isinstance(answer, dict):
                result.unknown[delivery_id] = "Postmark's answer has no result for this message"
                continue
            code = answer.get("ErrorCode")
            if code == 0:
                if result.provider_id is None and answer.get("MessageID"):
                    result.provider_id = str(answer["MessageID"])[:200]
                continue
            known = PERMANENT_CODES.get(code) if isinstance(code, int) else None
            words = str(answer.get("Message") or known or "refused")[:300]
            reason = f"Postmark error {code}: {words}"
            result.failures[delivery_id] = Failure(reason, permanent=known is not None)
        return result

    def _wait(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        return wait_before_retry(header, attempt, self.retry_delay, self.max_delay)

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, self.retry_delay, self.max_delay)

    def close(self) -> None:
        self.client.close()


def _array(response: httpx.Response) -> list[Any]:
    """The results of a 200 answer; an answer that is not an array of results leaves every
    message's fate unknown (Postmark may well have taken them)."""
    try:
        data = response.json()
    except ValueError:
        raise OutcomeUnknown("Postmark answered 200 with a body that is not JSON") from None
    if not isinstance(data, list):
        raise OutcomeUnknown("Postmark answered 200 without an array of results")
    return data


def _message(response: httpx.Response) -> str:
    """Postmark's own ErrorCode and Message, from its {"ErrorCode", "Message"} body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if not isinstance(data, dict):
        return str(data)[:300]
    words = str(data.get("Message") or response.reason_phrase)[:300]
    code = data.get("ErrorCode")
    return f"{words} (ErrorCode {code})" if code is not None else words
