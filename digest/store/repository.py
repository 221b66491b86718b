"""Reading and writing articles and editions. Callers see pydantic values, never ORM rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from digest.articles import Article
from digest.edition import Edition, EditionStatus, Item, Removed, Reopened, Section
from digest.errors import DigestError, FieldError, NotFoundError, StaleEdition
from digest.run_plan import BUILD, SlotKey, schedule_key
from digest.store.claims import BatchClaims
from digest.store.clicks import ClickRepository
from digest.store.db import make_engine, migrate
from digest.store.deliveries import DeliveryRepository
from digest.store.delivery_events import DeliveryEventRepository
from digest.store.feeds import FeedRepository
from digest.store.locks import exclusive
from digest.store.schedule import ScheduleRepository, link_edition
from digest.store.send_pauses import SendPauseRepository
from digest.store.subscribers import SubscriberRepository
from digest.store.summary_cache import SummaryCache
from digest.store.tables import (
    ArticleRow,
    DeliveryRow,
    EditionRow,
    ItemRow,
    RemovedRow,
    SectionRow,
    utcnow,
)
from digest.store.webhook_events import WebhookEventRepository
from digest.summarize import Summary


@dataclass(frozen=True)
class AddOutcome:
    """One article offered to the store: stored now, or the id of the copy already there."""

    article: Article
    duplicate_of: int | None = None

    @property
    def added(self) -> bool:
        return self.duplicate_of is None


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.subscribers = SubscriberRepository(engine)
        self.deliveries = DeliveryRepository(engine)
        self.feeds = FeedRepository(engine)
        self.summary_cache = SummaryCache(engine)
        self.schedule = ScheduleRepository(engine)
        self.webhook_events = WebhookEventRepository(engine)
        self.delivery_events = DeliveryEventRepository(engine)
        self.clicks = ClickRepository(engine)
        self.send_pauses = SendPauseRepository(engine)
        self.claims = BatchClaims(engine, self.deliveries)

    @property
    def shares_work(self) -> bool:
        """Several workers may share a send (PostgreSQL: digest.store.claims); SQLite has one
        writer at a time, so one worker."""
        return self.engine.dialect.name == "postgresql"

    def lock(self, name: str, wait: float = 0.0) -> AbstractContextManager[None]:
        """A lock held across processes for the block; raises LockBusy if it is still taken
        after `wait` seconds."""
        return exclusive(self.engine, name, wait)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # Articles

    def add_articles(self, articles: Sequence[Article]) -> list[AddOutcome]:
        """Store each new article; an article with a known URL or the same text is a duplicate."""
        outcomes = []
        for article in articles:
            # One transaction per article: a failure or a concurrent insert of the same article
            # affects only that article.
            for _attempt in range(2):
                try:
                    outcomes.append(self._add_one(article))
                    break
                except IntegrityError:
                    continue  # someone stored it meanwhile: the next try finds it
            else:
                raise DigestError(f"could not store article {article.title!r}")
        return outcomes

    def _add_one(self, article: Article) -> AddOutcome:
        with self.session() as session:
            conditions = [ArticleRow.content_hash == article.content_hash]
            if article.url_key:
                conditions.append(ArticleRow.url_key == article.url_key)
            existing = session.scalar(select(ArticleRow.id).where(or_(*conditions)).limit(1))
            if existing is not None:
                return AddOutcome(article.model_copy(update={"id": existing}), existing)
            row = ArticleRow(
                url=article.url,
                url_key=article.url_key,
                content_hash=article.content_hash,
                title=article.title,
                source=article.source,
                author=article.author,
                published=article.published,
                tags=list(article.tags),
                keywords=list(article.keywords),
                text=article.text,
                feed=article.feed,
                image_url=article.image_url,
                image_width=article.image_width,
                image_height=article.image_height,
            )
            session.add(row)
            session.flush()
            return AddOutcome(article.model_copy(update={"id": row.id}))

    def get_article(self, article_id: int) -> Article:
        with self.session() as session:
            row = session.get(ArticleRow, article_id)
            if row is None:
                raise NotFoundError(f"no article with id {article_id}")
            return _article(row)

    def list_articles(self, limit: int | None = None) -> list[Article]:
        with self.session() as session:
            query = select(ArticleRow).order_by(ArticleRow.id.desc()).limit(limit)
            return [_article(row) for row in session.scalars(query)]

    def unused_articles(
        self,
        newsletter: str,
        limit: int,
        feeds: Sequence[str] | None = None,
        since: datetime | None = None,
        frequencies: Sequence[str] = ("",),
    ) -> list[Article]:
        """Articles not in any earlier edition of this newsletter of these frequencies (a
        weekly edition takes the week's articles, the daily editions' too), newest first; with
        `feeds`, only those added by hand or collected from these feeds; with `since`, only
        those published (or, lacking a date, added) since then."""
        used = (
            select(ItemRow.id)
            .join(EditionRow, EditionRow.id == ItemRow.edition_id)
            .where(
                ItemRow.article_id == ArticleRow.id,
                EditionRow.newsletter == newsletter,
                EditionRow.status != EditionStatus.CANCELLED.value,
                EditionRow.frequency.in_(list(frequencies)),
            )
        )
        conditions = [~exists(used)]
        if feeds is not None:
            conditions.append(or_(ArticleRow.feed.is_(None), ArticleRow.feed.in_(list(feeds))))
        if since is not None:
            conditions.append(func.coalesce(ArticleRow.published, ArticleRow.added_at) >= since)
        query = (
            select(ArticleRow)
            .where(*conditions)
            .order_by(
                func.coalesce(ArticleRow.published, ArticleRow.added_at).desc(),
                ArticleRow.id.desc(),
            )
            .limit(limit)
        )
        with self.session() as session:
            return [_article(row) for row in session.scalars(query)]

    def stored_summaries(self, newsletter: str, article_ids: Sequence[int]) -> dict[int, Summary]:
        """The latest summary an edition of the newsletter (a cancelled one aside) holds for
        each of these articles, as stored (an editor's corrections included)."""
        if not article_ids:
            return {}
        query = (
            select(
                ItemRow.article_id, ItemRow.summary, ItemRow.summary_method, ItemRow.summary_note
            )
            .join(EditionRow, EditionRow.id == ItemRow.edition_id)
            .where(
                ItemRow.article_id.in_(list(article_ids)),
                EditionRow.newsletter == newsletter,
                EditionRow.status != EditionStatus.CANCELLED.value,
                ItemRow.also_of.is_(None),  # another report's row carries no summary of its own
            )
            .order_by(EditionRow.id)
        )
        with self.session() as session:
            return {
                article_id: Summary(text=text, method=method, note=note or "")
                for article_id, text, method, note in session.execute(query)
                if text
            }

    def articles_in_no_edition(self, limit: int) -> list[Article]:
        """Articles that no edition holds (a cancelled one aside), newest first: what the next
        build will choose from, shown to the editor with what the intake guessed."""
        used = (
            select(ItemRow.id)
            .join(EditionRow, EditionRow.id == ItemRow.edition_id)
            .where(
                ItemRow.article_id == ArticleRow.id,
                EditionRow.status != EditionStatus.CANCELLED.value,
            )
        )
        query = select(ArticleRow).where(~exists(used)).order_by(ArticleRow.id.desc()).limit(limit)
        with self.session() as session:
            return [_article(row) for row in session.scalars(query)]

    def update_article(self, article: Article) -> Article:
        """Replace what an editor may fix of a stored article: title, byline, source, date and
        URL (never its text, so its content hash holds). Refused while an approved, sending or
        sent edition holds it: readers get what was approved."""
        if article.id is None:
            raise ValueError("update_article needs a stored article")
        with self.session() as session:
            row = session.get(ArticleRow, article.id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no article with id {article.id}")
            self._check_unlocked(session, article.id)
            if article.url_key and article.url_key != row.url_key:
                other = session.scalar(
                    select(ArticleRow.id).where(ArticleRow.url_key == article.url_key).limit(1)
                )
                if other is not None:
                    raise FieldError("url", f"article {other} already has this URL")
            row.title, row.url, row.url_key = article.title, article.url, article.url_key
            row.source, row.author = article.source, article.author
            row.published = article.published
            try:
                session.flush()
            except IntegrityError:
                raise FieldError("url", "another article already has this URL") from None
            return _article(row)

    def _check_unlocked(self, session: Session, article_id: int) -> None:
        locked = session.execute(
            select(EditionRow.id, EditionRow.status)
            .join(ItemRow, ItemRow.edition_id == EditionRow.id)
            .where(
                ItemRow.article_id == article_id,
                EditionRow.status.in_(
                    [
                        s.value
                        for s in (EditionStatus.APPROVED, EditionStatus.SENDING, EditionStatus.SENT)
                    ]
                ),
            )
            .limit(1)
        ).first()
        if locked is not None:
            raise DigestError(
                f"article {article_id} is in edition {locked.id}, which is {locked.status}: "
                "only articles of drafts can be changed"
            )

    def drafts_holding(
        self, article_id: int, statuses: Sequence[EditionStatus] = (EditionStatus.DRAFT,)
    ) -> list[Edition]:
        """The draft (or other `statuses`) editions that hold an article: their copy may quote
        its headline."""
        query = (
            select(EditionRow)
            .options(*_EDITION_LOAD)
            .join(ItemRow, ItemRow.edition_id == EditionRow.id)
            .where(
                ItemRow.article_id == article_id,
                EditionRow.status.in_([status.value for status in statuses]),
            )
            .order_by(EditionRow.id)
        )
        with self.session() as session:
            return [_edition(row) for row in session.scalars(query).unique()]

    # Editions

    def create_edition(self, edition: Edition) -> Edition:
        """Store a new edition under the next free number of its newsletter."""
        for _attempt in range(5):
            try:
                with self.session() as session:
                    number = (
                        session.scalar(
                            select(func.max(EditionRow.number)).where(
                                EditionRow.newsletter == edition.newsletter
                            )
                        )
                        or 0
                    ) + 1
                    row = EditionRow(newsletter=edition.newsletter, number=number)
                    _fill_edition(row, edition)
                    session.add(row)
                    session.flush()
                    if edition.send_at is not None:
                        # A build `digest run` claimed for this scheduled time names its edition
                        # in this same transaction: a run killed right after leaves no draft
                        # that its slot does not know (the next tick adopts it).
                        key = schedule_key(edition.newsletter, edition.frequency)
                        slot = SlotKey(key, edition.send_at, BUILD)
                        link_edition(session, slot, row.id)
                    return _edition(row)
            except IntegrityError:
                continue  # a concurrent build took the number: take the next one
        raise DigestError(f"could not number a new edition of {edition.newsletter!r}")

    def next_edition_number(self, newsletter: str) -> int:
        with self.session() as session:
            top = session.scalar(
                select(func.max(EditionRow.number)).where(EditionRow.newsletter == newsletter)
            )
            return (top or 0) + 1

    def get_edition(self, edition_id: int) -> Edition:
        with self.session() as session:
            return _edition(self._edition_row(session, edition_id))

    def editions_with_status(
        self,
        newsletter: str,
        statuses: Sequence[EditionStatus],
        frequencies: Sequence[str] | None = None,
    ) -> list[Edition]:
        query = (
            select(EditionRow)
            .options(*_EDITION_LOAD)
            .where(
                EditionRow.newsletter == newsletter,
                EditionRow.status.in_([status.value for status in statuses]),
            )
            .order_by(EditionRow.id)
        )
        if frequencies is not None:
            query = query.where(EditionRow.frequency.in_(list(frequencies)))
        with self.session() as session:
            return [_edition(row) for row in session.scalars(query)]

    def has_sent_edition(self, newsletter: str) -> bool:
        """Whether any edition of the newsletter has begun sending (or been sent): its first
        send is behind it."""
        started = [EditionStatus.SENDING.value, EditionStatus.SENT.value]
        query = select(
            exists().where(EditionRow.newsletter == newsletter, EditionRow.status.in_(started))
        )
        with self.session() as session:
            return bool(session.scalar(query))

    def list_editions(self, newsletter: str | None = None) -> list[Edition]:
        query = select(EditionRow).options(*_EDITION_LOAD).order_by(EditionRow.id.desc())
        if newsletter:
            query = query.where(EditionRow.newsletter == newsletter)
        with self.session() as session:
            return [_edition(row) for row in session.scalars(query)]

    def update_edition(self, edition: Edition, expected_version: int | None = None) -> Edition:
        """Replace a draft's subject, preheader, intro, sections and summaries; with
        `expected_version`, only if the stored edition is still at it (else StaleEdition)."""
        if edition.id is None:
            raise ValueError("update_edition needs a stored edition")
        with self.session() as session:
            # The version moves on first, in one conditional UPDATE, before anything is read:
            # it takes the write lock (SQLite) or the row's lock (PostgreSQL), so of saves made
            # on one version exactly one lands and the others are told. (Read first, two saves
            # on SQLite both saw the old version and the second overwrote the first.)
            claim = update(EditionRow).where(EditionRow.id == edition.id)
            if expected_version is not None:
                claim = claim.where(EditionRow.version == expected_version)
            if not session.execute(claim.values(version=EditionRow.version + 1)).rowcount:  # type: ignore[attr-defined]
                now = session.scalar(select(EditionRow.version).where(EditionRow.id == edition.id))
                if now is None:
                    raise NotFoundError(f"no edition with id {edition.id}")
                raise StaleEdition(edition.id, now)
            row = self._edition_row(session, edition.id, for_update=True)
            if row.status != EditionStatus.DRAFT.value:
                raise DigestError(
                    f"edition {edition.id} is {row.status}: only a draft can be edited"
                )
            held = edition.article_ids
            missing = held - set(
                session.scalars(select(ArticleRow.id).where(ArticleRow.id.in_(list(held))))
            )
            if missing:
                raise DigestError(f"no article with id {sorted(map(str, missing))[0]}")
            row.sections.clear()
            row.removed.clear()
            session.flush()
            _fill_edition(row, edition)
            session.flush()
            session.refresh(row)
            return _edition(row)

    def subject_test_state(self, edition_id: int) -> dict[str, Any] | None:
        """The stored state of an edition's A/B subject test (digest.subject_test)."""
        with self.session() as session:
            state = session.execute(
                select(EditionRow.subject_test).where(EditionRow.id == edition_id)
            ).scalar()
        return dict(state) if state else None

    def save_subject_test_state(self, edition_id: int, state: dict[str, Any]) -> None:
        with self.session() as session:
            session.execute(
                update(EditionRow).where(EditionRow.id == edition_id).values(subject_test=state)
            )

    def change_status(
        self,
        edition_id: int,
        to: EditionStatus,
        allowed_from: Sequence[EditionStatus],
        send_at: datetime | None = None,
    ) -> bool:
        """Move an edition to a new status if it is in one of allowed_from; True if it moved.

        A conditional UPDATE, so that of two runs racing for the same edition only one wins.
        """
        values: dict[str, object] = {
            "status": to.value,
            "updated_at": utcnow(),
            "version": EditionRow.version + 1,
        }
        if to != EditionStatus.DRAFT:
            values["reopened"] = None  # it says why a draft is a draft again
        if send_at is not None:
            values["send_at"] = send_at
        with self.session() as session:
            result = session.execute(
                update(EditionRow)
                .where(
                    EditionRow.id == edition_id,
                    EditionRow.status.in_([status.value for status in allowed_from]),
                )
                .values(**values)
            )
            moved = bool(result.rowcount)  # type: ignore[attr-defined]
            if moved and to in (EditionStatus.SENDING, EditionStatus.SENT):
                # Removed stories are offered back only while the edition can still change.
                session.execute(delete(RemovedRow).where(RemovedRow.edition_id == edition_id))
            return moved

    def reopen_edition(
        self, edition_id: int, allowed_from: Sequence[EditionStatus], why: Reopened
    ) -> bool:
        """Put an edition back to draft if it is in one of allowed_from and no reader has a
        delivery of it; True if it moved. One conditional UPDATE: of a send claiming it and
        this, only one wins, and an edition a send has touched never goes back."""
        started = select(DeliveryRow.id).where(DeliveryRow.edition_id == edition_id).exists()
        with self.session() as session:
            result = session.execute(
                update(EditionRow)
                .where(
                    EditionRow.id == edition_id,
                    EditionRow.status.in_([status.value for status in allowed_from]),
                    ~started,
                )
                .values(
                    status=EditionStatus.DRAFT.value,
                    reopened=why.value,
                    updated_at=utcnow(),
                    version=EditionRow.version + 1,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _edition_row(
        self, session: Session, edition_id: int, for_update: bool = False
    ) -> EditionRow:
        query = select(EditionRow).options(*_EDITION_LOAD).where(EditionRow.id == edition_id)
        if for_update:
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise NotFoundError(f"no edition with id {edition_id}")
        return row


_EDITION_LOAD = (
    selectinload(EditionRow.sections).selectinload(SectionRow.items).selectinload(ItemRow.article),
    selectinload(EditionRow.removed).selectinload(RemovedRow.article),
)


def open_store(database_url: str, busy_timeout: float = 10.0) -> Store:
    """Connect and migrate; the one way the rest of digest gets a Store."""
    engine = make_engine(database_url, busy_timeout)
    migrate(engine)
    return Store(engine)


def _fill_edition(row: EditionRow, edition: Edition) -> None:
    row.issue_date = edition.date
    row.subject = edition.subject
    row.preheader = edition.preheader
    row.intro = edition.intro
    row.status = edition.status.value
    row.send_at = edition.send_at
    row.reopened = edition.reopened.value if edition.reopened else None
    row.frequency = edition.frequency
    row.subject_tests = list(edition.subject_tests) or None
    row.updated_at = utcnow()
    for position, section in enumerate(edition.sections):
        section_row = SectionRow(position=position, title=section.title)
        row.sections.append(section_row)
        for item_position, item in enumerate(section.items):
            if item.article.id is None:
                raise ValueError("an edition can only hold stored articles")
            section_row.items.append(
                ItemRow(
                    edition=row,
                    position=item_position,
                    article_id=item.article.id,
                    summary=item.summary.text,
                    summary_method=item.summary.method,
                    summary_note=item.summary.note,
                    show_image=item.show_image,
                )
            )
            for report_position, report in enumerate(item.also):
                if report.id is None:
                    raise ValueError("an edition can only hold stored articles")
                section_row.items.append(
                    ItemRow(
                        edition=row,
                        position=report_position,
                        article_id=report.id,
                        summary="",
                        summary_method=_REPORT_METHOD,
                        also_of=item_position,
                    )
                )
    for position, taken in enumerate(edition.removed):
        item = taken.item
        row.removed.append(
            RemovedRow(
                position=position,
                article_id=_stored_id(item.article),
                section_title=taken.section,
                section_index=taken.index,
                section_position=taken.position,
                summary=item.summary.text,
                summary_method=item.summary.method,
                summary_note=item.summary.note,
                show_image=item.show_image,
            )
        )
        row.removed.extend(
            RemovedRow(
                position=report_position,
                article_id=_stored_id(report),
                also_of=position,
                section_title="",
                section_index=0,
                section_position=0,
                summary="",
                summary_method=_REPORT_METHOD,
                summary_note="",
            )
            for report_position, report in enumerate(item.also)
        )


def _stored_id(article: Article) -> int:
    if article.id is None:
        raise ValueError("an edition can only hold stored articles")
    return article.id


def _article(row: ArticleRow) -> Article:
    return Article(
        id=row.id,
        title=row.title,
        url=row.url,
        source=row.source,
        author=row.author,
        published=row.published,
        tags=list(row.tags or []),
        keywords=list(row.keywords or []),
        text=row.text,
        feed=row.feed,
        image_url=row.image_url,
        image_width=row.image_width,
        image_height=row.image_height,
    )


# What an "also reported by" row holds in place of a summary: it is shown under its story's.
_REPORT_METHOD = "report"


def _items(rows: Sequence[ItemRow]) -> list[Item]:
    """A section's stories in order, each with its other reports."""
    return [_item(story, reports) for story, reports in _stories(rows)]


_Row = TypeVar("_Row", ItemRow, RemovedRow)


def _stories(rows: Sequence[_Row]) -> list[tuple[_Row, list[_Row]]]:
    """The stories among the rows in order, each with the rows of its other reports."""
    reports: dict[int, list[_Row]] = {}
    for r in rows:
        if r.also_of is not None:
            reports.setdefault(r.also_of, []).append(r)
    stories = sorted((r for r in rows if r.also_of is None), key=lambda r: r.position)
    return [
        (story, sorted(reports.get(story.position, []), key=lambda r: r.position))
        for story in stories
    ]


def _item(story: ItemRow | RemovedRow, reports: Sequence[ItemRow | RemovedRow]) -> Item:
    return Item(
        article=_article(story.article),
        summary=Summary(text=story.summary, method=story.summary_method, note=story.summary_note),
        also=[_article(r.article) for r in reports],
        show_image=story.show_image,
    )


def _edition(row: EditionRow) -> Edition:
    return Edition(
        id=row.id,
        newsletter=row.newsletter,
        number=row.number,
        date=row.issue_date,
        subject=row.subject,
        preheader=row.preheader,
        intro=row.intro,
        status=EditionStatus(row.status),
        send_at=row.send_at,
        reopened=Reopened(row.reopened) if row.reopened else None,
        version=row.version or 0,
        frequency=row.frequency or "",
        subject_tests=list(row.subject_tests or []),
        sections=[
            Section(title=section.title, items=_items(section.items)) for section in row.sections
        ],
        removed=_removed(row.removed),
    )


def _removed(rows: Sequence[RemovedRow]) -> list[Removed]:
    """The removed stories, latest last, each with its other reports."""
    return [
        Removed(
            item=_item(story, reports),
            section=story.section_title,
            index=story.section_index,
            position=story.section_position,
        )
        for story, reports in _stories(rows)
    ]
