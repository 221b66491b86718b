"""The composition root: the one place that turns Settings into a store, a summariser and a
fetcher, and the use cases the CLI (and later the web app) call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TextIO

from digest.articles import Article
from digest.config import NewsletterConfig, Settings
from digest.edition import Edition, build_draft
from digest.errors import DigestError, FieldError, SourceError, StaleEdition, first_problem
from digest.grouping import Grouper, Matrix
from digest.render import RenderedEmail, render_edition
from digest.store import AddOutcome, Store, open_store
from digest.summarize import Summarizer, Summary

if TYPE_CHECKING:
    from digest.click_tokens import ClickTokens
    from digest.clicks import ClickFigures
    from digest.delivery_report import CopyLine, DeliveryReport
    from digest.doctor.dns_lookup import DnsClient
    from digest.doctor.findings import DoctorReport
    from digest.edition_fields import FieldSaved
    from digest.edition_state import EditionState
    from digest.feeds import FeedReport
    from digest.fetch import UrlFetcher
    from digest.intake import PasteKind
    from digest.preferences import Choices
    from digest.provider_events import ProviderEvent
    from digest.send import Sender
    from digest.send.campaign import Phase, SendReport
    from digest.send_guard import SendGuard, SendPause
    from digest.store.deliveries import DeliveryOutcome, RetryPolicy
    from digest.subscribers import Subscriber
    from digest.subscribers.importer import ImportReport
    from digest.subscribers.tokens import UnsubscribeTokens


log = logging.getLogger("digest.app")

# The source that names standard input in `digest add`, and how its messages name it.
STDIN = "-"
STDIN_ORIGIN = "<stdin>"

# How long applied provider event ids are remembered: SendGrid retries a post for 72 hours.
EVENT_IDS_KEPT = timedelta(days=30)
# Senders whose provider reports each message's fate by signed events (webhooks, SNS).
EVENT_REPORTING_SENDERS = frozenset({"sendgrid", "ses", "postmark", "mailgun"})
# How many of the articles in no edition (newest first) a draft's copy is checked against.
OUTSIDE_HEADLINES = 200
# What an editor may fix of a stored article (its text is what was read, and stays).
ARTICLE_FIXES = ("title", "author", "source", "published", "url")
# How many sent editions the click redirect keeps the links of (one lookup per edition).
CLICK_EDITIONS_KEPT = 64
# Said instead of pydantic's words where those would puzzle an editor.
_FIX_REASONS = {
    "published": "not a date: write 2026-11-24, or 2026-11-24T07:30+01:00 with a time",
}


@dataclass
class AddReport:
    outcomes: list[AddOutcome]
    errors: list[SourceError]

    @property
    def added(self) -> list[Article]:
        return [outcome.article for outcome in self.outcomes if outcome.added]


class EditionLinks(NamedTuple):
    """Where the click redirect may send a reader of an edition: its articles' stored URLs."""

    newsletter: str
    urls: dict[int, str]


class SendCheck(NamedTuple):
    """What a send was checked with: it goes to these lists, with this email."""

    newsletter: NewsletterConfig
    lists: list[str]
    email: RenderedEmail


def categories_as_tags(articles: Sequence[Article], feeds: Sequence[str]) -> list[Article]:
    """The articles of these feeds with their keywords (the feed's categories) as tags too.

    Feeds store categories as keywords, whoever reads them: an article is stored once however
    many newsletters' feeds bring it, so the newsletter's `feed_categories_as_tags` is applied
    here, when one of its editions is built, to the copies it builds with (never the store's).
    """
    ours = set(feeds)
    return [
        article.model_copy(update={"tags": list(dict.fromkeys([*article.tags, *article.keywords]))})
        if article.feed in ours and article.keywords
        else article
        for article in articles
    ]


def make_themes_model(out: Path, source: Path | None = None) -> Path:
    """The static model for themes_embedding_model, distilled from a sentence model; its
    failures (the distiller or the source missing) as one DigestError."""
    from digest.embeddings import EmbeddingsUnavailable, distill_model

    try:
        return distill_model(out, source)
    except EmbeddingsUnavailable as error:
        raise DigestError(str(error)) from error


class App:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The click redirect's view of sent editions (their links no longer change), by id.
        self._click_links: dict[int, EditionLinks] = {}
        self._click_keys_checked: datetime | None = None

    @cached_property
    def store(self) -> Store:
        return open_store(self.settings.database_url, self.settings.database_busy_timeout)

    @cached_property
    def summarizer(self) -> Summarizer:
        """The configured summariser (for a newsletter's own title and language, see
        summarizer_for)."""
        return self.summarizer_for(None)

    def summarizer_for(self, newsletter: NewsletterConfig | None) -> Summarizer:
        from digest.summarize.registry import offline_summarizer

        settings = self.settings
        if settings.summarizer != "llm":
            return offline_summarizer(settings.summarizer)
        from digest.summarize.llm import LlmSummarizer

        return LlmSummarizer(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key.get_secret_value(),
            fallback=offline_summarizer("extractive"),
            title=newsletter.title if newsletter else "",
            language=newsletter.language if newsletter else "en",
            timeout=settings.llm_timeout,
            concurrency=settings.llm_concurrency,
            max_attempts=settings.llm_max_attempts,
            cache_get=self.store.summary_cache.get,
            cache_put=self.store.summary_cache.put,
        )

    @contextmanager
    def _summarizing(self, newsletter: NewsletterConfig) -> Iterator[Summarizer]:
        """The newsletter's summariser, closed after use (the LLM one holds an HTTP client)."""
        summarizer = self.summarizer_for(newsletter)
        try:
            yield summarizer
        finally:
            close = getattr(summarizer, "close", None)
            if close is not None:
                close()

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()

    def url_fetcher(self) -> UrlFetcher:
        """The one way digest fetches URLs (pages, feeds, their items): time and size limits,
        and only public addresses or fetch_allowed_networks. Close it (or use it in `with`)."""
        from digest.fetch import UrlFetcher
        from digest.url_guard import UrlGuard

        settings = self.settings
        return UrlFetcher(
            settings.fetch_timeout,
            settings.fetch_max_bytes,
            deadline=settings.fetch_deadline,
            guard=UrlGuard(settings.fetch_allowed_networks),
        )

    def fetch_feeds(self, urls: list[str] | None = None) -> list[FeedReport]:
        """New items of the given feeds (default: every configured one), within
        fetch_tick_budget; the feeds left when it is spent are reported skipped."""
        from digest.feeds import fetch_feeds

        if urls is None:
            urls = [url for n in self.settings.newsletters.values() for url in n.feed_urls]
        with self.url_fetcher() as fetcher:
            return fetch_feeds(urls, self.store, fetcher, deadline=self.settings.fetch_tick_budget)

    def add(
        self,
        sources: list[str],
        tags: list[str] | None = None,
        stdin: bytes | None = None,
        url: str | None = None,
    ) -> AddReport:
        """Articles from files, folders and URLs, in the order given. The source `-` is the
        page on standard input: `stdin`, as the caller read it, at `url` if given."""
        from digest.intake import load_sources

        articles: list[Article] = []
        errors: list[SourceError] = []
        with self.url_fetcher() as fetcher:
            for source in sources:
                if source == STDIN:
                    try:
                        articles.append(self._stdin_article(stdin, url))
                    except SourceError as error:
                        errors.append(error)
                    continue
                intake = load_sources([source], fetch_url=fetcher)
                articles += intake.articles
                errors += intake.errors
        return self._store_added(articles, errors, tags)

    def _stdin_article(self, stdin: bytes | None, url: str | None) -> Article:
        """The piped page (HTML or text, detected); errors name `<stdin>` like a file."""
        from digest.intake import article_from_content, decoded

        content = decoded(stdin or b"", STDIN_ORIGIN)
        if not content.strip():
            raise SourceError(STDIN_ORIGIN, "nothing on standard input")
        return article_from_content(content, STDIN_ORIGIN, url=url, now=datetime.now(UTC))

    def add_content(
        self,
        content: str,
        origin: str,
        kind: PasteKind | None = None,
        tags: list[str] | None = None,
        url: str | None = None,
    ) -> AddReport:
        """Add one article from content without a file: standard input or a paste in the web
        page (HTML or a page's text, detected unless `kind` says)."""
        from digest.intake import article_from_content

        try:
            article = article_from_content(content, origin, kind, url=url, now=datetime.now(UTC))
        except SourceError as error:
            return AddReport([], [error])
        return self._store_added([article], [], tags)

    def add_urls(self, urls: list[str], tags: list[str] | None = None) -> AddReport:
        """Fetch pages named by URL only (as `digest add URL`, through the guarded fetcher):
        anything else, a path on this machine above all, is refused, not read."""
        wanted = [url for url in urls if url.startswith(("http://", "https://"))]
        refused = [SourceError(url, "not an http(s) URL") for url in urls if url not in wanted]
        report = self.add(wanted, tags) if wanted else AddReport([], [])
        return AddReport(report.outcomes, refused + report.errors)

    def add_upload(self, name: str, data: bytes, tags: list[str] | None = None) -> AddReport:
        """Add the articles of an uploaded file, read as `digest add` reads a file so named."""
        from digest.intake import load_upload

        intake = load_upload(name, data)
        return self._store_added(intake.articles, intake.errors, tags)

    def grouper(self) -> Grouper:
        """How untagged articles are grouped: TF-IDF, or with the embeddings extra when
        themes_embedding_model names a model folder."""
        from digest.grouping import TFIDF

        path = self.settings.themes_embedding_model
        if not path:
            return TFIDF
        from digest.embeddings import EmbeddingsUnavailable, embedding_grouper

        grouper = embedding_grouper(path)
        similarity = grouper.similarity

        def checked(articles: Sequence[Article]) -> Matrix:
            try:
                return similarity(articles)
            except EmbeddingsUnavailable as error:
                raise DigestError(str(error)) from error

        return Grouper(similarity=checked, threshold=grouper.threshold, small=grouper.small)

    def add_to_draft(self, edition: Edition, articles: list[Article]) -> Edition:
        """Put stored articles into a draft: each summarised and placed where the sections
        would have put it (its tag's section, the closest themed one, or "In brief"); the
        built subject, preheader and intro follow, an editor's own are kept."""
        from digest.editing import with_added
        from digest.edition import EditionStatus, Item
        from digest.themes import section_for

        if edition.status not in (EditionStatus.DRAFT, EditionStatus.APPROVED):
            raise DigestError(
                f"edition {edition.id} is {edition.status.value}: only a draft or an approved "
                "edition takes more articles (they are stored for the next edition)"
            )
        newsletter = self.settings.newsletter(edition.newsletter)
        held = edition.article_ids
        new = [a for a in {a.id: a for a in articles}.values() if a.id not in held]
        if not new:
            return edition
        grouper = self.grouper()
        updated = edition
        with self._summarizing(newsletter) as summarizer:
            for article in new:
                summary = summarizer.summarize(
                    article, theme=newsletter.theme, max_words=newsletter.summary_words
                )
                sections = [(s.title, [i.article for i in s.items]) for s in updated.sections]
                item = Item(article=article, summary=summary)
                place = section_for(article, sections, grouper)
                updated = with_added(updated, item, place)
        return self.revise(edition, updated)

    def split_report(self, edition: Edition, article_id: int, report_id: int) -> Edition:
        """Another report of a story made a story of its own, summarised, right after it."""
        from digest.editing import report_of, split

        report = report_of(edition, article_id, report_id)
        summary = self.summarize_one(edition.newsletter, report)
        return self.revise(edition, split(edition, article_id, report_id, summary))

    def summarize_one(self, newsletter_name: str, article: Article) -> Summary:
        """One article summarised as the newsletter's builds summarise."""
        newsletter = self.settings.newsletter(newsletter_name)
        with self._summarizing(newsletter) as summarizer:
            return summarizer.summarize(
                article, theme=newsletter.theme, max_words=newsletter.summary_words
            )

    def revise(
        self, before: Edition, after: Edition, expected_version: int | None = None
    ) -> Edition:
        """Store an editor's change to a draft or an approved edition, which goes back to draft
        (the web page's edits, `digest edit`): the subject, preheader and intro still as built
        follow what the edition now leads with and holds; words the editor wrote are kept (the
        lint says where they no longer match). With `expected_version`, only over that version
        (else StaleEdition)."""
        from digest.edition import EditionStatus, refreshed_copy

        theme = self.settings.newsletter(before.newsletter).theme
        reopened = self.reopen(before)
        if reopened is not None:
            if expected_version is not None and expected_version != before.version:
                self.store.change_status(
                    reopened.id or 0, EditionStatus.APPROVED, [EditionStatus.DRAFT]
                )
                raise StaleEdition(reopened.id or 0, reopened.version)
            after = after.model_copy(
                update={"status": reopened.status, "reopened": reopened.reopened}
            )
            # Going back to draft is a change of its own: the edit lands on top of it.
            expected_version = None if expected_version is None else reopened.version
        try:
            return self.store.update_edition(refreshed_copy(before, after, theme), expected_version)
        except DigestError:
            if reopened is not None and reopened.id is not None:
                # The edit did not land: it stays approved, as it was.
                self.store.change_status(reopened.id, EditionStatus.APPROVED, [EditionStatus.DRAFT])
            raise

    def reopen(self, edition: Edition) -> Edition | None:
        """What every edit path calls first: an approved edition that is edited goes back to
        draft (noted "edited after approval", so it is approved again before it is sent).
        Returns the draft it became, or None when it was not approved (a draft stays as it is;
        the edit itself refuses what cannot be edited)."""
        from digest.edition import EditionStatus, Reopened

        assert edition.id is not None
        if not self.store.reopen_edition(edition.id, [EditionStatus.APPROVED], Reopened.EDITED):
            return None
        return self.store.get_edition(edition.id)

    def edit_field(
        self, edition_id: int, key: str, value: str, *, base: str, version: int
    ) -> FieldSaved:
        """One field saved from the editor's page, which last saw it as `base` in `version`.
        A change elsewhere to another field is merged; one to this field (its value is no
        longer `base`) raises FieldConflict with the current value. Article fields (headline,
        byline, source, date, link) are fixed on the article, through update_article. Says
        the version the save was made on, so the page knows whether it holds more than its
        own change."""
        from digest.edition_fields import (
            FieldConflict,
            FieldSaved,
            parse_key,
            same,
            value_of,
            with_value,
        )

        field = parse_key(key)
        for _attempt in range(3):
            edition = self.store.get_edition(edition_id)
            current = value_of(edition, field)
            if edition.version != version and not same(current, base):
                if same(current, value):
                    return FieldSaved(edition, edition.version)  # both made the same change
                raise FieldConflict(field.text, current, edition.version)
            if field.kind == "article":
                self.update_article(field.index, **{field.name: value})
                return FieldSaved(self.store.get_edition(edition_id), edition.version)
            try:
                saved = self.revise(edition, with_value(edition, field, value), edition.version)
            except StaleEdition:
                continue  # changed between the read and the write: look again
            return FieldSaved(saved, edition.version)
        raise DigestError(f"edition {edition_id} keeps changing: save again")

    def rearrange(
        self, edition_id: int, version: int, change: Callable[[Edition], Edition]
    ) -> Edition:
        """A change of structure (order, sections, removal) made on the page's view of
        `version`: refused with StaleEdition when the edition changed since."""
        edition = self.store.get_edition(edition_id)
        if edition.version != version:
            raise StaleEdition(edition_id, edition.version)
        return self.revise(edition, change(edition), version)

    def regenerate_summary(self, edition_id: int, article_id: int) -> Edition:
        """One story summarised again by the summariser `digest build` uses for its newsletter
        (its title, language, theme and length)."""
        from digest.editing import with_summary

        edition = self.store.get_edition(edition_id)
        article = self.store.get_article(article_id)
        summary = self.summarize_one(edition.newsletter, article)
        return self.revise(edition, with_summary(edition, article_id, summary.text, summary.method))

    def update_article(self, article_id: int, **fields: str | None) -> Article:
        """An editor's fix of what the intake guessed (title, author, source, published, url),
        validated as any article is; drafts that hold it rewrite the copy built from its old
        headline. Raises DigestError naming the field."""
        from pydantic import ValidationError

        from digest.edition import EditionStatus, refreshed_copy

        unknown = sorted(set(fields) - set(ARTICLE_FIXES))
        if unknown:
            raise FieldError(unknown[0], "not a field an editor can fix")
        values = self.store.get_article(article_id).model_dump()
        for key, value in fields.items():
            text = (value or "").strip()
            values[key] = text if text or key == "title" else None  # blank: not known
        try:
            fixed = Article.model_validate(values)
        except ValidationError as error:
            where, message = first_problem(error)
            reason = _FIX_REASONS.get(where, message.removeprefix("Value error, "))
            raise FieldError(where, reason) from None
        # An approved edition that holds it goes back to draft first, as any edit of it does
        # (the store refuses fixes to what readers are about to get as approved).
        for approved in self.store.drafts_holding(article_id, [EditionStatus.APPROVED]):
            self.reopen(approved)
        drafts = self.store.drafts_holding(article_id)
        stored = self.store.update_article(fixed)
        for before in drafts:
            assert before.id is not None
            after = self.store.get_edition(before.id)
            theme = self.settings.newsletter(before.newsletter).theme
            # Stored even when the copy is unchanged: the new version tells open pages.
            self.store.update_edition(refreshed_copy(before, after, theme))
        return stored

    def _store_added(
        self, articles: list[Article], errors: list[SourceError], tags: list[str] | None
    ) -> AddReport:
        if tags:
            articles = [a.model_copy(update={"tags": [*a.tags, *tags]}) for a in articles]
            articles = [Article.model_validate(a.model_dump()) for a in articles]
        return AddReport(self.store.add_articles(articles), errors)

    def build(
        self,
        newsletter: NewsletterConfig,
        issue_date: date,
        articles: list[Article] | None = None,
        send_at: datetime | None = None,
        frequency: str = "",
    ) -> Edition:
        """A draft from the given articles, or from those not yet in an edition of this
        frequency (the newsletter's main one by default)."""
        from digest.frequencies import cadence

        chosen = cadence(newsletter, frequency)
        if articles is None:
            articles = self.store.unused_articles(
                newsletter.name,
                newsletter.max_articles,
                feeds=newsletter.feed_urls,
                frequencies=chosen.editions,
            )
        if not articles:
            if not self.store.list_articles(limit=1):
                raise DigestError("no articles stored yet: add some with `digest add`")
            raise DigestError(
                f"no new articles for {newsletter.name}: every stored article is already in an "
                "edition (add some with `digest add`)"
            )
        if newsletter.feed_categories_as_tags:
            articles = categories_as_tags(articles, newsletter.feed_urls)
        from digest.summarize.reused import ReusedSummaries

        # Stories an edition of another frequency holds are summarised once: its summary.
        known = self.store.stored_summaries(
            newsletter.name, [a.id for a in articles if a.id is not None]
        )
        with self._summarizing(newsletter) as summarizer:
            once = ReusedSummaries(summarizer, known) if known else summarizer
            draft = build_draft(
                articles,
                newsletter=newsletter.name,
                theme=newsletter.theme,
                number=self.store.next_edition_number(newsletter.name),
                issue_date=issue_date,
                summarizer=once,
                max_sections=newsletter.max_sections,
                summary_words=newsletter.summary_words,
                grouper=self.grouper(),
            )
            if self.settings.summarizer == "llm":
                draft = self._llm_copy(draft, summarizer, newsletter)
        update = {"send_at": send_at, "frequency": chosen.frequency}
        return self.store.create_edition(draft.model_copy(update=update))

    def _llm_copy(
        self, draft: Edition, summarizer: object, newsletter: NewsletterConfig
    ) -> Edition:
        """Subject, intro and headings from the LLM where they pass the guard; the offline
        ones otherwise (with a warning), written again for the LLM's headings."""
        import logging

        from digest.edition import Section, refreshed_copy
        from digest.summarize.llm import LlmSummarizer, edition_copy

        assert isinstance(summarizer, LlmSummarizer)
        listing = [
            (s.title, [(i.article.title, i.summary.text) for i in s.items]) for s in draft.sections
        ]
        fields, notes = edition_copy(summarizer, newsletter.theme, listing)
        for note in notes:
            logging.getLogger("digest.llm").warning("%s: %s", newsletter.name, note)
        update: dict[str, object] = {
            key: value for key, value in fields.items() if key in ("subject", "intro")
        }
        headings = fields.get("headings")
        if isinstance(headings, list):
            renamed = draft.model_copy(
                update={
                    "sections": [
                        Section(title=str(heading)[:120], items=section.items)
                        for heading, section in zip(headings, draft.sections, strict=True)
                    ]
                }
            )
            draft = refreshed_copy(draft, renamed, newsletter.theme)
        return draft.model_copy(update=update)

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

    def render(self, edition: Edition, tracked: bool = False) -> RenderedEmail:
        """The email as sent, with the lint: a draft's hand-written copy is also checked
        against the stored articles it does not hold (a story removed goes back among them).
        `tracked`: article links through the click redirect, as sent when the newsletter
        tracks clicks (previews and `digest render` show the articles' own links)."""
        from digest.edition import EditionStatus

        newsletter = self.settings.newsletter(edition.newsletter)
        outside: list[str] = []
        if edition.status == EditionStatus.DRAFT:
            outside = [a.title for a in self.store.articles_in_no_edition(OUTSIDE_HEADLINES)]
        return render_edition(
            edition, newsletter, self.settings.templates_dir, outside, tracked=tracked
        )

    # Sending

    def sender(self, newsletter: NewsletterConfig, via: str | None = None) -> Sender:
        """The configured sender of a newsletter, or the one named by --via."""
        kind = via or newsletter.sender
        settings = self.settings
        if kind == "outbox":
            from digest.send.outbox import OutboxSender

            return OutboxSender(settings.outbox_dir)
        if kind == "smtp":
            from digest.send.smtp import SmtpSender

            try:
                return SmtpSender(
                    settings.smtp_host,
                    settings.smtp_port,
                    settings.smtp_security,
                    settings.smtp_username,
                    settings.smtp_password.get_secret_value(),
                    settings.smtp_timeout,
                    settings.smtp_ca_file,
                )
            except OSError as error:  # the CA file (its TLS context is made here)
                raise DigestError(f"smtp_ca_file {settings.smtp_ca_file}: {error}") from None
        if kind == "sendgrid":
            from digest.send.sendgrid import SendGridSender

            return SendGridSender(
                settings.sendgrid_api_key.get_secret_value(),
                settings.sendgrid_host,
                timeout=settings.send_timeout,
                max_attempts=settings.send_max_attempts,
                retry_delay=settings.send_retry_delay,
                max_delay=settings.send_retry_max_delay,
            )
        if kind == "ses":
            try:
                from digest.send.ses import SesSender
            except ImportError:
                raise DigestError(
                    "the ses sender needs boto3: .venv/bin/pip install -e '.[ses]' in "
                    "digest's folder"
                ) from None
            ses = settings.ses
            return SesSender(
                ses.region,
                endpoint_url=ses.endpoint_url,
                profile=ses.profile,
                configuration_set=ses.configuration_set,
                batch_size=ses.batch_size,
                timeout=settings.send_timeout,
                max_attempts=settings.send_max_attempts,
                retry_delay=settings.send_retry_delay,
                max_delay=settings.send_retry_max_delay,
            )
        if kind == "postmark":
            from digest.send.postmark import PostmarkSender

            postmark = settings.postmark
            return PostmarkSender(
                postmark.server_token.get_secret_value(),
                postmark.host,
                postmark.message_stream,
                batch_size=postmark.batch_size,
                timeout=settings.send_timeout,
                max_attempts=settings.send_max_attempts,
                retry_delay=settings.send_retry_delay,
                max_delay=settings.send_retry_max_delay,
            )
        if kind == "mailgun":
            from digest.send.mailgun import MailgunSender

            mailgun = settings.mailgun
            return MailgunSender(
                mailgun.api_key.get_secret_value(),
                mailgun.domain,
                mailgun.api_base,
                batch_size=mailgun.batch_size,
                timeout=settings.send_timeout,
                max_attempts=settings.send_max_attempts,
                retry_delay=settings.send_retry_delay,
                max_delay=settings.send_retry_max_delay,
            )
        raise DigestError(
            f"unknown sender {kind!r} (outbox, smtp, sendgrid, ses, postmark or mailgun)"
        )

    def tokens(self) -> UnsubscribeTokens:
        from digest.subscribers.tokens import UnsubscribeTokens

        return UnsubscribeTokens(self.settings.secret_key.get_secret_value())

    def click_tokens(self) -> ClickTokens:
        from digest.click_tokens import ClickTokens

        return ClickTokens(self.settings.secret_key.get_secret_value())

    def approve(self, edition: Edition, send_at: datetime | None = None) -> Edition:
        """Approve a draft (or move an approved edition to another time). Without a time, it
        keeps the time it was built for, or takes its newsletter's next scheduled time."""
        from datetime import UTC

        from digest.edition import EditionStatus
        from digest.frequencies import cadence_of
        from digest.schedule import next_times
        from digest.send.campaign import check_subject_test

        assert edition.id is not None
        newsletter = self.settings.newsletter(edition.newsletter)
        check_subject_test(edition, newsletter)
        schedule = cadence_of(newsletter, edition.frequency).newsletter.schedule
        if send_at is not None and send_at.tzinfo is None:
            send_at = self.local_time(newsletter, send_at.isoformat())
        if send_at is None and edition.send_at is None and schedule:
            now = datetime.now(UTC)
            send_at = next_times(schedule, newsletter.zone, now, 1)[0]
        moved = self.store.change_status(
            edition.id,
            EditionStatus.APPROVED,
            [EditionStatus.DRAFT, EditionStatus.APPROVED],
            send_at=send_at,
        )
        if not moved:
            raise DigestError(
                f"edition {edition.id} is {edition.status.value}: only a draft can be approved"
            )
        return self.store.get_edition(edition.id)

    def cancel(self, edition: Edition) -> Edition:
        """Withdraw a draft or an approved edition: it will not be sent."""
        from digest.edition import EditionStatus

        assert edition.id is not None
        moved = self.store.change_status(
            edition.id, EditionStatus.CANCELLED, [EditionStatus.DRAFT, EditionStatus.APPROVED]
        )
        if not moved:
            raise DigestError(
                f"edition {edition.id} is {edition.status.value}: only a draft or an approved "
                "edition can be cancelled"
            )
        return self.store.get_edition(edition.id)

    def local_time(self, newsletter: NewsletterConfig, text: str) -> datetime:
        """A date and time in the newsletter's zone (an offset, if given, is kept), as UTC; a
        local time that happens twice or never there (daylight saving) is refused."""
        from digest.send_time import parse_local

        return parse_local(text, newsletter.zone)

    def back_to_draft(self, edition: Edition) -> Edition:
        """An approved or cancelled edition made a draft again, every edit kept, to be edited
        and approved again. Never once sending has started or finished: some readers may
        have it already."""
        from digest.edition import EditionStatus, Reopened

        assert edition.id is not None
        why = {
            EditionStatus.APPROVED: Reopened.FROM_APPROVED,
            EditionStatus.CANCELLED: Reopened.FROM_CANCELLED,
        }.get(edition.status)
        if edition.status == EditionStatus.DRAFT:
            return edition
        if why is not None and self.store.reopen_edition(edition.id, [edition.status], why):
            return self.store.get_edition(edition.id)
        current = self.store.get_edition(edition.id)
        if current.status == EditionStatus.DRAFT:
            return current
        started = current.status in (EditionStatus.SENDING, EditionStatus.SENT) or any(
            self.store.deliveries.counts(edition.id).values()
        )
        if started:
            raise DigestError(
                f"edition {edition.id} is {current.status.value} and its sending has started: "
                "it cannot go back to draft (some readers may have it); build a new edition"
            )
        raise DigestError(
            f"edition {edition.id} is {current.status.value}: only an approved or cancelled "
            "edition goes back to draft"
        )

    def edition_states(self, newsletter: str | None = None) -> list[EditionState]:
        """Every edition (newest first) with its state as an editor reads it: the planned
        time in its newsletter's zone, or once sending began, when and to how many."""
        from zoneinfo import ZoneInfo

        from digest.edition_state import EditionState

        editions = self.store.list_editions(newsletter)
        ledgers = self.store.deliveries.by_edition(e.id for e in editions if e.id is not None)
        sending = [e.id for e in editions if e.id is not None and e.status.value == "sending"]
        pauses = self.store.send_pauses.open_pauses(sending)
        sizes = {
            name: counts.get("subscribed", 0)
            for name, counts in self.store.subscribers.stats().items()
        }
        states = []
        for edition in editions:
            config = self.settings.newsletters.get(edition.newsletter)
            states.append(
                EditionState(
                    edition,
                    config.zone if config else ZoneInfo("UTC"),
                    ledgers.get(edition.id or 0),
                    sum(sizes.get(name, 0) for name in config.lists) if config else 0,
                    pauses.get(edition.id or 0),
                )
            )
        return states

    def edition_state(self, edition: Edition) -> EditionState:
        """One edition's state, as edition_states gives it."""
        from zoneinfo import ZoneInfo

        from digest.edition_state import EditionState

        assert edition.id is not None
        config = self.settings.newsletters.get(edition.newsletter)
        ledger = self.store.deliveries.by_edition([edition.id]).get(edition.id)
        pause = self.store.send_pauses.open_pause(edition.id)
        return EditionState(
            edition, config.zone if config else ZoneInfo("UTC"), ledger, pause=pause
        )

    def check_send(
        self,
        edition: Edition,
        *,
        lists: list[str] | None = None,
        via: str | None = None,
        force: bool = False,
    ) -> SendCheck:
        """Everything a send needs, checked before anything is sent: the edition may be sent,
        the lists exist, the email lints clean, links can be signed (secret_key) and the sender
        is configured; a newsletter's first send, that `digest doctor` finds no error (unless
        `force`). `send --dry-run` stops here, so it fails where a send would."""
        from digest.send.campaign import check_sendable, check_subject_test

        newsletter = self.settings.newsletter(edition.newsletter)
        check_sendable(edition, newsletter)
        check_subject_test(edition, newsletter)
        chosen = lists or newsletter.lists
        if not chosen:
            raise DigestError(f"newsletter {newsletter.name} has no lists: set lists = [...]")
        for name in chosen:
            self.store.subscribers.list_id(name)
        email = self.render(edition, tracked=newsletter.track_clicks)
        if email.errors:
            problems = "; ".join(f.message for f in email.errors)
            raise DigestError(f"edition {edition.id} has lint errors, not sent: {problems}")
        self.tokens()
        if newsletter.track_clicks:
            self.click_tokens()
        self.sender(newsletter, via).close()
        if not force:
            self._check_first_send(edition, newsletter, via, email)
        return SendCheck(newsletter, chosen, email)

    def _check_first_send(
        self, edition: Edition, newsletter: NewsletterConfig, via: str | None, email: RenderedEmail
    ) -> None:
        """Refuses a newsletter's first send while the doctor finds errors: mailbox providers
        judge a new sender on its first mail. Not through the outbox (nothing is sent), not
        once an edition has begun sending (a send resumed is not asked again), nor with
        first_send_check off."""
        sender = via or newsletter.sender
        if (
            sender == "outbox"
            or not self.settings.first_send_check
            or self.store.has_sent_edition(newsletter.name)
        ):
            return
        report = self.doctor_report(newsletter, sender, (f"edition {edition.id}", email))
        if report.errors:
            count = len(report.errors)
            raise DigestError(
                f"edition {edition.id} would be {newsletter.name}'s first send, and the doctor "
                f"found {count} error{'s' if count > 1 else ''}: {report.refusal()} "
                f"(`digest doctor --newsletter {newsletter.name}"
                f"{f' --via {via}' if via else ''}` says what to publish; "
                f"`digest send {edition.id}{f' --via {via}' if via else ''} --force` sends anyway)"
            )

    def send(
        self,
        edition: Edition,
        *,
        lists: list[str] | None = None,
        via: str | None = None,
        limit: int | None = None,
        on_progress: Callable[[int], None] | None = None,
        force: bool = False,
        resume: bool = False,
        resumed_by: str = "",
        workers: int = 1,
        phase: Phase = "all",
    ) -> SendReport:
        """Send (or go on sending) an edition (digest.send.campaign). A send the complaint and
        bounce guard paused sends nothing until it is resumed: `resume` does it first,
        recording `resumed_by`. When this run pauses it (or finds it paused and the editors
        not yet told), the editors are told why. With `workers` > 1 (PostgreSQL only), that
        many processes share the send (digest.shared_send); `phase` is the part of a shared
        send this call does."""
        from digest.frequencies import cadence_of
        from digest.send.campaign import send_edition

        if resume:
            self.resume_send(edition, resumed_by)
        if workers > 1:
            from digest.shared_send import send_with_workers

            return send_with_workers(
                self,
                edition,
                lists=lists,
                via=via,
                limit=limit,
                workers=workers,
                on_progress=on_progress,
                force=force,
            )
        newsletter, chosen, email = self.check_send(edition, lists=lists, via=via, force=force)
        sender = self.sender(newsletter, via)
        try:
            report = send_edition(
                self.store,
                edition,
                newsletter,
                email,
                sender,
                self.tokens(),
                lists=chosen,
                resend_unknown=self.settings.unknown_batch_policy == "resend",
                retry=self.retry_policy(),
                settle_wait=self.settings.unknown_settle_wait,
                limit=limit,
                on_progress=on_progress,
                audience=cadence_of(newsletter, edition.frequency).audience(),
                variants=self.variant_renderer(edition),
                subject_clicks=lambda edition_id: self.subject_line_clicks(
                    self.store.get_edition(edition_id)
                ),
                click_tokens=self.click_tokens() if newsletter.track_clicks else None,
                guard=self.send_guard(edition, newsletter) if sender.reports_events else None,
                phase=phase,
                lock_wait=self.settings.send_lock_wait,
            )
        finally:
            sender.close()
        if report.paused is not None and report.paused.notified_at is None:
            self._tell_editors_of_pause(edition, newsletter, report.paused)
        return report

    # The complaint and bounce guard (digest.send_guard)

    def send_guard(self, edition: Edition, newsletter: NewsletterConfig) -> SendGuard:
        """The guard for one run of an edition's send: after a resume, it judges what the
        events said since then (the counts at the resume are its baseline)."""
        from digest.send_guard import GuardCounts, SendGuard

        assert edition.id is not None
        edition_id = edition.id
        last = self.store.send_pauses.latest(edition_id)
        baseline = last.baseline if last is not None and last.baseline else GuardCounts()
        return SendGuard(
            newsletter,
            lambda: self.store.delivery_events.guard_counts(edition_id),
            baseline,
            since=last.resumed_at if last is not None else None,
        )

    def send_pause(self, edition: Edition) -> SendPause | None:
        """The edition's last pause, open or resumed (None: never paused)."""
        assert edition.id is not None
        return self.store.send_pauses.latest(edition.id)

    def paused_sends(self, newsletter: str) -> list[SendPause]:
        """The newsletter's sends the guard holds now, oldest edition first."""
        from digest.edition import EditionStatus

        sending = self.store.editions_with_status(newsletter, [EditionStatus.SENDING])
        pauses = self.store.send_pauses.open_pauses(e.id for e in sending if e.id is not None)
        return [pauses[edition_id] for edition_id in sorted(pauses)]

    def resume_send(self, edition: Edition, by: str) -> SendPause | None:
        """Lift the guard's pause (the next send continues where it stopped), recording who
        and when, and the event counts now: the guard judges what comes after. None when the
        edition was not paused."""
        assert edition.id is not None
        counts = self.store.delivery_events.guard_counts(edition.id)
        resumed = self.store.send_pauses.resume(edition.id, by or "unknown", counts)
        if resumed is not None:
            log.warning("edition %s: send resumed by %s", edition.id, resumed.resumed_by)
        return resumed

    def _tell_editors_of_pause(
        self, edition: Edition, newsletter: NewsletterConfig, pause: SendPause
    ) -> None:
        """The notice of a pause, through the newsletter's sender, recorded once it went
        out: a run that could not send it leaves it to the next one."""
        from digest.notify import notify_editors, pause_notice

        report_url = f"{self.settings.editor_url.rstrip('/')}/editions/{pause.edition_id}/report"
        subject, body = pause_notice(edition, pause, report_url)
        sender = self.sender(newsletter)
        try:
            count = notify_editors(sender, newsletter, pause.edition_id, subject, body)
        finally:
            sender.close()
        if count or not newsletter.editors:
            self.store.send_pauses.mark_notified(pause.id)

    def variant_renderer(self, edition: Edition) -> Callable[[str, int], RenderedEmail | None]:
        """Renders the copy of an edition a variant's readers get (digest.variants), or None
        when it holds nothing for them."""
        from digest.variants import edition_for, subject_of

        newsletter = self.settings.newsletter(edition.newsletter)

        def render(variant: str, subject_index: int) -> RenderedEmail | None:
            shown = edition_for(edition, newsletter, variant)
            if shown is None:
                return None
            subject = subject_of(edition, shown, subject_index)  # an A/B test's line
            if subject != shown.subject:
                shown = shown.model_copy(update={"subject": subject})
            return render_edition(
                shown, newsletter, self.settings.templates_dir, tracked=newsletter.track_clicks
            )

        return render

    def retry_policy(self) -> RetryPolicy:
        from digest.store.deliveries import RetryPolicy

        settings = self.settings
        return RetryPolicy(
            settings.deferral_max_attempts, settings.deferral_max_age, settings.deferral_first_delay
        )

    def resend_unknown(self, edition: Edition) -> int:
        """The operator's decision for readers of unknown outcome: send them the edition again
        (on the next send). Returns how many."""
        from digest.edition import EditionStatus

        assert edition.id is not None
        count = self.store.deliveries.resend_unknown(edition.id)
        if count:
            self.store.change_status(
                edition.id, EditionStatus.SENDING, [EditionStatus.SENT, EditionStatus.SENDING]
            )
        return count

    def apply_delivery_event(self, event: ProviderEvent) -> bool:
        """A verified provider event that names one of our deliveries (custom_args) settles a
        delivery whose outcome was not known. Returns whether it changed anything."""
        if event.delivery_id is None or event.edition_id is None:
            return False
        self.store.delivery_events.record(  # for the send report
            event.delivery_id, event.edition_id, event.kind, event.reason, event.timestamp
        )
        return self.store.deliveries.apply_event(
            event.delivery_id, event.edition_id, event.kind, event.reason[:500]
        )

    def erase_subscriber(self, email: str, list_name: str | None = None) -> int:
        """GDPR erasure: the subscriptions go, the ledger keeps no reply that quotes the
        address, and the outbox keeps no file addressed to it. Returns subscriptions removed."""
        from digest.send.outbox import OutboxSender

        subscribers = self.store.subscribers
        list_id = subscribers.list_id(list_name) if list_name else None
        ids = subscribers.ids_of(email, list_id)
        stored = {subscribers.get(subscriber_id).email for subscriber_id in ids}
        deliveries = self.store.deliveries.forget(ids)
        removed = subscribers.remove(email, list_id)
        OutboxSender(self.settings.outbox_dir).forget(set(deliveries), [email, *stored])
        return removed

    def test_send(self, edition: Edition, to: str, via: str | None = None) -> str:
        """One copy marked as a test; no delivery is recorded. Returns the provider's id."""
        from digest.send import Batch, Recipient
        from digest.subscribers.model import normalise_address

        assert edition.id is not None
        newsletter = self.settings.newsletter(edition.newsletter)
        address = normalise_address(to)
        email = self.render(edition, tracked=newsletter.track_clicks)
        clicks = ""
        if newsletter.track_clicks:  # the redirect as readers get it, never counted
            from digest.click_tokens import TEST_COPY
            from digest.send.campaign import click_base

            clicks = click_base(newsletter, self.click_tokens(), TEST_COPY, edition.id)
        sender = self.sender(newsletter, via)
        batch = Batch(
            edition_id=edition.id,
            newsletter=newsletter,
            email=email,
            recipients=[
                Recipient(
                    delivery_id=0,
                    subscriber_id=0,
                    email=address,
                    name="",
                    unsubscribe_url=f"{newsletter.web_base}/u/test",
                    preferences_url=f"{newsletter.web_base}/p/test",
                    click_base=clicks,
                )
            ],
            purpose="test",
        )
        try:
            result = sender.send(batch, sender.prepare(batch))
        finally:
            sender.close()
        if result.failures:
            raise DigestError(f"test copy to {address} failed: {result.failures[0].reason}")
        return result.provider_id or ""

    # Before the first send: digest doctor

    def dns_client(self) -> DnsClient:
        from digest.doctor.dns_lookup import DnsClient
        from digest.doctor.nameservers import parse_nameserver

        servers = [parse_nameserver(entry) for entry in self.settings.dns_nameservers]
        return DnsClient(servers, self.settings.dns_timeout)

    def doctor(self, newsletter: str | None = None, via: str | None = None) -> list[DoctorReport]:
        """The check-up of one newsletter (or of every one): its From domain's DNS for its
        sender (or `via`, as `digest send --via` would send), the one-click unsubscribe at its
        base_url, and its latest draft or approved edition."""
        from typing import get_args

        from digest.edition import EditionStatus

        settings = self.settings
        senders = get_args(NewsletterConfig.model_fields["sender"].annotation)
        if via is not None and via not in senders:
            raise DigestError(f"--via {via}: one of {', '.join(senders)}")
        chosen = (
            [settings.newsletter(newsletter)] if newsletter else list(settings.newsletters.values())
        )
        if not chosen:
            raise DigestError("no newsletter is configured: add a [newsletters.NAME] table")
        reports = []
        for config in chosen:
            pending = [
                e
                for e in self.store.list_editions(config.name)
                if e.status in (EditionStatus.DRAFT, EditionStatus.APPROVED)
            ]
            edition = None
            if pending:
                latest = pending[0]
                email = self.render(latest, tracked=config.track_clicks)
                edition = (f"edition {latest.id} ({latest.status.value})", email)
            reports.append(self.doctor_report(config, via or config.sender, edition))
        return reports

    def doctor_report(
        self,
        newsletter: NewsletterConfig,
        sender: str,
        edition: tuple[str, RenderedEmail] | None,
    ) -> DoctorReport:
        from digest.doctor.checkup import Probe, examine

        try:
            probe = Probe(token=self.tokens().probe())
        except DigestError as problem:
            probe = Probe(problem=str(problem))
        return examine(
            newsletter,
            sender,
            None if sender == "outbox" else self.dns_client(),
            probe,
            smtp_host=self.settings.smtp_host,
            sending_domain=self.settings.mailgun.domain,
            edition=edition,
        )

    def is_unsubscribe_probe(self, token: str) -> bool:
        """Whether a one-click POST carries the doctor's probe (names no reader)."""
        try:
            return self.tokens().is_probe(token)
        except DigestError:  # no secret_key: nothing is a probe
            return False

    def unsubscribe(self, token: str, apply: bool = True) -> Subscriber:
        """Apply a one-click unsubscribe token (or, with apply=False, only check it and say
        whose it is); a forged or altered token is refused."""
        from digest.subscribers.model import SUPPRESSED, Status

        subscriber = self._token_holder(token)
        if subscriber.status in SUPPRESSED or not apply:
            return subscriber
        return self.store.subscribers.set_status(subscriber.id, Status.UNSUBSCRIBED)

    def _token_holder(self, token: str) -> Subscriber:
        """The subscriber a reader's signed link names (the unsubscribe token, which opens the
        preference page too); InvalidToken when it is forged, altered or theirs no more."""
        from digest.subscribers.model import address_key
        from digest.subscribers.tokens import InvalidToken

        tokens = self.tokens()
        subject = tokens.read(token)
        try:
            subscriber = self.store.subscribers.get(subject.subscriber_id)
        except DigestError:
            raise InvalidToken("this unsubscribe link is not valid") from None
        list_id = self.store.subscribers.list_id(subscriber.list)
        if list_id != subject.list_id or not tokens.verify(token, address_key(subscriber.email)):
            raise InvalidToken("this unsubscribe link is not valid")
        return subscriber

    # Readers' choices: topics and frequency (digest.preferences)

    def list_choices(self, list_name: str) -> Choices:
        """What the readers of a list may choose: the topics and frequencies of the
        newsletters that send to it (none when no newsletter does)."""
        from digest.preferences import choices_for

        senders = [n for n in self.settings.newsletters.values() if list_name in n.lists]
        return choices_for(senders, list_name)

    def reader_preferences(self, token: str) -> tuple[Subscriber, Choices]:
        """For the preference page: whose link it is, and what they may choose."""
        subscriber = self._token_holder(token)
        return subscriber, self.list_choices(subscriber.list)

    def set_preferences(
        self, token: str, topics: Collection[str], frequency: str
    ) -> tuple[Subscriber, Choices]:
        """A reader's choice from the preference page: at least one declared topic (every one
        is stored as everything, topics added later included) and a declared frequency ("" is
        the main one). ChoiceError names what is refused; a reader who is not subscribed (any
        more) cannot choose, and is never resubscribed by choosing."""
        from digest.preferences import ChoiceError
        from digest.subscribers.model import Status

        subscriber, choices = self.reader_preferences(token)
        if subscriber.status != Status.SUBSCRIBED:
            raise ChoiceError("status", f"{subscriber.email} is {subscriber.status.value}")
        stored_topics, stored_frequency = choices.chosen(topics, frequency)
        saved = self.store.subscribers.set_preferences(
            subscriber.id, stored_topics, stored_frequency
        )
        return saved, choices

    # Provider events (SendGrid's Event Webhook)

    def provider_events(self, events: Sequence[ProviderEvent]) -> int:
        """Apply verified events, each once by its id (the provider delivers at least once and
        retries): returns how many subscriptions changed. An event is recorded after it took
        effect, so a crash in between means it is applied again, never lost."""
        from datetime import UTC

        seen = self.store.webhook_events.seen([e.event_id for e in events if e.event_id])
        changed = 0
        for event in events:
            if event.event_id in seen:
                continue
            changed += self.apply_provider_event(event)
            if event.event_id:
                self.store.webhook_events.record(event.event_id)
                seen.add(event.event_id)
        self.store.webhook_events.forget_before(datetime.now(UTC) - EVENT_IDS_KEPT)
        return changed

    def signed_post_events(self, token: str, events: Sequence[ProviderEvent]) -> int:
        """Events of a signed post whose token is single-use (Mailgun's): applied as
        `provider_events` does, once the token is claimed; a token seen before raises
        ReplayedPost. If applying fails, the claim is undone, so that the retry is applied."""
        from digest.provider_events import ReplayedPost

        key = f"token:{token}"
        if not self.store.webhook_events.claim(key):
            raise ReplayedPost("this signed post was received before (its token is used)")
        try:
            return self.provider_events(events)
        except BaseException:
            self.store.webhook_events.release(key)
            raise

    def apply_provider_event(self, event: ProviderEvent) -> int:
        """The one place where each verified, not yet applied event takes effect; returns how
        many subscriptions changed."""
        from digest.provider_events import apply_to_subscribers

        # The ledger first: an event naming a delivery of unknown outcome settles it.
        self.apply_delivery_event(event)
        return apply_to_subscribers(self.store.subscribers, event)

    # Reports and subscriber lists (the editor's pages, `digest report`)

    def delivery_report(self, edition: Edition, failures_shown: int | None = 500) -> DeliveryReport:
        """What came of an edition's send: the ledger's counts, the provider's events, the
        readers that failed, are deferred or of unknown outcome (at most `failures_shown`),
        and how to settle the unknown ones."""
        from digest.delivery_report import NEEDS_A_LOOK, DeliveryReport

        assert edition.id is not None
        deliveries = self.store.deliveries
        ledger = deliveries.counts(edition.id)
        events = self.store.delivery_events.counts(edition.id)
        newsletter = self.settings.newsletters.get(edition.newsletter)
        list_ids = [
            list_id
            for name, list_id in self._list_ids().items()
            if newsletter is None or name in newsletter.lists
        ]
        by_events = newsletter is not None and newsletter.sender in EVENT_REPORTING_SENDERS
        return DeliveryReport(
            edition_id=edition.id,
            newsletter=edition.newsletter,
            subject=edition.subject,
            status=edition.status.value,
            ledger=ledger,
            events=events,
            next_attempt_at=deliveries.next_attempt(edition.id, list_ids) if list_ids else None,
            failures=deliveries.outcomes(edition.id, NEEDS_A_LOOK, failures_shown),
            settle_unknown=self._settle_hint(edition.id, ledger.get("unknown", 0), by_events),
            events_reported=by_events or any(events.values()),
            copies=self._copies(edition, newsletter),
            pause=self.store.send_pauses.latest(edition.id),
        )

    def subject_test_status(self, edition: Edition) -> str:
        """An edition's A/B test of subject lines in a line: not begun, waiting for the winner
        (until when), or won (by which line, on how many readers' clicks)."""
        from digest.subject_test import SubjectTest

        if not edition.subject_tests or edition.id is None:
            return ""
        state = self.store.subject_test_state(edition.id)
        if state is None:
            return "not begun: a share of the list gets the lines when the edition is sent"
        test = SubjectTest.from_json(edition.subject_tests, state)
        if test.winner is not None:
            clicks = ", ".join(f"line {n}: {c}" for n, c in enumerate(test.clicks, start=1))
            return f"won by line {test.winner} (readers who clicked: {clicks})"
        decides_at = test.decides_at()
        if decides_at is None:
            return "the test lines are being sent"
        return f"waiting for the winner, chosen from {decides_at:%Y-%m-%d %H:%M} UTC"

    def _copies(self, edition: Edition, newsletter: NewsletterConfig | None) -> list[CopyLine]:
        """The send report's line per copy, when readers got more than one."""
        from digest.delivery_report import CopyLine
        from digest.variants import describe, edition_for, subject_of

        assert edition.id is not None
        counts = self.store.deliveries.by_variant(edition.id)
        if newsletter is None or [(c.variant, c.subject_index) for c in counts] in ([], [("", 0)]):
            return []
        lines = []
        for count in counts:
            shown = edition_for(edition, newsletter, count.variant)
            subject = (
                subject_of(edition, shown, count.subject_index)
                if shown is not None
                else "(nothing this time)"
            )
            copy = describe(count.variant, newsletter)
            index = count.subject_index
            if edition.subject_tests:  # which part of an A/B test of subject lines
                if index > 0:
                    copy += f" · subject test, line {index}"
                elif index < 0:
                    copy += f" · the rest: line {-index}, the winner"
                elif shown is not None and subject_of(edition, shown, 1) != shown.subject:
                    copy += " · waiting for the winning subject line"
                    subject = "(the winning line, once chosen)"
            lines.append(
                CopyLine(
                    copy,
                    subject,
                    count.readers,
                    count.statuses.get("sent", 0),
                    count.statuses.get("skipped", 0),
                )
            )
        return lines

    def _settle_hint(self, edition_id: int, unknown: int, by_events: bool) -> str:
        if not unknown:
            return ""
        hint = (
            f"{unknown} reader(s) may or may not have the edition, and are not sent it again "
            f"(unknown_batch_policy = {self.settings.unknown_batch_policy}); "
            f"`digest send {edition_id} --resend-unknown` sends it to them again"
        )
        if by_events:
            hint += "; the provider's events, when they come, settle them first"
        return hint

    def _list_ids(self) -> dict[str, int]:
        subscribers = self.store.subscribers
        return {name: subscribers.list_id(name) for name in subscribers.list_names()}

    # Click tracking (`digest serve`'s /c/TOKEN/ARTICLE and the reading figures)

    def follow_click(
        self,
        token: str,
        article_id: int,
        *,
        method: str = "GET",
        agent: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """Where a click link leads: the stored URL of an article of the token's edition, and
        nowhere else. The click is recorded for the figures when the newsletter tracks clicks
        (never a test copy's); recording that fails never stops the reader, who is sent on.
        NotFoundError for a token that is not ours or an article not in the edition."""
        from digest.click_tokens import TEST_COPY, InvalidClickToken
        from digest.errors import NotFoundError

        try:
            target = self.click_tokens().read(token)
        except InvalidClickToken:
            raise NotFoundError("not a click link") from None
        links = self._edition_links(target.edition_id)
        url = links.urls.get(article_id)
        if url is None:
            raise NotFoundError(f"no article {article_id} in this link's edition")
        newsletter = self.settings.newsletters.get(links.newsletter)
        if target.delivery_id != TEST_COPY and newsletter is not None and newsletter.track_clicks:
            from sqlalchemy.exc import SQLAlchemyError

            try:
                self._record_click(
                    target.delivery_id,
                    target.edition_id,
                    article_id,
                    method,
                    agent,
                    now or datetime.now(UTC),
                    newsletter.per_reader_stats,
                )
            except (SQLAlchemyError, DigestError) as error:  # the figures miss it, not the reader
                import logging

                reason = str(getattr(error, "orig", None) or error).strip().splitlines()
                logging.getLogger("digest.clicks").warning(
                    "a click on edition %s was not recorded: %s",
                    target.edition_id,
                    reason[0] if reason else type(error).__name__,
                )
        return url

    def _edition_links(self, edition_id: int) -> EditionLinks:
        """The edition's article links, kept once it is sending or sent (they are fixed then)."""
        from digest.edition import EditionStatus
        from digest.errors import NotFoundError

        known = self._click_links.get(edition_id)
        if known is not None:
            return known
        try:
            edition = self.store.get_edition(edition_id)
        except NotFoundError:
            raise NotFoundError("this link's edition is gone") from None
        links = EditionLinks(
            edition.newsletter,
            {a.id: a.url for item in edition.items for a in item.articles if a.id and a.url},
        )
        if edition.status in (EditionStatus.SENDING, EditionStatus.SENT):
            if len(self._click_links) >= CLICK_EDITIONS_KEPT:
                self._click_links.pop(next(iter(self._click_links)))
            self._click_links[edition_id] = links
        return links

    def _record_click(
        self,
        delivery_id: int,
        edition_id: int,
        article_id: int,
        method: str,
        agent: str | None,
        now: datetime,
        per_reader: bool,
    ) -> None:
        from digest.clicks import Reason, arrival_reason, reader_key
        from digest.store.clicks import NewClick

        clicks = self.store.clicks
        delivery = clicks.delivery(delivery_id)
        if delivery is None or delivery.edition_id != edition_id:
            return  # signed by us, but no such delivery (any more): nothing to count
        settings = self.settings
        reason = arrival_reason(
            method, agent, now, delivery.delivered_at, settings.click_scanner_delay
        )
        key = None
        if reason != Reason.HEAD:
            salt = clicks.salt(edition_id, now, settings.click_key_lifetime)
            if salt is None:
                reason = reason or Reason.CLOSED
            else:
                key = reader_key(salt, delivery_id)
        clicks.record(
            NewClick(
                edition_id=edition_id,
                article_id=article_id,
                clicked_at=now,
                reason=reason.value if reason else "",
                reader_key=key,
                subject_index=delivery.subject_index,
                delivery_id=delivery_id if per_reader else None,
            )
        )
        self._forget_click_keys_now_and_then(now)

    def _forget_click_keys_now_and_then(self, now: datetime) -> None:
        """`digest serve` forgets old salts itself too (at most hourly): a server that runs
        without `digest run` must not keep them."""
        last = self._click_keys_checked
        if last is None or not timedelta(0) <= now - last < timedelta(hours=1):
            self._click_keys_checked = now
            self.forget_click_keys(now)

    def forget_click_keys(self, now: datetime | None = None) -> int:
        """Forget the salts of editions whose click_key_lifetime is over (`digest run` does it
        on every tick): their stored keys can no longer be linked to any delivery, and their
        later clicks are not counted. Returns how many editions were closed."""
        return self.store.clicks.forget_salts(
            now or datetime.now(UTC), self.settings.click_key_lifetime
        )

    def click_figures(self, edition: Edition) -> ClickFigures | None:
        """An edition's reading figures (distinct people per article, per section and per
        subject line; what was left out and why), or None when it has none to show: its
        newsletter does not track clicks, or it was not sent yet, and nothing was recorded."""
        from digest.clicks import figures
        from digest.edition import EditionStatus

        assert edition.id is not None
        newsletter = self.settings.newsletters.get(edition.newsletter)
        clicks = self.store.clicks.clicks(edition.id)
        started = edition.status in (EditionStatus.SENDING, EditionStatus.SENT)
        if not clicks and not (newsletter is not None and newsletter.track_clicks and started):
            return None
        return figures(edition, clicks, self.settings.click_scanner_delay)

    def subject_line_clicks(self, edition: Edition) -> dict[int, int]:
        """Distinct people who clicked, per subject line (0: the edition's subject, N: its Nth
        test line), with the scanners left out: what an A/B test of subject lines decides by.
        Empty when nothing was counted."""
        found = self.click_figures(edition)
        return dict(found.by_subject) if found is not None else {}

    def delivery_outcomes(self, edition: Edition) -> list[DeliveryOutcome]:
        """Every reader's outcome for the edition, in delivery order (the report's CSV)."""
        assert edition.id is not None
        return self.store.deliveries.outcomes(edition.id)

    def subscriber_lists(self) -> dict[str, dict[str, int]]:
        """Each list (stored, or named by a newsletter) with its subscribers counted by
        status."""
        from digest.subscribers.model import Status

        stats = self.store.subscribers.stats()
        for newsletter in self.settings.newsletters.values():
            for name in newsletter.lists:
                stats.setdefault(name, {status.value: 0 for status in Status})
        return dict(sorted(stats.items()))

    def _known_list(self, list_name: str) -> int:
        """The id of a stored list, or of one a newsletter names (created on first use)."""
        from digest.errors import NotFoundError

        configured = {
            n for newsletter in self.settings.newsletters.values() for n in newsletter.lists
        }
        if list_name in configured:
            return self.store.subscribers.ensure_list(list_name)
        try:
            return self.store.subscribers.list_id(list_name)
        except NotFoundError:
            raise NotFoundError(f"no subscriber list named {list_name!r}") from None

    def find_subscribers(
        self, list_name: str, text: str = "", page: int = 1, per_page: int = 50
    ) -> tuple[list[Subscriber], int]:
        """One page (from 1) of a list's subscribers whose address or name contains `text`,
        and how many match in all."""
        offset = (max(page, 1) - 1) * per_page
        return self.store.subscribers.search(self._known_list(list_name), text, offset, per_page)

    def add_subscriber(
        self,
        list_name: str,
        email: str,
        name: str = "",
        origin: str = "editor",
        *,
        fields: dict[str, str] | None = None,
        topics: str | None = None,
        frequency: str | None = None,
        new_list: bool = False,
    ) -> tuple[Subscriber, bool]:
        """Add one address to a list as an editor did (consent recorded as theirs); a known
        address is merged, never resubscribed. The list must exist or be a newsletter's,
        unless `new_list` (the command line makes it). `topics` (keys separated by ";", "," or
        spaces; "" is everything) and `frequency` must be declared by the list's newsletters;
        None keeps a known reader's. (subscriber, created); FieldError on a bad value."""
        from digest.preferences import topic_keys
        from digest.store.subscribers import NewSubscriber
        from digest.store.tables import utcnow
        from digest.subscribers.model import InvalidAddress, normalise_address

        try:
            address = normalise_address(email)
        except InvalidAddress as error:
            raise FieldError("email", str(error)) from None
        subscribers = self.store.subscribers
        list_id = subscribers.ensure_list(list_name) if new_list else self._known_list(list_name)
        choices = self.list_choices(list_name)
        person = NewSubscriber(
            email=address,
            name=name,
            fields=fields or {},
            source=origin,
            consent_at=utcnow(),
            consent_origin=origin,
            topics=None if topics is None else choices.stored_topics(topic_keys(topics)),
            frequency=None if frequency is None else choices.stored_frequency(frequency),
        )
        return subscribers.add(list_id, person)

    def unsubscribe_address(self, list_name: str, email: str) -> Subscriber:
        """Unsubscribe an address from a list at once (a bounce or complaint stays one)."""
        from digest.errors import NotFoundError
        from digest.subscribers.model import SUPPRESSED, Status

        subscribers = self.store.subscribers
        found = subscribers.find(subscribers.list_id(list_name), email)
        if found is None:
            raise NotFoundError(f"{email} is not on list {list_name}")
        if found.status in SUPPRESSED:
            return found
        return subscribers.set_status(found.id, Status.UNSUBSCRIBED)

    def import_subscriber_file(
        self,
        path: Path,
        list_name: str,
        *,
        pending: bool = False,
        rejects_path: Path | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """`digest subscribers import`: the CSV merged into the list, its topics and
        frequency checked against what the list's newsletters declare, bad rows reported."""
        from digest.subscribers.importer import import_csv
        from digest.subscribers.model import Status

        return import_csv(
            path,
            self.store.subscribers,
            list_name,
            status=Status.PENDING if pending else Status.SUBSCRIBED,
            rejects_path=rejects_path,
            on_progress=on_progress,
            choices=self.list_choices(list_name),
        )

    def import_subscribers(
        self, list_name: str, filename: str, data: bytes, pending: bool = False
    ) -> tuple[ImportReport, bytes]:
        """An uploaded CSV imported as `digest subscribers import` imports a file: the report,
        and the rejected rows as CSV (line, reason, the row; empty when none)."""
        import tempfile

        self._known_list(list_name)  # no new list from a typo
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(filename).name)
        with tempfile.TemporaryDirectory(prefix="digest-import-") as folder:
            path = Path(folder) / (safe or "upload.csv")
            path.write_bytes(data)
            try:
                report = self.import_subscriber_file(
                    path, list_name, pending=pending, rejects_path=Path(folder) / "rejects.csv"
                )
            except DigestError as error:  # named by the upload's name, not the copy's path
                raise DigestError(str(error).replace(str(path), safe or "upload.csv")) from None
            rejects = report.rejects_path.read_bytes() if report.rejects_path else b""
        return report, rejects

    def export_subscribers(self, list_name: str, out: TextIO) -> int:
        """A list as CSV in the import format (statuses kept); returns how many."""
        from digest.subscribers.exporter import export_csv

        self._known_list(list_name)
        return export_csv(self.store.subscribers, list_name, out)
