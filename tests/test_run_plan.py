"""What `digest run` decides is due, as a pure function of the schedule, the clock and the
store's state: plain datetimes, no patched clock, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.config import NewsletterConfig
from digest.edition import EditionStatus
from digest.run_plan import (
    BUILD,
    CLAIMED,
    NOTIFY,
    NOTIFY_UNSENT,
    SEND,
    Due,
    EditionState,
    Kind,
    SlotRun,
    State,
    plan,
)
from tests.conftest import make_newsletter

KYIV = ZoneInfo("Europe/Kyiv")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = datetime(2026, 11, 9, 7, 0, tzinfo=KYIV)  # 05:00 UTC
SLOT = MONDAY.astimezone(UTC)


def weekly(mode: str, **extra: object) -> NewsletterConfig:
    values: dict[str, object] = {
        "schedule": "0 7 * * MON",
        "timezone": "Europe/Kyiv",
        "mode": mode,
        "editors": ["editor@example.org"],
        "lead_time": timedelta(hours=2),
        "catch_up_grace": timedelta(hours=6),
    }
    values.update(extra)
    return make_newsletter(**values)


def run(action: str, status: str, edition_id: int | None = None, slot: datetime = SLOT) -> SlotRun:
    return SlotRun("brief", slot, action, status, edition_id, "", SLOT - timedelta(hours=3))


def edition(status: EditionStatus, send_at: datetime | None = SLOT, id: int = 7) -> EditionState:
    return EditionState(id=id, number=3, status=status, send_at=send_at)


def brief(dues: list[Due]) -> list[tuple[str, str, str, int | None]]:
    """Each due as (kind, action, slot in Kyiv, edition id): what a reader checks."""
    return [
        (
            due.kind.name,
            due.key.action,
            due.key.slot.astimezone(KYIV).strftime("%d %H:%M"),
            due.edition_id,
        )
        for due in dues
    ]


# Automatic


def test_automatic_builds_at_the_time_and_not_before() -> None:
    newsletter = weekly("automatic")
    assert plan(newsletter, SLOT - timedelta(seconds=1), State()) == []
    assert brief(plan(newsletter, SLOT, State())) == [("BUILD", BUILD, "09 07:00", None)]


def test_automatic_sends_what_it_built_approving_it_first() -> None:
    state = State(runs=(run(BUILD, "done", 7),), editions=(edition(EditionStatus.DRAFT),))
    (due,) = plan(weekly("automatic"), SLOT + timedelta(minutes=1), state)
    assert (due.kind, due.key.action, due.edition_id, due.approve) == (Kind.SEND, SEND, 7, True)


def test_automatic_without_an_edition_records_that_nothing_was_sent() -> None:
    skipped = SlotRun("brief", SLOT, BUILD, "skipped", None, "only 0 new articles", SLOT)
    (due,) = plan(weekly("automatic"), SLOT, State(runs=(skipped,)))
    assert (due.kind, due.key.action, due.status) == (Kind.RECORD, SEND, "skipped")
    assert due.detail == "only 0 new articles"


def test_nothing_twice_once_sent() -> None:
    state = State(
        runs=(run(BUILD, "done", 7), run(SEND, "done", 7)),
        editions=(edition(EditionStatus.SENT),),
    )
    for later in (timedelta(minutes=5), timedelta(hours=5)):
        assert plan(weekly("automatic"), SLOT + later, state) == []


def test_catch_up_once_within_grace_never_older_times() -> None:
    newsletter = weekly("automatic")
    # Back at 12:59 Kyiv, within the six hours: the latest time only, not last week's.
    assert brief(plan(newsletter, SLOT + timedelta(hours=5, minutes=59), State())) == [
        ("BUILD", BUILD, "09 07:00", None)
    ]
    # Back after the grace: nothing, until the next scheduled time.
    assert plan(newsletter, SLOT + timedelta(hours=6, minutes=1), State()) == []


# Orphans: a run killed between building and recording


def test_a_claimed_build_with_its_edition_is_adopted() -> None:
    """A run was killed after the edition was made (and linked to its claimed slot) but before
    the build was recorded: the next tick adopts that edition, never builds another, and then
    sends it."""
    orphan = run(BUILD, CLAIMED, 7)
    state = State(runs=(orphan,), editions=(edition(EditionStatus.DRAFT),))
    (due,) = plan(weekly("automatic"), SLOT + timedelta(minutes=5), state)
    assert (due.kind, due.edition_id, due.seen) == (Kind.BUILD, 7, orphan)


def test_a_claimed_build_without_an_edition_is_redone() -> None:
    state = State(runs=(run(BUILD, CLAIMED),))
    (due,) = plan(weekly("automatic"), SLOT + timedelta(minutes=5), state)
    assert (due.kind, due.edition_id) == (Kind.BUILD, None)


def test_unfinished_work_of_an_earlier_time_is_resumed_within_grace() -> None:
    """Every minute: the run killed at 07:00 is followed by a tick at 07:01, whose latest time
    is 07:01; the 07:00 edition is still adopted and sent (and 07:01 gets its own build)."""
    newsletter = make_newsletter(
        schedule="* * * * *", timezone="Europe/Kyiv", mode="automatic", catch_up_grace="00:30:00"
    )
    orphan = run(BUILD, CLAIMED, 7)
    state = State(runs=(orphan,), editions=(edition(EditionStatus.DRAFT),))
    assert brief(plan(newsletter, SLOT + timedelta(minutes=1), state)) == [
        ("BUILD", BUILD, "09 07:00", 7),
        ("BUILD", BUILD, "09 07:01", None),
    ]
    adopted = State(runs=(run(BUILD, "done", 7),), editions=state.editions)
    dues = plan(newsletter, SLOT + timedelta(minutes=1), adopted)
    assert brief(dues)[0] == ("SEND", SEND, "09 07:00", 7) and dues[0].approve
    # Past the grace, an unfinished slot is left alone.
    assert brief(plan(newsletter, SLOT + timedelta(minutes=31), state)) == [
        ("BUILD", BUILD, "09 07:31", None)
    ]


def test_unfinished_rows_at_unscheduled_times_make_no_edition() -> None:
    """A send moved to 10:00 by an editor is not a scheduled time: no build for it."""
    ten = SLOT + timedelta(hours=3)
    state = State(
        runs=(run(BUILD, "done", 7), run(SEND, "skipped", 7), run(SEND, "busy", 7, slot=ten)),
        editions=(edition(EditionStatus.APPROVED, send_at=ten),),
    )
    assert brief(plan(weekly("automatic"), ten + timedelta(minutes=1), state)) == [
        ("SEND", SEND, "09 10:00", 7)
    ]


# Editorial


def test_editorial_draft_lead_time_ahead_then_its_notice() -> None:
    newsletter = weekly("editorial")
    lead = SLOT - timedelta(hours=2)
    assert plan(newsletter, lead - timedelta(seconds=1), State()) == []
    assert brief(plan(newsletter, lead, State())) == [("BUILD", BUILD, "09 07:00", None)]
    built = State(runs=(run(BUILD, "done", 7),), editions=(edition(EditionStatus.DRAFT),))
    (due,) = plan(newsletter, lead, built)
    assert (due.kind, due.key.action, due.notice, due.edition_id) == (
        Kind.NOTIFY,
        NOTIFY,
        "draft",
        7,
    )
    assert plan(newsletter, lead, State(runs=(*built.runs, run(NOTIFY, "done", 7)))) == []
    # Without editors, nobody to tell.
    assert plan(weekly("editorial", editors=[]), lead, built) == []


def test_editorial_unapproved_draft_is_not_sent_and_the_editors_are_told() -> None:
    newsletter = weekly("editorial")
    runs = (run(BUILD, "done", 7), run(NOTIFY, "done", 7))
    state = State(runs=runs, editions=(edition(EditionStatus.DRAFT),))
    (due,) = plan(newsletter, SLOT, state)
    assert (due.kind, due.key.action, due.status) == (Kind.RECORD, SEND, "not_approved")
    assert due.detail == "edition 7 was not approved in time: not sent"
    recorded = SlotRun("brief", SLOT, SEND, "not_approved", 7, due.detail, SLOT)
    (notice,) = plan(newsletter, SLOT, State(runs=(*runs, recorded), editions=state.editions))
    assert (notice.kind, notice.key.action, notice.notice) == (Kind.NOTIFY, NOTIFY_UNSENT, "unsent")


def test_editorial_approved_edition_goes_out_at_its_time() -> None:
    newsletter = weekly("editorial")
    runs = (run(BUILD, "done", 7), run(NOTIFY, "done", 7))
    state = State(runs=runs, editions=(edition(EditionStatus.APPROVED),))
    assert plan(newsletter, SLOT - timedelta(seconds=1), state) == []
    (due,) = plan(newsletter, SLOT, state)
    assert (due.kind, due.edition_id, due.approve) == (Kind.SEND, 7, False)


def test_editorial_cancelled_or_moved_edition() -> None:
    newsletter = weekly("editorial")
    runs = (run(BUILD, "done", 7), run(NOTIFY, "done", 7))
    cancelled = State(runs=runs, editions=(edition(EditionStatus.CANCELLED),))
    (due,) = plan(newsletter, SLOT, cancelled)
    assert (due.kind, due.status) == (Kind.RECORD, "cancelled")
    later = SLOT + timedelta(hours=3)
    moved = State(runs=runs, editions=(edition(EditionStatus.APPROVED, send_at=later),))
    (due,) = plan(newsletter, SLOT, moved)
    assert (due.kind, due.status) == (Kind.RECORD, "skipped")
    assert due.detail == f"approved for {later.isoformat()}"
    (due,) = plan(
        newsletter, later, State(runs=(*runs, run(SEND, "skipped", 7)), editions=moved.editions)
    )
    assert (due.kind, due.key.slot, due.edition_id) == (Kind.SEND, later, 7)


def test_editorial_time_without_a_draft() -> None:
    """Down through the lead time and the next time's lead too: nothing was built for this
    time; that is recorded, and the coming time's draft is built."""
    newsletter = weekly("editorial", schedule="0 7,8 * * MON", lead_time="01:00:00")
    dues = plan(newsletter, SLOT + timedelta(minutes=1), State())
    assert brief(dues) == [
        ("RECORD", SEND, "09 07:00", None),
        ("BUILD", BUILD, "09 08:00", None),
    ]
    assert dues[0].detail == "no draft was built for this time"


# Waiting editions


def test_sends_come_before_builds() -> None:
    """An edition approved for now goes first; the next draft's build waits for it."""
    newsletter = weekly("editorial", schedule="0 7,9 * * MON")
    early = edition(EditionStatus.APPROVED, send_at=SLOT, id=5)
    state = State(runs=(run(BUILD, "done", 5), run(NOTIFY, "done", 5)), editions=(early,))
    assert brief(plan(newsletter, SLOT, state)) == [
        ("SEND", SEND, "09 07:00", 5),
        ("BUILD", BUILD, "09 09:00", None),
    ]


def test_an_interrupted_send_is_resumed_however_old() -> None:
    old = SLOT - timedelta(days=3)
    state = State(editions=(edition(EditionStatus.SENDING, send_at=old),))
    (due,) = plan(weekly("automatic"), SLOT - timedelta(hours=1), state)
    assert (due.kind, due.key.slot, due.edition_id) == (Kind.SEND, old, 7)


def test_an_approved_edition_whose_time_passed_long_ago_is_not_sent() -> None:
    old = SLOT - timedelta(days=3)
    state = State(editions=(edition(EditionStatus.APPROVED, send_at=old),))
    (due,) = plan(weekly("automatic"), SLOT - timedelta(hours=1), state)
    assert (due.kind, due.key.slot, due.status) == (Kind.RECORD, old, "skipped")
    assert "approve it again with a new --send-at" in due.detail
    recorded = SlotRun("brief", old, SEND, "skipped", 7, due.detail, old)
    assert (
        plan(weekly("automatic"), SLOT - timedelta(hours=1), State((recorded,), state.editions))
        == []
    )


def test_a_busy_or_failed_send_is_tried_again() -> None:
    for status in ("busy", "failed", CLAIMED):
        state = State(
            runs=(run(BUILD, "done", 7), run(SEND, status, 7)),
            editions=(edition(EditionStatus.APPROVED),),
        )
        (due,) = plan(weekly("automatic"), SLOT + timedelta(minutes=5), state)
        assert (due.kind, due.edition_id, due.seen) == (Kind.SEND, 7, state.runs[1])


# Daylight saving


def test_spring_forward_time_that_does_not_exist_runs_at_the_first_that_does() -> None:
    """02:30 does not exist in New York on 8 March 2026: the edition is built at 03:00 EDT."""
    newsletter = make_newsletter(
        schedule="30 2 * * *", timezone="America/New_York", mode="automatic"
    )
    three = datetime(2026, 3, 8, 3, 0, tzinfo=NEW_YORK).astimezone(UTC)
    assert plan(newsletter, three - timedelta(seconds=1), State()) == []
    (due,) = plan(newsletter, three, State())
    assert due.key.slot == three


def test_fall_back_time_that_happens_twice_runs_once() -> None:
    """01:30 happens twice in New York on 1 November 2026: the first is the scheduled time."""
    newsletter = make_newsletter(
        schedule="30 1 * * *", timezone="America/New_York", mode="automatic"
    )
    first = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK, fold=0).astimezone(UTC)
    second = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK, fold=1).astimezone(UTC)
    assert second - first == timedelta(hours=1)
    (due,) = plan(newsletter, first, State())
    assert due.key.slot == first
    done = State(
        runs=(SlotRun("brief", first, BUILD, "done"), SlotRun("brief", first, SEND, "done"))
    )
    assert plan(newsletter, second, done) == []
    assert plan(newsletter, second + timedelta(minutes=30), done) == []
