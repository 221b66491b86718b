"""The topic and frequency fields of the subscribe form and the preference page: what they
show chosen, what a reader's choice reads as, and what a refused one says, in the reader's
language (digest.preferences checks and stores the choice)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from digest.preferences import ChoiceError, Choices
from digest.web.messages import Messages

# An unknown key a forged form sent is quoted back at most this long.
QUOTED_MAX = 60


@dataclass(frozen=True)
class ChoiceFields:
    """The fields as a page shows them: the boxes ticked and the frequency chosen."""

    choices: Choices
    ticked: frozenset[str]
    frequency: str

    @property
    def everything(self) -> bool:
        """Every topic ticked: the reader gets everything, topics added later included."""
        return bool(self.choices.topics) and self.ticked >= set(self.choices.topic_keys)


def for_reader(choices: Choices, topics: Sequence[str], frequency: str) -> ChoiceFields:
    """A reader's stored choice as the page shows it ([] topics: every box ticked)."""
    return ChoiceFields(choices, choices.ticked(topics), choices.selected_frequency(frequency))


def as_sent(choices: Choices, topics: Collection[str], frequency: str) -> ChoiceFields:
    """What a form sent back, to show again with its error (unknown keys are not shown)."""
    ticked = frozenset(topics) & frozenset(choices.topic_keys)
    return ChoiceFields(choices, ticked, choices.selected_frequency(frequency))


def problem(t: Messages, error: ChoiceError) -> str:
    """A refused choice in the reader's words, naming the field."""
    value = error.value[:QUOTED_MAX]
    if error.field == "frequency":
        return t("choice_unknown_frequency", value=value)
    if value:
        return t("choice_unknown_topic", value=value)
    return t("choice_no_topic")


def summary(t: Messages, choices: Choices, topics: Sequence[str], frequency: str) -> list[str]:
    """What a reader gets, one line per field the newsletter offers ("Topics: Sport.")."""
    lines = []
    if choices.topics:
        # In the order the newsletter declares them; a key no longer declared as it is.
        named = [c.label for c in choices.topics if c.key in topics]
        named += [key for key in topics if key not in choices.topic_keys]
        said = ", ".join(named) if named else t("choice_all_topics")
        lines.append(t("choice_summary_topics", topics=said))
    if choices.frequencies:
        lines.append(t("choice_summary_frequency", frequency=choices.frequency_label(frequency)))
    return lines
