"""The edition's own words: a subject, preheader and intro built from what it leads with and
what its sections hold; rebuilt by every edit path while still as built, flagged by the lint
once hand-written and stale; and the summary-length lint."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from digest.app import App
from digest.articles import Article
from digest.cli import app as cli
from digest.editing import apply_yaml, edition_to_yaml
from digest.edition import Edition, Item, Section, edition_copy
from digest.edition_copy import (
    PREHEADER_LIMIT,
    SUBJECT_LIMIT,
    built_copy,
    clean_headline,
    short_forms,
    stale_copy,
)
from digest.render import render_edition
from digest.summarize import Summary
from digest.web import create_app
from tests.conftest import make_newsletter
from tests.web_support import csrf_of, draft_edition, settings_for

ROOT = Path(__file__).resolve().parent.parent
PASTED = ROOT.parent / "shared" / "data" / "pasted" / "cases.jsonl"
THEME = "the war and its neighbours"

# An edition written here: a lead section of three, two themed sections, and a brief.
OUTLINE = [
    (
        "Power grid",
        [
            "Engineers restore power to Kharkiv after overnight strikes on substations",
            "Generators arrive from Poland as the cold sets in – Example Wire",
            "Blackout schedules return",
        ],
    ),
    (
        "Ports",
        [
            "Odesa grain terminal reopens, officials say",
            "Insurers raise premiums for Black Sea shipping",
        ],
    ),
    ("Diplomacy", ["Warsaw summit ends with a pledge on air defence"]),
    ("In brief", ["Museum reopens its doors in Lviv", "Chess final moves to Vilnius"]),
]


def _edition(outline: list[tuple[str, list[str]]], theme: str = THEME) -> Edition:
    """An edition of this outline whose copy is the built one; summaries echo the headlines."""
    number = iter(range(1, 100))
    sections = [
        Section(
            title=title,
            items=[
                Item(
                    article=Article(id=next(number), title=h, text=f"{h}. More words follow."),
                    summary=Summary(text=f"{h}.", method="extractive"),
                )
                for h in headlines
            ],
        )
        for title, headlines in outline
    ]
    copy = built_copy(outline, theme)
    return Edition(
        id=1,
        newsletter="brief",
        number=1,
        date=date(2026, 11, 24),
        subject=copy.subject,
        preheader=copy.preheader,
        intro=copy.intro,
        sections=sections,
    )


def _whole_words_of(part: str, headlines: list[str]) -> bool:
    """The part is a headline, or one cut where a word ends."""
    for headline in headlines:
        clean = clean_headline(headline)
        if clean.startswith(part) and (len(clean) == len(part) or clean[len(part)] in " ,;:."):
            return True
    return False


def test_the_subject_is_the_lead_and_another_story_in_whole_words() -> None:
    copy = built_copy(OUTLINE, THEME)
    assert copy.subject.startswith("Engineers restore power to Kharkiv; Odesa grain terminal")
    assert len(copy.subject) <= SUBJECT_LIMIT
    parts = copy.subject.split("; ")
    assert len(parts) >= 2 and "more" not in copy.subject and "…" not in copy.subject
    headlines = [h for _, group in OUTLINE for h in group]
    assert all(_whole_words_of(part, headlines) for part in parts)
    # The same outline, the same words.
    assert built_copy(OUTLINE, THEME) == copy


def test_a_long_headline_is_cut_at_a_clause_not_mid_thought() -> None:
    headline = (
        "Parliament approves the winter budget for schools and hospitals after a night of "
        "talks that ran past the deadline in the capital"
    )
    forms = short_forms(headline)
    assert "Parliament approves the winter budget for schools and hospitals" in forms
    subject = built_copy([("Budget", [headline, "Teachers welcome the deal"])], THEME).subject
    assert subject.startswith("Parliament approves the winter budget for schools and hospitals")
    assert "…" not in subject and len(subject) <= SUBJECT_LIMIT
    # Credits, labels and dangling words are not the news.
    assert clean_headline("VIDEO: Ferry crosses the strait – Example Wire") == (
        "Ferry crosses the strait"
    )
    assert clean_headline("Dam repairs finish early | Example Daily | 19.01.2026") == (
        "Dam repairs finish early"
    )
    assert "Rail link opens with" not in short_forms("Rail link opens with it a new station")
    assert "Buy a 3080" not in short_forms("Buy a 3080, 3090 or 3070 graphics card")


def test_preheader_and_intro_name_other_stories_and_what_the_sections_hold() -> None:
    copy = built_copy(OUTLINE, THEME)
    assert len(copy.preheader) <= PREHEADER_LIMIT
    assert "This edition" not in copy.preheader and "Also:" not in copy.preheader
    named_in_subject = set(copy.subject.split("; "))
    preheader_stories = copy.preheader.split(". ")[0].split("; ")
    assert preheader_stories and not named_in_subject & set(preheader_stories)
    assert "in brief" in copy.preheader
    intro = copy.intro
    assert intro.startswith(
        "Engineers restore power to Kharkiv after overnight strikes on substations. "
        "That leads this edition, with two more in Power grid."
    )
    assert "In Ports, Odesa grain terminal reopens, officials say, and one more." in intro
    assert "In Diplomacy, Warsaw summit ends with a pledge on air defence." in intro
    assert "And two more in brief." in intro and intro.endswith("Eight stories in all.")
    assert "We lead with" not in intro


def test_built_copy_is_never_stale_and_hand_written_true_copy_is_not_flagged() -> None:
    edition = _edition(OUTLINE)
    assert stale_copy(edition, THEME) == []
    mine = edition.model_copy(
        update={
            "subject": "Kharkiv has power again; Odesa's grain terminal reopens",
            "intro": "Good morning. Engineers restored power to Kharkiv overnight. "
            "Eight stories in all, with more in Ports and Diplomacy.",
        }
    )
    assert stale_copy(mine, THEME) == []


def test_hand_written_copy_that_no_longer_matches_is_named() -> None:
    edition = _edition(OUTLINE)
    mine = edition.model_copy(
        update={
            "subject": "Kharkiv has power again; Warsaw pledges air defence",
            "preheader": "Odesa grain terminal reopens. More on Ports and Diplomacy.",
            "intro": "Kharkiv has power again. In Diplomacy, Warsaw pledges air defence. "
            "Eight stories in all.",
        }
    )
    assert stale_copy(mine, THEME) == []
    # The editor moves the Warsaw story first, removes the Odesa one (it goes back among the
    # stored articles outside the edition) and renames Diplomacy.
    power, ports, diplomacy, brief = mine.sections
    warsaw = diplomacy.items[0]
    changed = mine.model_copy(
        update={
            "sections": [
                Section(title="Summit", items=[warsaw]),
                power,
                Section(title="Ports", items=ports.items[1:]),
                brief,
            ]
        }
    )
    odesa = [ports.items[0].article.title]
    found = stale_copy(changed, THEME, outside=odesa)
    assert ("subject", "leads with a story that is no longer the lead") in found
    assert ("intro", "leads with a story that is no longer the lead") in found
    assert ("intro", "says Eight stories, the edition has 7") in found
    assert ("intro", 'names section "Diplomacy", which is no longer a section') in found
    assert ("preheader", 'names section "Diplomacy", which is no longer a section') in found
    assert (
        "preheader",
        'names "Odesa grain terminal…", which is no longer in the edition',
    ) in found


def test_a_removed_lead_named_by_a_name_the_edition_no_longer_has() -> None:
    edition = _edition(OUTLINE)
    mine = edition.model_copy(update={"subject": "Lights back on in Kharkiv"})
    power, *rest = mine.sections
    gone = mine.model_copy(
        update={"sections": [Section(title="Power grid", items=power.items[1:]), *rest]}
    )
    removed = [power.items[0].article.title]
    assert [f for f in stale_copy(gone, THEME, outside=removed) if f[0] == "subject"] == [
        ("subject", 'names "Lights back on…", which is no longer in the edition')
    ]


def test_a_name_the_editor_brings_in_is_not_stale() -> None:
    # No story has Dnipro or Zelensky, in the edition or outside it: the editor’s own words.
    edition = _edition(OUTLINE)
    mine = edition.model_copy(
        update={
            "intro": "Good morning from Dnipro. President Zelensky spoke to the nation last "
            "night; here is what the day brought.",
            "preheader": "Written in Dnipro by the desk.",
        }
    )
    outside = ["Beekeepers report a record honey harvest"]
    assert stale_copy(mine, THEME, outside=outside) == []


def test_lint_warns_of_summaries_far_over_the_budget_or_empty() -> None:
    edition = _edition(OUTLINE)
    first = edition.sections[0].items[0]
    long = Item(article=first.article, summary=Summary(text="word " * 80, method="edited"))
    near = edition.sections[0].items[1]
    near = Item(article=near.article, summary=Summary(text="word " * 75, method="edited"))
    sections = [
        Section(title="Power grid", items=[long, near, *edition.sections[0].items[2:]]),
        *edition.sections[1:],
    ]
    over = edition.model_copy(update={"sections": sections})
    newsletter = make_newsletter(summary_words=60, theme=THEME)
    findings = render_edition(over, newsletter).findings
    long_ones = [f for f in findings if f.code == "long-summary"]
    assert [f.message for f in long_ones] == [
        '"Engineers restore power to Kharkiv after overnight strikes on substations" '
        "(article 1): the summary has 80 words, more than a quarter over the newsletter's 60"
    ]
    assert long_ones[0].severity == "warning"
    empty = Item(article=first.article, summary=Summary.model_construct(text="", method="x"))
    blank = over.model_copy(
        update={"sections": [Section(title="Power grid", items=[empty]), *sections[1:]]}
    )
    [problem] = [f for f in render_edition(blank, newsletter).findings if "empty" in f.code]
    assert problem.message == (
        '"Engineers restore power to Kharkiv after overnight strikes on substations" '
        "(article 1): empty summary"
    )


# Every edit path, on the example articles in a real store


def _web(app: App) -> TestClient:
    return TestClient(create_app(app.settings, "127.0.0.1"), base_url="http://127.0.0.1")


def test_web_edits_rebuild_built_copy_and_lint_hand_written(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = App(settings_for(sqlite_url, tmp_path))
    edition = draft_edition(app)
    assert edition.id is not None
    theme = app.settings.newsletter("brief").theme
    assert not [f for f in app.render(edition).findings if f.code == "stale-copy"]
    lead, second = edition.sections[0].items[:2]
    with _web(app) as client:
        csrf = csrf_of(client.get(f"/editions/{edition.id}").text)
        # The lead moves down: the built subject and intro follow the new lead.
        client.post(
            f"/editions/{edition.id}/items/{lead.article.id}/move", data={"csrf": csrf, "step": 1}
        )
        moved = app.store.get_edition(edition.id)
        assert moved.top_story.article.id == second.article.id
        assert (moved.subject, moved.intro) == (
            edition_copy(moved, theme).subject,
            edition_copy(moved, theme).intro,
        )
        assert moved.subject != edition.subject
        assert moved.intro.startswith(clean_headline(second.article.title))
        # A section renamed: the intro names it.
        client.post(
            f"/editions/{edition.id}/sections/1/title",
            data={"csrf": csrf, "title": "Far East desk"},
        )
        renamed = app.store.get_edition(edition.id)
        assert (
            renamed.sections[1].title == "Far East desk" and "In Far East desk, " in renamed.intro
        )
        # A story the preheader names leaves: the preheader follows.
        named = next(
            item
            for item in renamed.items
            if clean_headline(item.article.title).split(",")[0] in renamed.preheader
        )
        client.post(f"/editions/{edition.id}/items/{named.article.id}/remove", data={"csrf": csrf})
        removed = app.store.get_edition(edition.id)
        assert clean_headline(named.article.title) not in removed.preheader
        assert removed.preheader == edition_copy(removed, theme).preheader
        # Hand-written copy is kept, and the page says which words went stale.
        current = removed.top_story.article.title
        # The editor's own subject: the lead's headline up to its credit, so that it differs
        # from the built one even when the headline alone fills the built subject.
        mine = clean_headline(current).split(",")[0]
        client.post(
            f"/editions/{edition.id}/fields",
            data={
                "csrf": csrf,
                "subject": mine,
                "preheader": removed.preheader,
                "intro": f"{clean_headline(current)}. In Far East desk, the pact. Eight stories.",
            },
        )
        assert not [
            f
            for f in app.render(app.store.get_edition(edition.id)).findings
            if f.code == "stale-copy"
        ]
        top = app.store.get_edition(edition.id).top_story.article
        client.post(f"/editions/{edition.id}/items/{top.id}/remove", data={"csrf": csrf})
        client.post(
            f"/editions/{edition.id}/sections/1/title", data={"csrf": csrf, "title": "Korea"}
        )
        after = app.store.get_edition(edition.id)
        assert after.subject == mine  # the editor's, kept
        page = client.get(f"/editions/{edition.id}").text
    messages = [f.message for f in app.render(after).findings if f.code == "stale-copy"]
    quoted = " ".join(clean_headline(current).split()[:3])
    # Cut at its credit, the removed lead's headline may read as about a story still there.
    assert (
        f'subject: names "{quoted}…", which is no longer in the edition' in messages
        or "subject: leads with a story that is no longer the lead" in messages
    )
    assert 'intro: names section "Far East desk", which is no longer a section' in messages
    assert "intro: says Eight stories, the edition has 7" in messages
    assert "which is no longer a section" in page
    app.close()


def test_add_to_draft_rebuilds_built_copy_and_keeps_the_editors(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = App(settings_for(sqlite_url, tmp_path))
    edition = draft_edition(app)
    [added] = app.add_upload(
        "ferry.md",
        b"# Ferry service to Varna resumes\n\nThe ferry to Varna sails again this week, the "
        b"operator said on Monday after repairs to the harbour wall were finished.\n",
    ).added
    grown = app.add_to_draft(edition, [added])
    assert "ten stories in all" in grown.intro.lower()
    assert grown.intro == edition_copy(grown, app.settings.newsletter("brief").theme).intro
    mine = app.store.update_edition(grown.model_copy(update={"intro": "Ten stories this week."}))
    [more] = app.add_upload(
        "cranes.md",
        b"# Harbour cranes return to work\n\nThe cranes at the harbour were repaired and are "
        b"lifting containers again, the port authority said on Tuesday.\n",
    ).added
    larger = app.add_to_draft(mine, [more])
    assert larger.intro == "Ten stories this week."
    messages = [f.message for f in app.render(larger).findings if f.code == "stale-copy"]
    assert messages == ["intro: says Ten stories, the edition has 11"]
    app.close()


@pytest.fixture
def workdir(example_workdir: Path) -> Path:
    return example_workdir


def _digest(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_yaml_edit_rebuilds_built_copy_and_lint_flags_hand_written(workdir: Path) -> None:
    _digest("add", str(ROOT / "examples/articles"))
    _digest("build")
    before = json.loads(_digest("editions", "show", "latest", "--json"))
    path = workdir / "edition.yaml"
    _digest("edit", "latest", "--to", str(path))
    document = yaml.safe_load(path.read_text())
    lead = document["sections"][0]["items"].pop(0)  # the lead goes to the last section
    document["sections"][-1]["items"].append(lead)
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    _digest("edit", "latest", "--from", str(path))
    after = json.loads(_digest("editions", "show", "latest", "--json"))
    new_lead = after["sections"][0]["items"][0]["article"]["title"]
    assert after["subject"] != before["subject"]
    assert after["subject"].startswith(clean_headline(new_lead).split(",")[0][:30])
    assert after["intro"].startswith(clean_headline(new_lead)[:30])
    # Now by hand: the subject names the new lead; then the lead moves again.
    _digest("edit", "latest", "--to", str(path))
    document = yaml.safe_load(path.read_text())
    # Up to the headline's credit: hand-written even when the headline fills the built subject.
    document["subject"] = clean_headline(new_lead).split(",")[0]
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    _digest("edit", "latest", "--from", str(path))
    assert "stale-copy" not in _digest("lint", "latest", "--json")
    document["sections"][0]["items"].reverse()
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    _digest("edit", "latest", "--from", str(path))
    linted = _digest("lint", "latest")
    assert "subject: leads with a story that is no longer the lead" in linted


def test_apply_yaml_keeps_copy_the_editor_changes_in_the_same_edit(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = App(settings_for(sqlite_url, tmp_path))
    edition = draft_edition(app)
    document = yaml.safe_load(edition_to_yaml(edition))
    document["subject"] = "My own subject"
    document["sections"][0]["items"].reverse()
    edited = apply_yaml(edition, yaml.safe_dump(document), app.store, "edition.yaml")
    stored = app.revise(edition, edited)
    assert stored.subject == "My own subject"
    assert stored.intro == edition_copy(stored, app.settings.newsletter("brief").theme).intro
    app.close()


def test_subjects_from_real_headlines_fit_and_end_on_whole_words() -> None:
    if not PASTED.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{PASTED} is missing")
        pytest.skip("../shared/data is not here")
    titles = [json.loads(line)["titles"][0] for line in PASTED.read_text().splitlines()]
    for start in range(0, len(titles) - 6, 3):
        group = titles[start : start + 7]
        outline = [("Top", group[:3]), ("World", group[3:5]), ("In brief", group[5:])]
        copy = built_copy(outline, "news")
        assert 0 < len(copy.subject) <= SUBJECT_LIMIT, copy.subject
        assert 0 < len(copy.preheader) <= PREHEADER_LIMIT, copy.preheader
        parts = copy.subject.split(", and more on ")[0].split("; ")
        assert all(_whole_words_of(p.removesuffix("…"), group) for p in parts), copy.subject
        assert copy.intro.endswith("Seven stories in all.")
        edition = _edition(outline, "news")
        assert stale_copy(edition, "news") == []
