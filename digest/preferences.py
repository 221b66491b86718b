"""Readers' choices: the topics a newsletter declares for its readers to follow and the
frequencies it offers, checked against what the newsletter(s) of a list declare, and kept in
one stored form (topic keys sorted and comma-joined, "" for everything).

Light on imports: CSV rows are checked with it in the importer's worker processes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from digest.errors import FieldError

if TYPE_CHECKING:
    from digest.config import NewsletterConfig

# The stored topics of a reader who follows every topic, those a newsletter adds later too.
EVERYTHING = ""
# Between topic keys in a CSV cell or a command-line option (keys never hold these); exports
# write ";", which a spreadsheet keeps in one cell without quoting.
_SEPARATORS = re.compile(r"[;,\s]+")
CSV_SEPARATOR = ";"


class ChoiceError(FieldError):
    """A topic or frequency the list's newsletter(s) do not declare, or no topic at all;
    `value` is the offending key ("" when nothing was chosen)."""

    def __init__(self, field: str, reason: str, value: str = "") -> None:
        super().__init__(field, reason)
        self.value = value


@dataclass(frozen=True)
class Choice:
    key: str
    label: str


@dataclass(frozen=True)
class Choices:
    """What the readers of one list may choose: the topics and frequencies its newsletter(s)
    declare, in declared order (a key two newsletters share is labelled as the first one
    says), and the frequency of a reader who chose none. `owner` names them in messages."""

    owner: str
    topics: tuple[Choice, ...] = ()
    frequencies: tuple[Choice, ...] = ()
    main_frequency: str = ""

    @property
    def offered(self) -> bool:
        """Whether readers have anything to choose."""
        return bool(self.topics or self.frequencies)

    @property
    def topic_keys(self) -> tuple[str, ...]:
        return tuple(choice.key for choice in self.topics)

    @property
    def frequency_keys(self) -> tuple[str, ...]:
        return tuple(choice.key for choice in self.frequencies)

    def topic_label(self, key: str) -> str:
        return next((c.label for c in self.topics if c.key == key), key)

    def frequency_label(self, key: str) -> str:
        """The label of a stored frequency ("" reads as the main one)."""
        key = key or self.main_frequency
        return next((c.label for c in self.frequencies if c.key == key), key)

    def stored_topics(self, keys: Iterable[str]) -> str:
        """The stored form of these topic keys, each declared (else ChoiceError naming the
        first that is not); none given is "" (everything). An import or `subscribers add`
        keeps the keys as given; a reader's choice on a page goes through `chosen`."""
        wanted = sorted({key.strip().lower() for key in keys if key.strip()})
        known = self.topic_keys
        for key in wanted:
            if key not in known:
                raise ChoiceError("topics", self._unknown("topic", key, known), key)
        return ",".join(wanted)

    def stored_frequency(self, key: str) -> str:
        """A declared frequency key, or "" (the main one); else ChoiceError naming it."""
        key = key.strip().lower()
        known = self.frequency_keys
        if key and key not in known:
            raise ChoiceError("frequency", self._unknown("frequency", key, known), key)
        return key

    def chosen(self, topics: Collection[str], frequency: str) -> tuple[str, str]:
        """The stored (topics, frequency) of a reader's choice on the preference page or the
        subscribe form. Every topic ticked is "" (everything, topics added later included);
        none ticked is refused, as that is unsubscribing. A frequency left out is the main one."""
        stored = self.stored_topics(topics)
        if self.topics and not stored:
            raise ChoiceError("topics", "choose at least one topic (or unsubscribe)")
        if set(stored.split(",")) == set(self.topic_keys):
            stored = EVERYTHING
        return stored, self.stored_frequency(frequency or self.main_frequency)

    def ticked(self, stored: Sequence[str]) -> frozenset[str]:
        """The topic boxes a page shows ticked for a reader's stored topics: every one for
        everything; of the rest, those still declared."""
        if not stored:
            return frozenset(self.topic_keys)
        return frozenset(stored) & frozenset(self.topic_keys)

    def selected_frequency(self, stored: str) -> str:
        """The frequency a page shows chosen: the stored one while declared, else the main."""
        return stored if stored in self.frequency_keys else self.main_frequency

    def _unknown(self, kind: str, key: str, known: Sequence[str]) -> str:
        plural = "topics" if kind == "topic" else "frequencies"
        offered = f"its {plural}: {', '.join(known)}" if known else f"it declares no {plural}"
        return f"{key!r} is not a {kind} of {self.owner} ({offered})"


def choices_for(newsletters: Sequence[NewsletterConfig], list_name: str) -> Choices:
    """The choices of a list's readers: those of the newsletters that send to it."""
    if not newsletters:
        return Choices(owner=f"list {list_name!r} (no newsletter sends to it)")
    topics: dict[str, str] = {}
    frequencies: dict[str, str] = {}
    for newsletter in newsletters:
        for key, topic in newsletter.topics.items():
            topics.setdefault(key, topic.label or key)
        for key, frequency in newsletter.frequencies.items():
            frequencies.setdefault(key, frequency.label or key)
    return Choices(
        owner=" / ".join(newsletter.title for newsletter in newsletters),
        topics=tuple(Choice(key, label) for key, label in topics.items()),
        frequencies=tuple(Choice(key, label) for key, label in frequencies.items()),
        main_frequency=newsletters[0].main_frequency_name,
    )


def topic_keys(text: str) -> list[str]:
    """Topic keys written in one cell or option: separated by ";", "," or spaces."""
    return [key for key in _SEPARATORS.split(text.strip()) if key]


def stored_list(stored: str) -> list[str]:
    """A subscriber row's topics as a list ([] is everything)."""
    return [key for key in stored.split(",") if key]
