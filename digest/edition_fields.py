"""One field of an edition, named by a key, as the web editor saves it: read it, write it,
and tell a concurrent change to the same field (a conflict) from one to another field (merged).

Keys: `subject`, `preheader`, `intro`, `section:INDEX:title`, `item:ARTICLE:summary`,
`item:ARTICLE:image` (whether this edition shows the article's picture: "true" or "false"),
and `article:ARTICLE:FIELD` for what an editor may fix of a stored article (title, author,
source, published, url), which lives on the article, not the edition.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest import editing
from digest.edition import Edition
from digest.errors import DigestError, FieldError

EDITION_FIELDS = ("subject", "preheader", "intro")
ITEM_FIELDS = ("summary", "image")
ARTICLE_FIELDS = ("title", "author", "source", "published", "url")
_SWITCH = {"true": True, "false": False}
# The Edition model's own limits, checked here so that the error names the field.
_LIMITS = {"subject": 200, "preheader": 300}


@dataclass(frozen=True)
class FieldKey:
    """A parsed key: `kind` is edition, section, item or article; `index` the section's
    position or the article's id."""

    kind: str
    name: str
    index: int = 0

    @property
    def text(self) -> str:
        return self.name if self.kind == "edition" else f"{self.kind}:{self.index}:{self.name}"


def parse_key(key: str) -> FieldKey:
    """The key's parts; raises FieldError naming it when it names no field."""
    if key in EDITION_FIELDS:
        return FieldKey("edition", key)
    parts = key.split(":")
    if len(parts) == 3 and parts[1].isdigit() and len(parts[1]) <= 18:
        kind, index, name = parts[0], int(parts[1]), parts[2]
        if (
            (kind == "section" and name == "title")
            or (kind == "item" and name in ITEM_FIELDS)
            or (kind == "article" and name in ARTICLE_FIELDS)
        ):
            return FieldKey(kind, name, index)
    raise FieldError(key[:80], "not a field of an edition")


def value_of(edition: Edition, key: FieldKey) -> str:
    """The field's stored value as the editor's page shows it ("" for an unknown byline)."""
    if key.kind == "edition":
        return str(getattr(edition, key.name))
    if key.kind == "section":
        if not 0 <= key.index < len(edition.sections):
            raise DigestError(f"edition {edition.id} has no section {key.index + 1}")
        return edition.sections[key.index].title
    item = next((i for i in edition.items if i.article.id == key.index), None)
    if key.kind == "item":
        if item is None:
            raise DigestError(f"article {key.index} is not in edition {edition.id}")
        if key.name == "image":
            return "true" if item.show_image else "false"
        return item.summary.text
    article = next((a for i in edition.items for a in i.articles if a.id == key.index), None)
    if article is None:
        raise DigestError(f"article {key.index} is not in edition {edition.id}")
    if key.name == "published":
        return _published(article.published)
    value = getattr(article, key.name)
    return "" if value is None else str(value)


def values(edition: Edition) -> dict[str, str]:
    """Every field the editor's page shows, by key, as stored: what a page compares with its
    own copy to say which fields another window changed."""
    keys = [FieldKey("edition", name) for name in EDITION_FIELDS]
    keys += [FieldKey("section", "title", index) for index in range(len(edition.sections))]
    for item in edition.items:
        article = item.article.id or 0
        keys.append(FieldKey("item", "summary", article))
        if item.article.image_url:
            keys.append(FieldKey("item", "image", article))
        keys += [FieldKey("article", name, article) for name in ARTICLE_FIELDS]
    return {key.text: value_of(edition, key) for key in keys}


def _published(when: object) -> str:
    """A date as the page shows and takes it: the day alone at midnight UTC, else ISO 8601."""
    from datetime import datetime

    if not isinstance(when, datetime):
        return ""
    if when.strftime("%H:%M%z") in ("00:00+0000", "00:00"):
        return when.strftime("%Y-%m-%d")
    return when.isoformat(timespec="minutes")


def with_value(edition: Edition, key: FieldKey, value: str) -> Edition:
    """The edition with one of its own fields changed (not an article's: see App.edit_field)."""
    if key.kind == "edition":
        limit = _LIMITS.get(key.name)
        if limit is not None and len(" ".join(value.split())) > limit:
            raise FieldError(key.name, f"at most {limit} characters")
        fields = {name: str(getattr(edition, name)) for name in EDITION_FIELDS}
        fields[key.name] = value
        return editing.with_fields(edition, **fields)
    if key.kind == "section":
        return editing.renamed_section(edition, key.index, value)
    if key.kind == "item" and key.name == "image":
        if value not in _SWITCH:
            raise FieldError(key.text, "true or false")
        return editing.with_picture(edition, key.index, _SWITCH[value])
    if key.kind == "item":
        return editing.with_summary(edition, key.index, value)
    raise ValueError(f"{key.text} is an article's field")


def same(one: str, other: str) -> bool:
    """Equal as stored: the store folds runs of white space in one-line fields and summaries."""
    return " ".join(one.split()) == " ".join(other.split())


@dataclass(frozen=True)
class FieldSaved:
    """A field saved: the edition as stored after it, and the version the save was made on
    (the editor's own when nothing changed elsewhere meanwhile; a newer one when another
    window's change was merged in)."""

    edition: Edition
    was: int


class FieldConflict(DigestError):
    """The field was changed elsewhere since the editor's copy of it: both are shown."""

    def __init__(self, key: str, current: str, version: int) -> None:
        super().__init__(f"{key}: changed in another window meanwhile")
        self.key = key
        self.current = current
        self.version = version
