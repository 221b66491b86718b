"""Summarisers by name, for settings and the evaluation command."""

from __future__ import annotations

from collections.abc import Callable

from digest.errors import ConfigError
from digest.summarize import Summarizer


def _extractive() -> Summarizer:
    from digest.summarize.extractive import ExtractiveSummarizer

    return ExtractiveSummarizer()


def _one_sentence() -> Summarizer:
    from digest.summarize.extractive import ONE_SENTENCE, ExtractiveSummarizer

    summarizer = ExtractiveSummarizer(ONE_SENTENCE)
    summarizer.method = "extractive-one"
    return summarizer


OFFLINE: dict[str, Callable[[], Summarizer]] = {
    "extractive": _extractive,
    "extractive-one": _one_sentence,
}


def offline_summarizer(name: str) -> Summarizer:
    try:
        return OFFLINE[name]()
    except KeyError:
        known = ", ".join([*OFFLINE, "llm"])
        raise ConfigError(f"summarizer {name!r} is not one of {known}") from None
