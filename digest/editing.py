"""Editing an edition as YAML: what the editor sees, and applying what they saved.

The YAML carries only what an editor may change (subject, preheader, intro, section titles,
order, each summary, and the other reports of a story); article ids tie items back to stored
articles, and titles are shown for orientation only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from digest.articles import Article
from digest.edition import Edition, Item, Removed, Section
from digest.errors import DigestError
from digest.store import Store
from digest.summarize import Summary

EDITED_METHOD = "edited"
# Summarises an article that becomes a story of its own (a report split from its story).
Summarize = Callable[[Article], Summary]


class _EditedReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    article: int
    title: str | None = None  # shown for orientation; changes are ignored
    source: str | None = None  # likewise


class _EditedItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    article: int
    title: str | None = None  # shown for orientation; changes are ignored
    # None: a report split off its story, summarised when applied.
    summary: str | None = Field(default=None, min_length=1)
    also: list[_EditedReport] = Field(default_factory=list)
    # The article's picture in this edition (only items whose article has one show the key).
    image: bool = True

    @field_validator("summary", mode="before")
    @classmethod
    def _trimmed(cls, value: object) -> object:
        # Spaces alone are no summary: refused here, naming the field, not later by Summary.
        return value.strip() if isinstance(value, str) else value


class _EditedSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=120)
    items: list[_EditedItem] = Field(min_length=1)


class _EditedEdition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=200)
    # An A/B test: two to four subject lines (digest.subject_test), or none.
    subject_tests: list[str] = Field(default_factory=list)
    preheader: str = Field(default="", max_length=300)
    intro: str = ""
    sections: list[_EditedSection] = Field(min_length=1)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as | blocks, so summaries are pleasant to edit."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

_HEADER = (
    "# Edition {id} of {newsletter}, No. {number}. Edit, save and close to apply.\n"
    "# Reorder or move items between sections, delete items, rewrite summaries.\n"
    "# 'article' ties an item to a stored article; its title here is for reference only.\n"
    "# 'also' lists other reports of the same story; delete one there and it becomes a story\n"
    "# of its own, summarised, after this one (or move it anywhere as an item without a summary).\n"
    "# 'image: false' leaves the article's picture out of this edition.\n"
    "# 'subject_tests' (two to four lines) tests subject lines on part of the list first; the\n"
    "# one with the most readers' clicks goes to the rest (needs track_clicks).\n"
)


def edition_to_yaml(edition: Edition) -> str:
    document: dict[str, Any] = {
        "subject": edition.subject,
        "subject_tests": list(edition.subject_tests),
        "preheader": edition.preheader,
        "intro": edition.intro,
        "sections": [
            {
                "title": section.title,
                "items": [_item_document(item) for item in section.items],
            }
            for section in edition.sections
        ],
    }
    header = _HEADER.format(id=edition.id, newsletter=edition.newsletter, number=edition.number)
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=96)
    return header + body


def _item_document(item: Item) -> dict[str, Any]:
    document: dict[str, Any] = {
        "article": item.article.id,
        "title": item.article.title,
        "summary": item.summary.text,
    }
    if item.article.image_url:
        document["image"] = item.show_image
    if item.also:
        document["also"] = [
            {"article": report.id, "title": report.title, "source": report.source}
            for report in item.also
        ]
    return document


def apply_yaml(
    edition: Edition, text: str, store: Store, origin: str, summarize: Summarize | None = None
) -> Edition:
    """The edition with the editor's changes, validated; raises DigestError naming the field.

    A report deleted from its story's `also` and placed nowhere else becomes a story of its
    own right after it; a story without a summary (a report moved out) gets one from
    `summarize`."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise DigestError(
            f"{origin}: {where}: not valid YAML ({getattr(error, 'problem', error)})"
        ) from None
    try:
        edited = _EditedEdition.model_validate(document)
    except ValidationError as error:
        problem = error.errors()[0]
        key = ".".join(str(part) for part in problem["loc"]) or "document"
        reason = "unknown field" if problem["type"] == "extra_forbidden" else problem["msg"]
        raise DigestError(f"{origin}: {key}: {reason}") from None

    current = {item.article.id: item for item in edition.items}
    reports = {report.id: report for item in edition.items for report in item.also}
    placed = {entry.article for s in edited.sections for entry in s.items} | {
        report.article for s in edited.sections for entry in s.items for report in entry.also
    }
    seen: set[int] = set()

    def claim(article_id: int, where: str) -> Article:
        if article_id in seen:
            raise DigestError(f"{origin}: {where}: article {article_id} appears twice")
        seen.add(article_id)
        known = current.get(article_id)
        if known is not None:
            return known.article
        return reports.get(article_id) or _stored(store, article_id, origin, where)

    def summary_of(article: Article, where: str) -> Summary:
        if summarize is None:
            raise DigestError(f"{origin}: {where}: summary: Field required")
        return summarize(article)

    sections = []
    for index, section in enumerate(edited.sections):
        items = []
        for position, entry in enumerate(section.items):
            where = f"sections.{index}.items.{position}"
            article = claim(entry.article, f"{where}.article")
            also = [
                claim(report.article, f"{where}.also.{number}.article")
                for number, report in enumerate(entry.also)
            ]
            previous = current.get(entry.article)
            if entry.summary is None:
                summary = summary_of(article, where)
            else:
                summary_text = " ".join(entry.summary.split())
                if previous and previous.summary.text == summary_text:
                    summary = previous.summary
                else:
                    summary = Summary(text=summary_text, method=EDITED_METHOD)
            items.append(Item(article=article, summary=summary, also=also, show_image=entry.image))
            # Reports the editor took off this story, and put nowhere else: split off.
            for report in previous.also if previous else []:
                if report.id is not None and report.id not in placed | seen:
                    seen.add(report.id)
                    items.append(Item(article=report, summary=summary_of(report, where)))
        sections.append(Section(title=section.title.strip(), items=items))
    applied = edition.model_copy(
        update={
            "subject": " ".join(edited.subject.split()),
            "subject_tests": checked_subject_tests(edited.subject_tests),
            "preheader": " ".join(edited.preheader.split()),
            "intro": edited.intro.strip(),
            "sections": sections,
        }
    )
    return _note_deleted(edition, applied)


def checked_subject_tests(lines: list[str]) -> list[str]:
    """Subject lines to test, as one line each: none, or two to four different ones."""
    cleaned = [" ".join(line.split()) for line in lines]
    if not cleaned:
        return []
    if any(not line for line in cleaned):
        raise DigestError("subject_tests: a subject line must not be empty")
    if any(len(line) > SUBJECT_TEST_MAX for line in cleaned):
        raise DigestError(f"subject_tests: a subject line is at most {SUBJECT_TEST_MAX} characters")
    if len(set(cleaned)) != len(cleaned):
        raise DigestError("subject_tests: the lines must differ from each other")
    if not 2 <= len(cleaned) <= 4:
        raise DigestError(
            f"subject_tests: an A/B test takes two to four subject lines, not {len(cleaned)}"
        )
    return cleaned


SUBJECT_TEST_MAX = 200


def _note_deleted(before: Edition, after: Edition) -> Edition:
    """`after` keeping the stories deleted from `before` among its removed ones, as the web
    page's Remove does, so that they can be put back."""
    held = after.article_ids
    deleted = [
        Removed(item=item, section=section.title, index=s_index, position=i_index)
        for s_index, section in enumerate(before.sections)
        for i_index, item in enumerate(section.items)
        if item.article.id not in held
    ]
    gone = {r.item.article.id for r in deleted}
    earlier = [r for r in after.removed if r.item.article.id not in gone]
    return without_held_removed(after.model_copy(update={"removed": [*earlier, *deleted]}))


def _stored(store: Store, article_id: int, origin: str, where: str) -> Any:
    try:
        return store.get_article(article_id)
    except DigestError:
        raise DigestError(f"{origin}: {where}: no article with id {article_id}") from None


def open_in_editor(text: str) -> str | None:
    """Let the user edit text in $VISUAL or $EDITOR; None when they saved no change."""
    import os
    import shlex
    import subprocess
    import tempfile
    from pathlib import Path

    command = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    with tempfile.TemporaryDirectory(prefix="digest-edit-") as folder:
        path = Path(folder) / "edition.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            subprocess.run([*command, str(path)], check=True)
        except FileNotFoundError:
            raise DigestError(f"editor {command[0]!r} not found: set $EDITOR") from None
        except subprocess.CalledProcessError as error:
            raise DigestError(f"editor exited with status {error.returncode}") from None
        edited = path.read_text(encoding="utf-8")
    return None if edited == text else edited


# Single changes, as the editor's web page makes them. Each returns a new Edition.


def with_fields(edition: Edition, subject: str, preheader: str, intro: str) -> Edition:
    subject = " ".join(subject.split())
    if not subject:
        raise DigestError("the subject must not be empty")
    return edition.model_copy(
        update={
            "subject": subject,
            "preheader": " ".join(preheader.split()),
            "intro": intro.strip(),
        }
    )


def _locate(edition: Edition, article_id: int) -> tuple[int, int]:
    for s_index, section in enumerate(edition.sections):
        for i_index, item in enumerate(section.items):
            if item.article.id == article_id:
                return s_index, i_index
    raise DigestError(f"article {article_id} is not in edition {edition.id}")


def _sections(edition: Edition) -> list[list[Item]]:
    return [list(section.items) for section in edition.sections]


def _rebuild(edition: Edition, groups: list[list[Item]]) -> Edition:
    sections = [
        Section(title=section.title, items=items)
        for section, items in zip(edition.sections, groups, strict=True)
        if items
    ]
    if not sections:
        raise DigestError("an edition needs at least one article")
    return edition.model_copy(update={"sections": sections})


def with_summary(
    edition: Edition, article_id: int, text: str, method: str = EDITED_METHOD
) -> Edition:
    text = " ".join(text.split())
    if not text:
        raise DigestError("a summary must not be empty")
    s_index, i_index = _locate(edition, article_id)
    groups = _sections(edition)
    item = groups[s_index][i_index]
    # model_copy: the story keeps its other reports ("also reported by").
    groups[s_index][i_index] = item.model_copy(
        update={"summary": Summary(text=text, method=method)}
    )
    return _rebuild(edition, groups)


def with_picture(edition: Edition, article_id: int, show: bool) -> Edition:
    """The edition showing (or leaving out) one story's picture; the newsletter's
    `article_images` and the picture's https still decide whether any is shown."""
    s_index, i_index = _locate(edition, article_id)
    groups = _sections(edition)
    groups[s_index][i_index] = groups[s_index][i_index].model_copy(update={"show_image": show})
    return _rebuild(edition, groups)


def split(edition: Edition, article_id: int, report_id: int, summary: Summary) -> Edition:
    """The edition with one other report taken off a story and made a story of its own (with
    `summary`), right after it in the same section."""
    s_index, i_index = _locate(edition, article_id)
    groups = _sections(edition)
    item = groups[s_index][i_index]
    report = next((r for r in item.also if r.id == report_id), None)
    if report is None:
        raise DigestError(f"article {report_id} is not another report of article {article_id}")
    rest = [r for r in item.also if r.id != report_id]
    groups[s_index][i_index] = item.model_copy(update={"also": rest})
    groups[s_index].insert(i_index + 1, Item(article=report, summary=summary))
    return _rebuild(edition, groups)


def report_of(edition: Edition, article_id: int, report_id: int) -> Article:
    """Another report of a story in the edition; raises DigestError when it is not one."""
    s_index, i_index = _locate(edition, article_id)
    for report in edition.sections[s_index].items[i_index].also:
        if report.id == report_id:
            return report
    raise DigestError(f"article {report_id} is not another report of article {article_id}")


def moved(edition: Edition, article_id: int, step: int) -> Edition:
    """The article one place up (-1) or down (+1) in its section."""
    s_index, i_index = _locate(edition, article_id)
    groups = _sections(edition)
    items = groups[s_index]
    target = i_index + step
    if 0 <= target < len(items):
        items[i_index], items[target] = items[target], items[i_index]
    return _rebuild(edition, groups)


def removed(edition: Edition, article_id: int) -> Edition:
    """The edition without one story, which it keeps among its removed ones (with its
    summary, other reports and place) to be put back."""
    s_index, i_index = _locate(edition, article_id)
    groups = _sections(edition)
    item = groups[s_index].pop(i_index)
    taken = Removed(
        item=item, section=edition.sections[s_index].title, index=s_index, position=i_index
    )
    others = [r for r in edition.removed if r.item.article.id != article_id]
    return _rebuild(edition, groups).model_copy(update={"removed": [*others, taken]})


def without_held_removed(edition: Edition) -> Edition:
    """The edition's removed stories without those it holds again (added back, or placed
    again in `digest edit`), and their other reports it now holds left off."""
    held = edition.article_ids
    kept = [
        r.model_copy(
            update={
                "item": r.item.model_copy(
                    update={"also": [a for a in r.item.also if a.id not in held]}
                )
            }
        )
        for r in edition.removed
        if r.item.article.id not in held
    ]
    return edition.model_copy(update={"removed": kept})


def moved_to_section(edition: Edition, article_id: int, section: int) -> Edition:
    s_index, i_index = _locate(edition, article_id)
    if not 0 <= section < len(edition.sections):
        raise DigestError(f"edition {edition.id} has no section {section + 1}")
    groups = _sections(edition)
    item = groups[s_index].pop(i_index)
    groups[section].append(item)
    return _rebuild(edition, groups)


def renamed_section(edition: Edition, section: int, title: str) -> Edition:
    """The edition with one section's heading changed."""
    title = " ".join(title.split())
    if not title:
        raise DigestError("a section title must not be empty")
    if len(title) > 120:
        raise DigestError("a section title has at most 120 characters")
    if not 0 <= section < len(edition.sections):
        raise DigestError(f"edition {edition.id} has no section {section + 1}")
    sections = list(edition.sections)
    sections[section] = Section(title=title, items=sections[section].items)
    return edition.model_copy(update={"sections": sections})


def with_added(edition: Edition, item: Item, section: int | None) -> Edition:
    """The edition with one more item, at the end of the given section, or (None) of its
    "In brief" section, made at the end when there is none yet."""
    from digest.themes import BRIEF_TITLE

    if item.article.id in edition.article_ids:
        raise DigestError(f"article {item.article.id} is already in edition {edition.id}")
    titles = [existing.title for existing in edition.sections]
    if section is None and BRIEF_TITLE in titles:
        section = titles.index(BRIEF_TITLE)
    if section is None:
        extra = Section(title=BRIEF_TITLE, items=[item])
        return without_held_removed(
            edition.model_copy(update={"sections": [*edition.sections, extra]})
        )
    groups = _sections(edition)
    groups[section].append(item)
    return without_held_removed(_rebuild(edition, groups))


# The structure, as the editor's page changes it: by drag and drop or its buttons.

Layout = list[tuple[int, list[int]]]


def arranged(edition: Edition, layout: Layout) -> Edition:
    """The edition in a new order: `layout` lists (section's current index, its stories'
    article ids) in the new order of sections. Every section and story must appear once; a
    section left without stories goes."""
    stories = {item.article.id: item for item in edition.items}
    indexes = [index for index, _ in layout]
    if sorted(indexes) != list(range(len(edition.sections))):
        raise DigestError("the new order must name every section once: reload the page")
    named = [article for _, articles in layout for article in articles]
    if sorted(named) != sorted(i for i in stories if i is not None):
        raise DigestError("the new order must name every article once: reload the page")
    sections = [
        Section(title=edition.sections[index].title, items=[stories[a] for a in articles])
        for index, articles in layout
        if articles
    ]
    return edition.model_copy(update={"sections": sections})


def merged_sections(edition: Edition, section: int, into: int) -> Edition:
    """One section's stories moved to the end of another, and the emptied section gone."""
    count = len(edition.sections)
    if not (0 <= section < count and 0 <= into < count) or section == into:
        raise DigestError("choose two different sections to merge")
    groups = _sections(edition)
    groups[into].extend(groups[section])
    groups[section] = []
    return _rebuild(edition, groups)


def split_section(edition: Edition, section: int, articles: list[int], title: str) -> Edition:
    """The chosen stories of a section moved to a new section right after it."""
    title = " ".join(title.split())
    if not title:
        raise DigestError("the new section needs a title")
    if len(title) > 120:
        raise DigestError("a section title has at most 120 characters")
    if not 0 <= section < len(edition.sections):
        raise DigestError(f"edition {edition.id} has no section {section + 1}")
    chosen = set(articles)
    items = edition.sections[section].items
    moving = [item for item in items if item.article.id in chosen]
    if not moving:
        raise DigestError("choose the articles of this section that the new section takes")
    if len(moving) == len(items):
        raise DigestError("keep at least one article in the section (or rename it instead)")
    sections = list(edition.sections)
    staying = [item for item in items if item.article.id not in chosen]
    sections[section] = Section(title=sections[section].title, items=staying)
    sections.insert(section + 1, Section(title=title, items=moving))
    return edition.model_copy(update={"sections": sections})


def restored(edition: Edition, article_id: int) -> Edition:
    """A removed story put back as it was (summary, other reports, picture): in the section
    of the same title, else the one now at its section's place, at its old position (or the
    end), or in "In brief" when the edition has fewer sections now."""
    taken = next((r for r in edition.removed if r.item.article.id == article_id), None)
    if taken is None:
        raise DigestError(
            f"article {article_id} is not among the stories removed from edition {edition.id}"
        )
    rest = [r for r in edition.removed if r is not taken]
    if article_id in edition.article_ids:
        raise DigestError(f"article {article_id} is already in edition {edition.id}")
    titles = [section.title for section in edition.sections]
    if taken.section in titles:
        section: int | None = titles.index(taken.section)
    else:
        section = taken.index if taken.index < len(titles) else None
    back = edition.model_copy(update={"removed": rest})
    if section is None:
        return with_added(back, taken.item, None)
    groups = _sections(back)
    groups[section].insert(min(taken.position, len(groups[section])), taken.item)
    return _rebuild(back, groups)
