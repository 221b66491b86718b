"""Errors a user can act on: the CLI prints their message as one line, without a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class DigestError(Exception):
    """A problem with the user's input, files or settings, described so they can fix it."""


class ConfigError(DigestError):
    """An invalid or missing setting; the message names the key."""


class SourceError(DigestError):
    """An article source (file or URL) that could not be read; the message names it."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class FieldError(DigestError):
    """A value an editor gave that is not valid; `field` names it, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFoundError(DigestError):
    """A stored record that the user asked for does not exist."""


class StaleEdition(DigestError):
    """The edition changed since the version an edit was based on (another window, the CLI)."""

    def __init__(self, edition_id: int, version: int) -> None:
        super().__init__(f"edition {edition_id} changed meanwhile (now version {version})")
        self.version = version


class LockBusy(DigestError):
    """Another process holds the lock: the work is already being done."""


class AlreadySent(DigestError):
    """The edition went out completely before: a rerun has nothing to do."""


def first_problem(error: ValidationError) -> tuple[str, str]:
    """The field a validation failed on ("article" for the whole) and pydantic's message, for
    a one-line error that names the field."""
    problem = error.errors()[0]
    return ".".join(str(part) for part in problem["loc"]) or "article", problem["msg"]
