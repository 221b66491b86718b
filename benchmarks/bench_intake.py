"""How well pasted news pages are read: headline right, article passages kept, page chrome kept,
author and date found, for careful and select-all copies, beside jusText and trafilatura on the
same text in the same run.

Run: .venv/bin/python benchmarks/bench_intake.py [--pages]   (reads ../shared/data/pasted)

The development set is split in two by position in cases.jsonl, and figures are printed for
each half and for all. The reader's rules were first written on the even-numbered pages alone;
the odd-numbered ones, unseen until then, scored careful titles 16/20, select-all titles 15/20,
body 0.98 / 0.98, chrome 0.33 / 0.23 (commit "Bylines: several names…"). The rules were then
made more general on all pages, so today's held-out figures are no longer unseen: the
independent set the project does not have is what checks them.

The set keeps only the text of each page, not its HTML, so jusText and trafilatura (digest's
`.html` path) read the same text given to them as HTML, one paragraph per line: a like-for-like
comparison of text classifiers, not of HTML extraction.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from digest.evaluate_intake import KINDS, Case, Reading, Score, load_cases, score
from digest.intake import article_from_pasted

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pasted"


def read_digest(raw: str) -> Reading:
    article = article_from_pasted(raw, "bench")
    published = article.published.isoformat() if article.published else None
    return Reading(article.title, article.text, article.author, published)


def as_html(raw: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in raw.splitlines() if line.strip())
    return f"<html><body>{paragraphs}</body></html>"


def read_justext(raw: str) -> Reading:
    import justext

    paragraphs = justext.justext(as_html(raw), justext.get_stoplist("English"))
    kept = [p.text for p in paragraphs if not p.is_boilerplate]
    headings = [p.text for p in paragraphs if p.heading and not p.is_boilerplate]
    return Reading(headings[0] if headings else (kept[0] if kept else ""), "\n".join(kept))


def read_trafilatura(raw: str) -> Reading:
    import trafilatura

    text = trafilatura.extract(as_html(raw), include_comments=False, include_tables=False)
    return Reading("", text or "")


READERS: dict[str, tuple[Callable[[str], Reading], bool]] = {
    "digest": (read_digest, True),
    "jusText (text as HTML)": (read_justext, False),
    "trafilatura, digest's .html path (text as HTML)": (read_trafilatura, False),
}


def row(name: str, result: Score, titled: bool) -> str:
    title = f"{result.titles_right}/{result.pages}" if titled else "-"
    people = f"{result.authors}/{result.pages}" if titled else "-"
    dates = f"{result.dates}/{result.pages}" if titled else "-"
    return (
        f"| {name} | {title} | {result.body_share:.2f} | {result.chrome_share:.2f} "
        f"| {people} | {dates} |"
    )


def table(label: str, cases: list[Case], show_pages: bool) -> None:
    print(f"\n{label}: {len(cases)} pages")
    print("| reader, copy | title right | body kept | chrome kept | author | date |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in KINDS:
        for name, (read, titled) in READERS.items():
            result = score(cases, kind, read, title_scored=titled)
            print(row(f"{name}, {kind.replace('_', '-')}", result, titled))
            if show_pages and titled:
                for page, title in result.wrong_titles:
                    print(f"    wrong title {page}: {title[:90]!r}")


def main() -> None:
    cases = load_cases(DATA)
    show_pages = "--pages" in sys.argv
    table("development half (rules developed on it)", cases[0::2], show_pages)
    table("held-out half", cases[1::2], show_pages)
    table("all pages", cases, False)
    started = time.perf_counter()
    for case in cases[:25]:
        read_digest(case.texts["select_all"])
    print(f"\n25 select-all pages read in {time.perf_counter() - started:.2f} s")
    print(f"`digest add` of 25 select-all pages in one call: {add_in_one_call(cases[:25]):.2f} s")


def add_in_one_call(cases: list[Case]) -> float:
    """Wall time of one `digest add FOLDER` process (start-up, reading, storing in SQLite)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    try:
        pages = folder / "pages"
        pages.mkdir()
        for case in cases:
            shutil.copy(DATA / f"{case.name}.select-all.txt", pages / f"{case.name}.txt")
        config = folder / "digest.toml"
        config.write_text(f'database_url = "sqlite:///{folder / "digest.db"}"\n')
        command = [sys.executable, "-m", "digest", "--config", str(config), "add", str(pages)]
        subprocess.run([*command[:5], "articles", "list"], check=True, capture_output=True)
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
