"""An edition's lifecycle as use cases, on SQLite and PostgreSQL: approve at a time in the
newsletter's zone, cancel, back to draft with every edit kept, an edit of an approved edition
reopening it, and no way back once sending has begun."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest import editing
from digest.app import App
from digest.edition import EditionStatus, Reopened
from digest.errors import DigestError, FieldError
from digest.send_time import describe, parse_local
from tests.conftest import make_newsletter
from tests.web_support import draft_edition, settings_for

KYIV = ZoneInfo("Europe/Kyiv")


def kyiv_app(database_url: str, tmp_path: Path) -> App:
    newsletter = make_newsletter(
        lists=["readers"], base_url="https://brief.example.org", timezone="Europe/Kyiv"
    )
    return App(settings_for(database_url, tmp_path, newsletters={"brief": newsletter}))


def test_local_times_in_the_zone_with_daylight_saving() -> None:
    winter = parse_local("2026-12-02T07:00", KYIV)
    assert winter == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert parse_local("2026-07-02T07:00", KYIV) == datetime(2026, 7, 2, 4, 0, tzinfo=UTC)
    assert describe(winter, KYIV) == "Wed 2 Dec 2026, 07:00 Europe/Kyiv (05:00 UTC)"
    late = parse_local("2026-12-02T01:30", KYIV)
    assert describe(late, KYIV) == "Wed 2 Dec 2026, 01:30 Europe/Kyiv (23:30 UTC, Tue 1 Dec)"
    # An offset given is kept as given.
    assert parse_local("2026-12-02T07:00+00:00", KYIV).hour == 7
    with pytest.raises(FieldError, match=r"send_at: .*happens twice in Europe/Kyiv"):
        parse_local("2026-10-25T03:30", KYIV)
    with pytest.raises(FieldError, match=r"send_at: .*does not exist in Europe/Kyiv"):
        parse_local("2026-03-29T03:30", KYIV)
    with pytest.raises(FieldError, match=r"send_at: 'tomorrow' is not a date and time"):
        parse_local("tomorrow", KYIV)


def test_approve_cancel_and_back_to_draft_keep_every_edit(
    database_url: str, tmp_path: Path
) -> None:
    app = kyiv_app(database_url, tmp_path)
    edition = draft_edition(app)
    assert edition.id is not None
    edited = app.revise(edition, editing.with_fields(edition, "Our own subject", "Pre", "Ours"))
    approved = app.approve(edited, datetime(2026, 12, 2, 7, 0))
    assert approved.status == EditionStatus.APPROVED
    assert approved.send_at == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    with pytest.raises(FieldError, match="happens twice"):
        app.approve(approved, datetime(2026, 10, 25, 3, 30))
    assert app.store.get_edition(edition.id).send_at == approved.send_at

    cancelled = app.cancel(approved)
    assert cancelled.status == EditionStatus.CANCELLED
    with pytest.raises(DigestError, match="only a draft"):
        app.approve(cancelled)
    back = app.back_to_draft(cancelled)
    assert back.status == EditionStatus.DRAFT and back.reopened == Reopened.FROM_CANCELLED
    assert (back.subject, back.intro) == ("Our own subject", "Ours")
    assert back.sections == edited.sections and back.send_at == approved.send_at
    assert app.edition_state(back).label == "draft (was cancelled)"

    again = app.approve(back)
    assert again.status == EditionStatus.APPROVED and again.reopened is None
    assert app.back_to_draft(again).reopened == Reopened.FROM_APPROVED
    app.close()


def test_an_edit_of_an_approved_edition_puts_it_back_to_draft(
    database_url: str, tmp_path: Path
) -> None:
    app = kyiv_app(database_url, tmp_path)
    approved = app.approve(draft_edition(app), datetime(2026, 12, 2, 7, 0))
    item = approved.items[0]
    changed = app.revise(approved, editing.with_summary(approved, item.article.id or 0, "Fixed."))
    assert changed.status == EditionStatus.DRAFT and changed.reopened == Reopened.EDITED
    assert changed.items[0].summary.text == "Fixed."
    state = app.edition_state(changed)
    assert state.note == "Edited after approval: approve again to send."
    assert state.planned == "Wed 2 Dec 2026, 07:00 Europe/Kyiv (05:00 UTC)"
    # A cancelled edition is not edited in place: back to draft first.
    cancelled = app.cancel(changed)
    with pytest.raises(DigestError, match="only a draft can be edited"):
        app.revise(cancelled, editing.with_fields(cancelled, "No", "", ""))
    assert app.store.get_edition(cancelled.id or 0).status == EditionStatus.CANCELLED
    app.close()


def test_a_headline_fix_or_an_added_article_reopens_an_approved_edition(
    database_url: str, tmp_path: Path
) -> None:
    app = kyiv_app(database_url, tmp_path)
    approved = app.approve(draft_edition(app), datetime(2026, 12, 2, 7, 0))
    article = approved.items[0].article
    app.update_article(article.id or 0, title="A headline the editor fixed")
    fixed = app.store.get_edition(approved.id or 0)
    assert fixed.status == EditionStatus.DRAFT and fixed.reopened == Reopened.EDITED
    assert fixed.items[0].article.title == "A headline the editor fixed"
    again = app.approve(fixed, datetime(2026, 12, 2, 7, 0))
    body = "The port of Odesa reopened to grain ships on Monday. " * 8
    text = f"The port of Odesa reopens to grain ships\n\n{body}"
    [extra] = app.add_content(text, "paste").added
    grown = app.add_to_draft(again, [extra])
    assert grown.status == EditionStatus.DRAFT and extra.id in grown.article_ids
    app.close()


def test_no_way_back_once_sent_and_the_list_says_when_and_to_how_many(
    database_url: str, tmp_path: Path
) -> None:
    app = kyiv_app(database_url, tmp_path)
    edition = app.approve(draft_edition(app, readers=3), datetime(2026, 12, 2, 7, 0))
    before = datetime.now(UTC)
    app.send(edition)
    sent = app.store.get_edition(edition.id or 0)
    assert sent.status == EditionStatus.SENT
    with pytest.raises(DigestError, match="sending has started: it cannot go back to draft"):
        app.back_to_draft(sent)
    with pytest.raises(DigestError, match="only a draft or an approved"):
        app.cancel(sent)
    (state,) = app.edition_states()
    assert state.deliveries is not None and state.deliveries.last_sent_at is not None
    assert state.deliveries.last_sent_at >= before.replace(microsecond=0)
    at = describe(state.deliveries.last_sent_at, KYIV)
    assert state.when == f"sent at {at} to 3 readers (0 failed)"
    assert state.readers == 3 and state.label == "sent"
    app.close()
