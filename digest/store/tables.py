"""SQLAlchemy tables. The same definitions serve SQLite and PostgreSQL; Alembic migrates them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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
    text: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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

    sections: Mapped[list[SectionRow]] = relationship(
        back_populates="edition",
        order_by="SectionRow.position",
        cascade="all, delete-orphan",
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

    section: Mapped[SectionRow] = relationship(back_populates="items")
    edition: Mapped[EditionRow] = relationship()
    article: Mapped[ArticleRow] = relationship()
