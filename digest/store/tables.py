"""SQLAlchemy tables. The same definitions serve SQLite and PostgreSQL; Alembic migrates them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import text as sql_text
from sqlalchemy.sql.expression import true


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes in UTC on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ArticleRow(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str | None] = mapped_column(String(2048))
    url_key: Mapped[str | None] = mapped_column(String(2048), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(200))
    author: Mapped[str | None] = mapped_column(String(300))
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    text: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The feed it came from (None: added by hand); newsletters take articles of their own feeds.
    feed: Mapped[str | None] = mapped_column(String(2048), index=True)
    # The picture its page or feed item names (og:image, media:content…), with its size if known.
    image_url: Mapped[str | None] = mapped_column(String(2048))
    image_width: Mapped[int | None] = mapped_column(Integer)
    image_height: Mapped[int | None] = mapped_column(Integer)


class EditionRow(Base):
    __tablename__ = "editions"
    __table_args__ = (UniqueConstraint("newsletter", "number", name="uq_editions_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    newsletter: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column(Integer)
    issue_date: Mapped[date] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(Text)
    preheader: Mapped[str] = mapped_column(Text, default="")
    intro: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Why a draft is a draft again (digest.edition.Reopened), or NULL.
    reopened: Mapped[str | None] = mapped_column(String(16))
    # One more on every stored change: an editor's save names the version it was based on.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The newsletter's frequency it is built for ("" = its main one, or the only one).
    frequency: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # An A/B test of subject lines (2-4), and its state once sending began (digest.subject_test).
    subject_tests: Mapped[list[str] | None] = mapped_column(JSON)
    subject_test: Mapped[dict[str, object] | None] = mapped_column(JSON)

    sections: Mapped[list[SectionRow]] = relationship(
        back_populates="edition",
        order_by="SectionRow.position",
        cascade="all, delete-orphan",
    )
    removed: Mapped[list[RemovedRow]] = relationship(
        order_by="RemovedRow.position", cascade="all, delete-orphan"
    )


class SectionRow(Base):
    __tablename__ = "edition_sections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)

    edition: Mapped[EditionRow] = relationship(back_populates="sections")
    items: Mapped[list[ItemRow]] = relationship(
        back_populates="section",
        order_by="ItemRow.position",
        cascade="all, delete-orphan",
    )


class ItemRow(Base):
    __tablename__ = "edition_items"
    __table_args__ = (
        UniqueConstraint("edition_id", "article_id", name="uq_edition_items_article"),
        Index("ix_edition_items_article", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    section_id: Mapped[int] = mapped_column(ForeignKey("edition_sections.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="RESTRICT"))
    summary: Mapped[str] = mapped_column(Text)
    summary_method: Mapped[str] = mapped_column(String(32))
    summary_note: Mapped[str] = mapped_column(Text, default="")
    # Another report of the story at this position of the section (None: a story of its own,
    # shown with its summary). Such rows keep the article out of later editions like any item.
    also_of: Mapped[int | None] = mapped_column(Integer)
    # The editor may leave the article's picture out of this edition.
    show_image: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    section: Mapped[SectionRow] = relationship(back_populates="items")
    edition: Mapped[EditionRow] = relationship()
    article: Mapped[ArticleRow] = relationship()


class RemovedRow(Base):
    """A story an editor removed from a draft (digest.edition.Removed), kept until the edition
    is sent, and its other reports (`also_of` names the story's row position). Holding it
    keeps no article out of later editions."""

    __tablename__ = "edition_removed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="RESTRICT"))
    also_of: Mapped[int | None] = mapped_column(Integer)
    section_title: Mapped[str] = mapped_column(Text, default="")
    section_index: Mapped[int] = mapped_column(Integer, default=0)
    section_position: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_method: Mapped[str] = mapped_column(String(32), default="")
    summary_note: Mapped[str] = mapped_column(Text, default="")
    show_image: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    article: Mapped[ArticleRow] = relationship()


class ListRow(Base):
    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscriberRow(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("list_id", "email_key", name="uq_subscribers_list_email"),
        Index("ix_subscribers_list_status", "list_id", "status", "id"),
        Index("ix_subscribers_email_key", "email_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    # The address lower-cased: one subscriber per address and list, whatever the case.
    email_key: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    fields: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_origin: Mapped[str] = mapped_column(String(300), default="")
    # The newsletter topics the reader follows, sorted and comma-joined ("" = everything),
    # and the frequency chosen ("" = the newsletter's main one).
    # (Server defaults only: the bulk upsert names its columns itself.)
    topics: Mapped[str] = mapped_column(Text, server_default="")
    frequency: Mapped[str] = mapped_column(String(32), server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BatchRow(Base):
    """One request to a provider: recorded before it is made, closed when it is answered."""

    __tablename__ = "send_batches"
    __table_args__ = (Index("ix_send_batches_edition_status", "edition_id", "list_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    # The batch's deliveries: the pending ones of this variant and subject line in this id
    # range of its edition and list (one request carries one rendered email).
    variant: Mapped[str] = mapped_column(Text, default="", server_default="")
    subject_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_delivery_id: Mapped[int] = mapped_column(Integer)
    last_delivery_id: Mapped[int] = mapped_column(Integer)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the provider's events for this edition last arrived while the batch's outcome was
    # open: evidence that its webhook works, so a batch no event names was never taken.
    events_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # PostgreSQL's workers that share a send (digest.store.claims): the one that claimed the
    # batch, whose deliveries are then marked with the batch (the range alone does not say).
    worker_id: Mapped[int | None] = mapped_column(Integer)


class WorkerRow(Base):
    """A process taking part in sends on PostgreSQL: alive while it holds the advisory lock
    on its id (digest.store.claims)."""

    __tablename__ = "send_workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryRow(Base):
    """Who gets (or got) which edition. Holds no address: erasing a subscriber erases it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
        # The queue: a batch is the next pending deliveries of one variant and subject line.
        Index(
            "ix_deliveries_queue",
            "edition_id",
            "list_id",
            "status",
            "variant",
            "subject_index",
            "id",
        ),
        Index("ix_deliveries_subscriber", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("send_batches.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Temporary refusals: how many so far, since when, and when to try again.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_deferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The copy of the edition this reader gets (digest.variants: the topics followed, stories
    # already sent left out; "" = the whole edition), and the subject line of an A/B test
    # (0 = the edition's subject; N = its Nth test line, in the test; -N = line N, the winner,
    # sent to the rest).
    variant: Mapped[str] = mapped_column(Text, default="", server_default="")
    subject_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class FeedRow(Base):
    """A feed's fetch state: validators for conditional GET, and how its last fetch went."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class FeedItemRow(Base):
    """A feed entry already collected, by GUID: it is never collected twice."""

    __tablename__ = "feed_items"
    __table_args__ = (UniqueConstraint("feed_id", "guid", name="uq_feed_items_guid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(2048))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleRunRow(Base):
    """What `digest run` did for one scheduled time of a newsletter: each action once."""

    __tablename__ = "schedule_runs"
    __table_args__ = (
        UniqueConstraint("newsletter", "slot", "action", name="uq_schedule_runs_slot"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    newsletter: Mapped[str] = mapped_column(String(64))
    slot: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SummaryCacheRow(Base):
    """LLM summaries by article text, model and prompt version: asked for once."""

    __tablename__ = "summary_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEventRow(Base):
    """A provider event (SendGrid's sg_event_id) already applied: a replay changes nothing."""

    __tablename__ = "webhook_events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DeliveryEventRow(Base):
    """What the provider's events said of one delivery (delivered, bounce, spamreport…): once
    per kind, for the edition's send report."""

    __tablename__ = "delivery_events"
    __table_args__ = (
        UniqueConstraint("delivery_id", "kind", name="uq_delivery_events_kind"),
        Index("ix_delivery_events_edition", "edition_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryEventCountRow(Base):
    """How many of an edition's readers have an event of each kind, kept up in the transaction
    that records the event: the complaint and bounce guard reads three rows, whatever the
    size of the send, instead of counting a million events on each look."""

    __tablename__ = "delivery_event_counts"

    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class SendPauseRow(Base):
    """A send paused by the complaint and bounce guard (digest.send.guard): why and when, and
    once resumed, by whom, when, and the event counts at that moment (the guard's baseline
    from then on). At most one pause of an edition is open (not resumed) at a time."""

    __tablename__ = "send_pauses"
    __table_args__ = (
        Index(
            "uq_send_pauses_open",
            "edition_id",
            unique=True,
            sqlite_where=sql_text("resumed_at IS NULL"),
            postgresql_where=sql_text("resumed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), index=True
    )
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))  # "complaints" or "bounces"
    reason: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)
    out_of: Mapped[int] = mapped_column(Integer)
    rate: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    # When the editors were told (NULL: not yet; a later run tells them).
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resumed_by: Mapped[str] = mapped_column(String(200), default="")
    resumed_delivered: Mapped[int | None] = mapped_column(Integer)
    resumed_complaints: Mapped[int | None] = mapped_column(Integer)
    resumed_bounces: Mapped[int | None] = mapped_column(Integer)


class ClickSaltRow(Base):
    """An edition's random salt for its click keys (digest.clicks.reader_key). Set to NULL
    after click_key_lifetime: from then on no key can be linked to a delivery, and the row
    stays to say that counting for the edition is closed (a new salt would count a reader
    twice)."""

    __tablename__ = "click_salts"

    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True
    )
    salt: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    forgotten_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClickRow(Base):
    """One request to the click redirect: when, which article, the reader's subject line, what
    it showed on arrival (digest.clicks.Reason, "" for nothing), and the message's key under
    the edition's salt. The delivery itself only with the newsletter's per_reader_stats."""

    __tablename__ = "clicks"
    __table_args__ = (Index("ix_clicks_edition", "edition_id", "clicked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(Integer)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(16), default="", server_default="")
    reader_key: Mapped[str | None] = mapped_column(String(32))
    subject_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
