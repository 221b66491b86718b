"""How often a newsletter goes out: one cadence per frequency readers may choose (daily,
weekly…), each with its own schedule, look-back and readers; or the newsletter's own schedule
when it declares no frequencies.

Every cadence builds from the same stored articles, each summarised once: a weekly edition
takes the week's articles whether or not a daily edition held them, and a reader is never sent
one story twice (digest.variants leaves out what an earlier edition brought them).
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.config import NewsletterConfig
from digest.errors import DigestError
from digest.run_plan import schedule_key
from digest.store.deliveries import Audience

__all__ = ["Cadence", "cadence", "cadence_of", "cadences", "schedule_key"]


@dataclass(frozen=True)
class Cadence:
    """One frequency of a newsletter. `newsletter` is the newsletter's settings with this
    frequency's schedule and look-back in place (its name unchanged)."""

    newsletter: NewsletterConfig
    frequency: str  # "" when the newsletter declares no frequencies

    @property
    def key(self) -> str:
        return schedule_key(self.newsletter.name, self.frequency)

    @property
    def main(self) -> bool:
        return self.frequency == self.newsletter.main_frequency_name

    @property
    def label(self) -> str:
        declared = self.newsletter.frequencies.get(self.frequency)
        return (declared.label if declared else "") or self.frequency

    @property
    def editions(self) -> tuple[str, ...]:
        """The frequencies of the editions that are this cadence's own: an article in one is
        used; editions from before frequencies were declared belong to the main one."""
        return (self.frequency, "") if self.main and self.frequency else (self.frequency,)

    def audience(self) -> Audience | None:
        """Who of a list gets its editions (None: everyone, no frequencies declared)."""
        if not self.frequency:
            return None
        return Audience(self.frequency, self.main, tuple(self.newsletter.frequencies))


def cadences(newsletter: NewsletterConfig) -> list[Cadence]:
    if not newsletter.frequencies:
        return [Cadence(newsletter, "")]
    return [cadence(newsletter, name) for name in newsletter.frequencies]


def cadence(newsletter: NewsletterConfig, frequency: str = "") -> Cadence:
    """The named frequency of a newsletter ("" = its main one)."""
    if not newsletter.frequencies:
        if frequency:
            raise DigestError(f"newsletter {newsletter.name} declares no frequencies")
        return Cadence(newsletter, "")
    name = frequency.strip().lower() or newsletter.main_frequency_name  # keys are lower-case
    declared = newsletter.frequencies.get(name)
    if declared is None:
        known = ", ".join(newsletter.frequencies)
        raise DigestError(f"frequency {name!r} is not one of {newsletter.name}'s ({known})")
    update: dict[str, object] = {"lookback": declared.lookback or newsletter.lookback}
    main = name == newsletter.main_frequency_name
    update["schedule"] = declared.schedule or (newsletter.schedule if main else None)
    return Cadence(newsletter.model_copy(update=update), name)


def cadence_of(newsletter: NewsletterConfig, frequency: str) -> Cadence:
    """The cadence a stored edition belongs to; one whose frequency the newsletter no longer
    declares goes to the main frequency's readers (everyone, without frequencies)."""
    try:
        return cadence(newsletter, frequency)
    except DigestError:
        return cadence(newsletter, "")
