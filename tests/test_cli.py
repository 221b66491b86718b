"""End to end through the real `digest` command, in a temporary working directory."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
DIGEST = str(Path(sys.executable).parent / "digest")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "digest.toml", tmp_path / "digest.toml")
    return tmp_path


def run(
    workdir: Path,
    *args: str,
    check: bool = True,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    environment.update(env or {})
    result = subprocess.run(
        [DIGEST, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=environment,
        input=stdin,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"digest {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_full_pipeline_from_examples(workdir: Path, shared_data: Path) -> None:
    added = json.loads(
        run(
            workdir,
            "add",
            str(ROOT / "examples/articles"),
            str(shared_data / "articles/north-korea-troops-pasted.txt"),
            "--json",
        ).stdout
    )
    assert len(added) == 10
    assert set(added[0]) == {
        *("id", "title", "url", "source", "author", "published", "tags", "keywords", "text"),
        *("image_url", "image_width", "image_height"),
        "word_count",
    }
    pasted = next(a for a in added if a["source"] == "Bloomberg")
    assert (
        pasted["title"] == "North Korea may send up to 100,000 soldiers to help Russia – Bloomberg"
    )
    assert "0 Comments" not in pasted["text"]

    again = run(workdir, "add", str(ROOT / "examples/articles"))
    assert "0 added, 9 already stored, 0 failed" in again.stdout

    listed = json.loads(run(workdir, "articles", "list", "--json").stdout)
    assert len(listed) == 10
    shown = json.loads(run(workdir, "articles", "show", str(pasted["id"]), "--json").stdout)
    assert shown == pasted

    edition = json.loads(run(workdir, "build", "--json", "--date", "2026-11-24").stdout)
    assert edition["id"] and edition["number"] == 1 and edition["status"] == "draft"
    assert len([i for s in edition["sections"] for i in s["items"]]) == 10
    pasted_item = next(
        i for s in edition["sections"] for i in s["items"] if i["article"]["id"] == pasted["id"]
    )
    assert 1 <= pasted_item["summary"]["text"].count(". ") + 1 <= 3

    lint = run(workdir, "lint", str(edition["id"]))
    assert "HTML size:" in lint.stdout

    out = workdir / "out"
    run(workdir, "render", str(edition["id"]), "--out", str(out / "e.html"))
    run(workdir, "render", "latest", "--format", "text", "--out", str(out / "e.txt"))
    run(workdir, "render", "latest", "--format", "mjml", "--out", str(out / "e.mjml"))
    soup = BeautifulSoup((out / "e.html").read_text(), "html5lib")
    assert soup.title is not None and soup.title.string == edition["subject"]
    assert pasted["title"] in (out / "e.txt").read_text()
    assert (out / "e.mjml").read_text().lstrip().startswith("<mjml")

    # Nothing new: a second build says so and fails.
    nothing = run(workdir, "build", check=False)
    assert nothing.returncode == 1
    assert "no new articles for ukraine" in nothing.stderr


def test_build_with_nothing_stored_says_so(workdir: Path) -> None:
    empty = run(workdir, "build", check=False)
    assert empty.returncode == 1
    assert empty.stderr.strip() == "error: no articles stored yet: add some with `digest add`"


def test_edit_round_trip_and_validation(workdir: Path) -> None:
    run(
        workdir,
        "add",
        str(ROOT / "examples/articles/sanctions.jsonl"),
        str(ROOT / "examples/articles/drones-and-air-defence.json"),
    )
    run(workdir, "build")
    yaml_path = workdir / "edition.yaml"
    run(workdir, "edit", "latest", "--to", str(yaml_path))
    import yaml

    document = yaml.safe_load(yaml_path.read_text())
    document["subject"] = "Edited subject"
    first_section = document["sections"][0]
    first_section["items"][0]["summary"] = "A summary the editor wrote."
    first_section["items"].reverse()
    yaml_path.write_text(yaml.safe_dump(document, allow_unicode=True))
    run(workdir, "edit", "latest", "--from", str(yaml_path))
    shown = json.loads(run(workdir, "editions", "show", "latest", "--json").stdout)
    assert shown["subject"] == "Edited subject"
    items = shown["sections"][0]["items"]
    assert items[-1]["summary"] == {
        "text": "A summary the editor wrote.",
        "method": "edited",
        "note": "",
    }

    document["sections"][0]["items"][0]["article"] = 999
    yaml_path.write_text(yaml.safe_dump(document))
    bad = run(workdir, "edit", "latest", "--from", str(yaml_path), check=False)
    assert bad.returncode == 1
    assert "sections.0.items.0.article: no article with id 999" in bad.stderr
    assert json.loads(run(workdir, "editions", "show", "latest", "--json").stdout) == shown


def test_edit_in_editor_keeps_work_when_invalid(workdir: Path) -> None:
    run(workdir, "add", str(ROOT / "examples/articles/sanctions.jsonl"))
    run(workdir, "build")
    editor = workdir / "editor.sh"
    # A scripted "editor" that empties the subject, which validation must refuse.
    editor.write_text('#!/bin/sh\nsed -i "s/^subject: .*/subject: \'\'/" "$1"\n')
    editor.chmod(0o755)
    result = run(workdir, "edit", "latest", check=False, env={"EDITOR": str(editor)})
    assert result.returncode == 1
    assert "subject: String should have at least 1 character" in result.stderr
    rescue = next(workdir.glob("edition-*-unsaved.yaml"))
    assert "subject: ''" in rescue.read_text()


def test_render_refuses_errors_unless_forced(workdir: Path, tmp_path: Path) -> None:
    templates = tmp_path / "tpl" / "partials"
    templates.mkdir(parents=True)
    (templates / "footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>no unsubscribe</mj-text></mj-column></mj-section>"
    )
    env = {"DIGEST_TEMPLATES_DIR": str(tmp_path / "tpl")}
    run(workdir, "add", str(ROOT / "examples/articles/sanctions.jsonl"), env=env)
    run(workdir, "build", env=env)
    refused = run(workdir, "render", "latest", "--out", "x.html", check=False, env=env)
    assert refused.returncode == 1
    assert "error: no-unsubscribe" in refused.stderr and not (workdir / "x.html").exists()
    run(workdir, "render", "latest", "--out", "x.html", "--force", env=env)
    assert (workdir / "x.html").exists()


def test_errors_are_one_line_without_traceback(workdir: Path) -> None:
    missing = run(workdir, "articles", "show", "42", check=False)
    assert missing.returncode == 1 and missing.stderr == "error: no article with id 42\n"
    bad_config = run(
        workdir, "config", check=False, env={"DIGEST_NEWSLETTERS__UKRAINE__FROM_ADDRESS": "nobody"}
    )
    assert bad_config.returncode == 1
    assert (
        "newsletters.ukraine.from_address: value is not a valid email address" in bad_config.stderr
    )
    assert "Traceback" not in bad_config.stderr
    partial = run(
        workdir, "add", "missing.md", str(ROOT / "examples/articles/sanctions.jsonl"), check=False
    )
    assert partial.returncode == 1
    assert "error: missing.md: file not found" in partial.stderr
    assert "2 added" in partial.stdout


def test_config_masks_secrets(workdir: Path) -> None:
    shown = json.loads(
        run(
            workdir,
            "config",
            env={
                "DIGEST_SECRET_KEY": "topsecret",
                "DIGEST_DATABASE_URL": "postgresql://u:pw@127.0.0.1/db",
            },
        ).stdout
    )
    assert shown["secret_key"] == "**********"
    assert shown["database_url"] == "postgresql://u:***@127.0.0.1/db"
    assert shown["newsletters"]["ukraine"]["theme"] == "Russia's war in Ukraine and its allies"


def test_help_does_not_import_heavy_modules() -> None:
    """`digest --help` (and a cron tick with nothing due) must stay fast: no database, web,
    template or extraction library is imported for it."""
    code = (
        "import sys\n"
        "from digest.cli import main\n"
        "sys.argv = ['digest', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = {'sqlalchemy', 'trafilatura', 'mjml', 'alembic', 'jinja2', 'pydantic_settings',\n"
        "         'fastapi', 'httpx', 'rich.console'}\n"
        "print(sorted(heavy & set(sys.modules)), file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "Usage: digest" in result.stdout
    assert result.stderr.strip() == "[]"


def test_subscribers_and_send_through_the_cli(workdir: Path, tmp_path: Path) -> None:
    env = {"DIGEST_SECRET_KEY": "cli-test-secret-0123456789"}
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(
        "email,name,team\nana@example.org,Ana,red\nbroken,B,x\nben@example.org,Ben,blue\n",
        encoding="utf-8",
    )
    imported = run(workdir, "subscribers", "import", str(csv_path), "--list", "readers", env=env)
    assert "3 rows, 2 new, 0 merged, 1 rejected" in imported.stdout
    assert f"rejected: {csv_path}:3: invalid address 'broken'" in imported.stderr
    added = run(
        workdir,
        "subscribers",
        "add",
        "cy@example.org",
        "--list",
        "readers",
        "--name",
        "Cy",
        "--field",
        "team=green",
        env=env,
    )
    assert "cy@example.org added: subscribed on readers" in added.stdout
    stats = json.loads(run(workdir, "subscribers", "stats", "--json", env=env).stdout)
    assert stats["readers"]["subscribed"] == 3

    run(workdir, "add", str(ROOT / "examples/articles/sanctions.jsonl"), env=env)
    run(workdir, "build", env=env)
    refused = run(workdir, "send", "latest", "--yes", check=False, env=env)
    assert refused.returncode == 1 and "approve it first" in refused.stderr
    run(workdir, "approve", "latest", "--send-at", "2099-01-05T07:00", env=env)
    dry = run(workdir, "send", "latest", "--dry-run", env=env)
    assert "dry run: edition 1 via outbox to readers (3 subscribed)" in dry.stdout
    assert not (workdir / "outbox").exists()
    run(workdir, "subscribers", "unsubscribe", "ben@example.org", "--list", "readers", env=env)
    # Approved for the next scheduled time: only `digest run` then, or --now, sends it.
    assert "approved for Mon 5 Jan 2099, 07:00 Europe/Kyiv (05:00 UTC)" in dry.stdout
    early = run(workdir, "send", "latest", "--yes", check=False, env=env)
    assert early.returncode == 1 and "`digest send 1 --now` sends it now" in early.stderr
    assert not (workdir / "outbox").exists()
    sent = run(workdir, "send", "latest", "--yes", "--now", env=env)
    assert "edition 1: 2 sent via outbox in 1 batches" in sent.stdout and "complete" in sent.stdout
    files = sorted((workdir / "outbox" / "ukraine" / "edition-1").glob("*.eml"))
    recipients = [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default)["To"].addresses[0]
        for f in files
    ]
    assert [r.addr_spec for r in recipients] == ["ana@example.org", "cy@example.org"]
    assert all("@" not in f.name for f in files)  # file names never hold an address
    again = run(workdir, "send", "latest", "--yes", env=env)
    assert "sent already; nothing to do" in again.stdout

    raw = files[0].read_text()
    token = raw.split("/u/", 1)[1].split(">", 1)[0]
    done = run(workdir, "unsubscribe", token, env=env)
    assert "ana@example.org is unsubscribed on list readers" in done.stdout
    forged = run(
        workdir,
        "unsubscribe",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        check=False,
        env=env,
    )
    assert forged.returncode == 1 and "not valid" in forged.stderr

    exported = run(workdir, "subscribers", "export", "--list", "readers", env=env).stdout
    assert exported.splitlines()[0] == (
        "email,name,status,source,consent_at,consent_origin,topics,frequency,team"
    )
    assert "ana@example.org,Ana,unsubscribed" in exported
    removed = run(workdir, "subscribers", "remove", "cy@example.org", env=env)
    assert "removed 1 subscription(s)" in removed.stdout


def test_eval_summaries_prints_readability_rates_on_the_half_not_tuned_on(
    workdir: Path, shared_data: Path
) -> None:
    data = shared_data / "summaries/dev.jsonl"
    result = run(workdir, "eval", "summaries", str(data), "--dataset", "cnndm", "--half", "other")
    lines = result.stdout.splitlines()
    assert "other half" in lines[0]
    header = [cell.strip() for cell in lines[1].strip("|").split("|")]
    assert header[:10] == [
        "system",
        "R-1",
        "R-2",
        "R-L",
        "R-Lsum",
        "words",
        "dangling",
        "filler",
        "names",
        "articles/s",
    ]
    rows = {
        cells[0]: cells
        for line in lines[3:]
        if (cells := [cell.strip() for cell in line.strip("|").split("|")])
    }
    ours, lead3 = rows["extractive"], rows["Lead-3"]
    # On articles it was not tuned on: above Lead-3 on and R-L, in fewer words, with
    # at most 5% of summaries opening on a word that points back.
    for column in (1, 2, 3):
        assert float(ours[column]) > float(lead3[column]), (column, ours, lead3)
    assert float(ours[5]) <= 75
    assert float(ours[6].rstrip("%")) <= 5
    bad = run(workdir, "eval", "summaries", str(data), "--half", "first", check=False)
    assert bad.returncode == 1 and "--half" in bad.stderr


def test_cancel_asks_and_back_to_draft_keeps_the_edition(workdir: Path) -> None:
    run(workdir, "add", str(ROOT / "examples/articles/sanctions.jsonl"))
    run(workdir, "build")
    run(workdir, "approve", "latest", "--send-at", "2026-11-25T07:00")
    kept = run(workdir, "cancel", "latest", check=False, stdin="n\n")
    assert kept.returncode == 1 and "Cancel edition 1 of" in kept.stdout
    listed = run(workdir, "editions", "list").stdout
    assert "approved" in listed and "(05:00 UTC)" in listed
    cancelled = run(workdir, "cancel", "latest", stdin="y\n")
    assert "edition 1 cancelled (digest back-to-draft 1 undoes it)" in cancelled.stdout
    assert "was planned for" in run(workdir, "editions", "list").stdout
    run(workdir, "back-to-draft", "latest")
    state = json.loads(run(workdir, "editions", "list", "--json").stdout)[0]
    assert state["status"] == "draft" and state["state"] == "draft (was cancelled)"
