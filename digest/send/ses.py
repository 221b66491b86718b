"""Amazon SES through boto3's `sesv2` client: one SendEmail request per reader.

Why SendEmail per reader rather than SendBulkEmail (up to 50 destinations a request): the bulk
call renders a stored or inline SES template, so every edition would pass through SES's own
template language (a story quoting "{{" would break it) and per-reader headers would need
ReplacementHeaders; SendEmail with raw content sends exactly the message the other senders
build. SES meters both by message (its per-second send rate counts recipients either way), so
the bulk call saves requests, not sending time; and moto, which the tests run SES as, does not
implement SendBulkEmail at all. Each reader's request is its own outcome: a throttled,
refused or lost request is placed on the one reader it concerns.

Retries are ours, not botocore's (its own retries are off): botocore would retry a read
timeout, after SES may have taken the message. Throttling (TooManyRequestsException,
ThrottlingException) and 5xx answers are retried with backoff; a connection that could not be
made is retried too (nothing reached SES). Refusals that concern one reader's message
(MessageRejected, BadRequestException) fail that reader; those that concern the account
(credentials, MailFromDomainNotVerified, AccountSuspended, SendingPaused, the daily quota (a
ThrottlingException saying "Daily message quota exceeded"), a missing configuration set)
stop the send with one line saying what to fix. A request that went out but got no answer
leaves that reader's outcome unknown, settled later by SES's events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
)

from digest.send import Batch, BatchRejected, BatchResult, OutcomeUnknown, Recipient
from digest.send.retry_waits import backoff
from digest.send.ses_payload import prepared_requests
from digest.store.deliveries import Failure

THROTTLED = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})
# One reader's message refused: the others go on.
READER_REFUSED = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})
CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
# The account cannot send at all: what to do about it, by SES's error code.
ACCOUNT_STOPS = {
    "MailFromDomainNotVerifiedException": "the MAIL FROM domain is not verified in SES",
    "AccountSuspendedException": "SES has suspended the account's sending",
    "SendingPausedException": "sending is paused for the account or the configuration set",
    "LimitExceededException": "SES says one of the account's limits is reached",
    "NotFoundException": "SES found no such resource (check [ses] configuration_set)",
}

_NO_CREDENTIALS = (
    "SES: no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
    "[ses] profile (or run where an instance role provides them)"
)


class _ReaderRefused(Exception):
    """SES refused this one message; the reader fails, the batch goes on."""


class SesSender:
    name = "ses"
    idempotent = False
    reports_events = True

    def __init__(
        self,
        region: str,
        *,
        endpoint_url: str = "",
        profile: str = "",
        configuration_set: str = "",
        batch_size: int = 1,
        timeout: float = 60.0,
        max_attempts: int = 6,
        retry_delay: float = 1.0,
        max_delay: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            session = boto3.session.Session(profile_name=profile or None, region_name=region)
        except ProfileNotFound:
            raise BatchRejected(f"SES: no AWS profile named {profile!r} ([ses] profile)") from None
        if session.get_credentials() is None:  # found here, so `send --dry-run` says it too
            raise BatchRejected(_NO_CREDENTIALS)
        self.client: Any = session.client(
            "sesv2",
            endpoint_url=endpoint_url or None,
            config=Config(
                # No retries of botocore's own: see the module's docstring.
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=min(timeout, 10.0),
                read_timeout=timeout,
                user_agent_appid="digest",
            ),
        )
        self.where = endpoint_url or f"SES {region}"
        self.configuration_set = configuration_set
        self.max_batch = batch_size
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.max_delay = max_delay
        self.sleep = sleep

    def prepare(self, batch: Batch) -> object:
        return prepared_requests(batch, self.configuration_set)

    def send(self, batch: Batch, prepared: object = None) -> BatchResult:
        if prepared is None:
            prepared = self.prepare(batch)
        requests = cast(list[tuple[Recipient, dict[str, Any] | Failure]], prepared)
        result = BatchResult()
        for index, (recipient, request) in enumerate(requests):
            if isinstance(request, Failure):
                result.failures[recipient.delivery_id] = request
                continue
            try:
                message_id = self._send_one(request)
            except _ReaderRefused as refusal:
                result.failures[recipient.delivery_id] = Failure(str(refusal), permanent=True)
                continue
            except (BatchRejected, OutcomeUnknown) as error:
                nothing_yet = index == 0 and not result.failures
                if nothing_yet and (isinstance(error, BatchRejected) or len(requests) == 1):
                    raise  # the whole batch: certainly not taken, or its one reader unknown
                if isinstance(error, OutcomeUnknown):
                    result.unknown[recipient.delivery_id] = str(error)
                else:
                    result.failures[recipient.delivery_id] = Failure(str(error), False)
                # The readers not reached yet go back in the queue for the next run.
                for rest, _ in requests[index + 1 :]:
                    result.failures.setdefault(
                        rest.delivery_id, Failure("not reached: the send stopped", False)
                    )
                result.stop_reason = str(error)
                break
            result.provider_id = result.provider_id or message_id
        return result

    def _send_one(self, request: dict[str, Any]) -> str:
        """One reader's SendEmail, retried while SES is throttling or failing; SES's MessageId."""
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                answer = self.client.send_email(**request)
                return str(answer.get("MessageId", ""))
            except ClientError as error:
                code, status, text = _error_of(error)
                if code in THROTTLED and "daily message quota" in text.casefold():
                    # Also a ThrottlingException, but retrying cannot help before tomorrow.
                    raise BatchRejected(
                        f"SES: the account's daily sending quota is used up ({code}: {text}); "
                        "the readers left are sent by a later run"
                    ) from None
                if code in THROTTLED or status == 429 or status >= 500:
                    last = f"{status} {code}: {text}"
                    if attempt < self.max_attempts:
                        self.sleep(self._backoff(attempt))
                    continue
                self._refuse(code, status, text, str(request.get("FromEmailAddress", "")))
            except (EndpointConnectionError, ConnectTimeoutError) as error:
                # No connection was made: nothing reached SES, safe to try again.
                last = f"cannot connect to {self.where}: {error}"
                if attempt < self.max_attempts:
                    self.sleep(self._backoff(attempt))
            except (NoCredentialsError, PartialCredentialsError) as error:
                raise BatchRejected(f"{_NO_CREDENTIALS} ({error})") from None
            except ParamValidationError as error:
                raise _ReaderRefused(f"SES request not valid: {error}") from None
            except BotoCoreError as error:
                # Read timeouts, a connection closed mid-answer…: the request went out.
                raise OutcomeUnknown(
                    f"SES request sent but no answer came ({type(error).__name__}: {error})"
                ) from None
        raise BatchRejected(f"SES still failing after {self.max_attempts} attempts ({last})")

    def _refuse(self, code: str, status: int, text: str, sender: str = "") -> None:
        if code in READER_REFUSED and _names_the_sender(text, sender):
            # Every reader's message would be refused the same way ("Email address is not
            # verified… <from>", "did not have authority to send from <from>"): stop, rather
            # than fail the whole list one by one.
            raise BatchRejected(
                f"SES refused the From address ({code}): {text}; verify {sender} (or its "
                "domain) as an identity in SES, or correct from_address"
            )
        if code in READER_REFUSED:
            raise _ReaderRefused(f"SES refused the message ({code}): {text}")
        if code in CREDENTIALS or status in (401, 403):
            raise BatchRejected(
                f"SES refused the credentials ({status} {code}): {text}; check the AWS "
                "credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE) and their ses:SendEmail permission"
            )
        if code in ACCOUNT_STOPS:
            raise BatchRejected(f"SES: {ACCOUNT_STOPS[code]} ({code}: {text})")
        raise BatchRejected(f"SES rejected the request ({status} {code}): {text}")

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, self.retry_delay, self.max_delay)

    def close(self) -> None:
        self.client.close()


def _names_the_sender(text: str, sender: str) -> bool:
    """Whether SES's refusal is about the From address (its identity), not the reader's."""
    address = sender.rsplit("<", 1)[-1].strip(" >").casefold()
    return bool(address) and address in text.casefold()


def _error_of(error: ClientError) -> tuple[str, int, str]:
    """SES's error code, HTTP status and message, as botocore parsed them."""
    response: dict[str, Any] = cast(dict[str, Any], error.response)
    details = response.get("Error") or {}
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    text = " ".join(str(details.get("Message") or "").split())[:300]
    return str(details.get("Code") or ""), status, text or "no message"
