"""The composition root: the one place that turns Settings into a store, a summariser and a
fetcher, and the use cases the CLI (and later the web app) call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

from digest.articles import Article
from digest.config import NewsletterConfig, Settings
from digest.edition import Edition, build_draft
from digest.errors import DigestError, SourceError
from digest.render import RenderedEmail, render_edition
from digest.store import AddOutcome, Store, open_store
from digest.summarize import Summarizer


@dataclass
class AddReport:
    outcomes: list[AddOutcome]
    errors: list[SourceError]

    @property
    def added(self) -> list[Article]:
        return [outcome.article for outcome in self.outcomes if outcome.added]


class App:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def store(self) -> Store:
        return open_store(self.settings.database_url)

    @cached_property
    def summarizer(self) -> Summarizer:
        from digest.summarize.extractive import ExtractiveSummarizer

        return ExtractiveSummarizer()

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()

    def add(self, sources: list[str], tags: list[str] | None = None) -> AddReport:
        from digest.fetch import UrlFetcher
        from digest.intake import load_sources

        fetcher = UrlFetcher(self.settings.fetch_timeout, self.settings.fetch_max_bytes)
        try:
            intake = load_sources(sources, fetch_url=fetcher)
        finally:
            fetcher.close()
        articles = intake.articles
        if tags:
            articles = [a.model_copy(update={"tags": [*a.tags, *tags]}) for a in articles]
            articles = [Article.model_validate(a.model_dump()) for a in articles]
        return AddReport(self.store.add_articles(articles), intake.errors)

    def build(self, newsletter: NewsletterConfig, issue_date: date) -> Edition:
        articles = self.store.unused_articles(newsletter.name, newsletter.max_articles)
        if not articles:
            raise DigestError(
                f"no new articles for {newsletter.name}: every stored article is already in an "
                "edition (add some with `digest add`)"
            )
        draft = build_draft(
            articles,
            newsletter=newsletter.name,
            theme=newsletter.theme,
            number=self.store.next_edition_number(newsletter.name),
            issue_date=issue_date,
            summarizer=self.summarizer,
            max_sections=newsletter.max_sections,
            summary_words=newsletter.summary_words,
        )
        return self.store.create_edition(draft)

    def edition(self, reference: str, newsletter: str | None = None) -> Edition:
        """An edition by id, or "latest" (of the named newsletter, if given)."""
        if reference == "latest":
            editions = self.store.list_editions(newsletter)
            if not editions:
                raise DigestError("there is no edition yet: run `digest build` first")
            return editions[0]
        if not reference.isdigit():
            raise DigestError(f"edition must be an id or 'latest', not {reference!r}")
        return self.store.get_edition(int(reference))

    def render(self, edition: Edition) -> RenderedEmail:
        newsletter = self.settings.newsletter(edition.newsletter)
        return render_edition(edition, newsletter, self.settings.templates_dir)
