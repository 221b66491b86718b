"""Calibration of the grounding guard (digest/summarize/grounding.py) that an LLM summary passes.

The development records carry no factuality labels (FRANK's human judgements are not in
them: only `article`, `reference` and `systems`), so the guard is calibrated on sentences
whose label is known by construction:

- faithful: the CNN/DM reference highlights (written by the papers' journalists from the
  article, abstractive) and light paraphrases of article sentences (an aside between commas,
  or the attribution, taken out);
- corrupted, made from those: a splice (the start of one sentence with the end of another,
  every word from the article), two names swapped (subject and object), a name replaced by
  another of the article's, a number replaced by another of the article's, a negation added.

Articles are split in two halves by a hash of their id: the thresholds are chosen on one half
and reported on the other, and the reverse. Then, for orientation, the share of sentences each
published system wrote that the chosen guard refuses (FRANK found most XSum outputs and
references unfaithful, CNN/DM's much less so).

Run: .venv/bin/python benchmarks/bench_grounding.py [DATA.jsonl]
     (reads ../shared/data/summaries/dev.jsonl by default)
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from digest.summarize import grounding
from digest.summarize.grounding import ArticleIndex, Grounding, word_key
from digest.summarize.llm import unsupported
from digest.summarize.sentences import text_sentences
from digest.terms import STOP_WORDS, tokens

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "summaries" / "dev.jsonl"
COVERAGES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0)
WINDOWS = (3, 6, 10, 1000)  # 1000: anywhere in the same sentence
Params = tuple[float, int, bool, int]
BROKEN = (0, 1)
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]{2,}(?:\s+[A-Z][a-z]{2,})*")
_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
_AUXILIARY = re.compile(r"\b(is|was|are|were|has|have|had|will|would|can|could)\b")


@dataclass
class Case:
    article: int  # index into the articles
    sentence: str
    kind: str  # "reference", "paraphrase", or a corruption's name
    faithful: bool


def detokenise(text: str) -> str:
    """The datasets' tokenised text ("embryos . The", "does n't", "`` quoted ''") made prose."""
    text = text.replace("``", '"').replace("''", '"').replace(" n't", "n't")
    text = re.sub(r" (['’]s|[.,;:!?%)])", r"\1", text)
    return re.sub(r"\( ", "(", text)


def light_paraphrase(sentence: str) -> str | None:
    """The sentence without its first aside between commas, or without its attribution."""
    aside = re.sub(r", [^,]{3,60}, ", " ", sentence, count=1)
    if aside != sentence and len(aside.split()) >= 6:
        return aside
    attribution = re.sub(r",\s+[^,]{2,40}\s(?:said|says|told \w+)\.$", ".", sentence)
    if attribution != sentence and len(attribution.split()) >= 6:
        return attribution
    return None


def corruptions(
    sentence: str, article: list[str], rng: random.Random, foreign: list[str]
) -> list[tuple[str, str]]:
    """(kind, sentence) for each corruption that applies to `sentence`. `foreign`: content
    words of other articles, for a word the article never uses."""
    made: list[tuple[str, str]] = []
    words = sentence.rstrip(".").split()
    own = {word_key(t) for s in article for t in tokens(s)}
    replaceable = [
        i
        for i, w in enumerate(words)
        if i > 0 and w.isalpha() and w.islower() and w not in STOP_WORDS and len(w) > 3
    ]
    if replaceable:
        stranger = [w for w in rng.sample(foreign, 50) if word_key(w) not in own]
        if stranger:
            replaced = list(words)
            replaced[rng.choice(replaceable)] = stranger[0]
            made.append(("word replaced", " ".join(replaced) + "."))
    others = [s for s in article if s != sentence and len(s.split()) >= 8]
    if len(words) >= 6 and others:
        other = rng.choice(others).rstrip(".").split()
        cut, tail = rng.randint(2, len(words) // 2), rng.randint(len(other) // 2, len(other) - 2)
        spliced = " ".join(words[:cut] + other[tail:]) + "."
        if "," not in " ".join(words[cut - 1 : cut + 1]):
            made.append(("splice", spliced))
    names = list(dict.fromkeys(_NAME.findall(" " + sentence)))
    if len(names) >= 2 and names[0].lower() not in names[-1].lower():
        a, b = names[0], names[-1]
        swapped = sentence.replace(a, "\0").replace(b, a).replace("\0", b)
        if swapped != sentence:
            made.append(("names swapped", swapped))
    article_names = list(dict.fromkeys(n for s in article for n in _NAME.findall(" " + s)))
    if names:
        target = rng.choice(names)
        replacements = [
            n
            for n in article_names
            if n.lower() not in sentence.lower() and target.lower() not in n.lower()
        ]
        if replacements:
            made.append(("name replaced", sentence.replace(target, rng.choice(replacements), 1)))
    numbers = _NUMBER.findall(sentence)
    if numbers:
        target = rng.choice(numbers)
        choices = sorted({n for s in article for n in _NUMBER.findall(s)} - set(numbers))
        if choices:
            made.append(("number replaced", sentence.replace(target, rng.choice(choices), 1)))
    if _AUXILIARY.search(sentence) and " not " not in sentence:
        made.append(("negation added", _AUXILIARY.sub(r"\1 not", sentence, count=1)))
    return made


def build_cases(records: list[dict[str, object]]) -> tuple[list[list[str]], list[Case]]:
    rng = random.Random(11)
    articles = [text_sentences(str(r["article"])) for r in records]
    cases: list[Case] = []
    foreign = sorted(
        {
            t
            for r in records
            for t in tokens(str(r["reference"]))
            if t.isalpha() and t not in STOP_WORDS and len(t) > 3
        }
    )
    for index, record in enumerate(records):
        if record["dataset"] != "cnndm":
            continue
        faithful: list[tuple[str, str]] = [
            ("reference", s) for s in text_sentences(detokenise(str(record["reference"])))
        ]
        lead = [s for s in articles[index][:12] if len(s.split()) >= 12]
        for sentence in rng.sample(lead, min(3, len(lead))):
            paraphrase = light_paraphrase(sentence)
            if paraphrase:
                faithful.append(("paraphrase", paraphrase))
        for kind, sentence in faithful:
            cases.append(Case(index, sentence, kind, True))
            for corrupted_kind, corrupted in corruptions(sentence, articles[index], rng, foreign):
                cases.append(Case(index, corrupted, corrupted_kind, False))
    return articles, cases


def refused(g: Grounding, coverage: float, broken: int) -> bool:
    return g.coverage < coverage or len(g.broken) > broken or g.negation_unsupported


def half(record: dict[str, object]) -> int:
    # Salted: the development file itself is the half of FRANK whose plain id hash is even.
    return int(hashlib.sha1(f"grounding {record['id']}".encode()).hexdigest(), 16) % 2


FAITHFUL = ("reference", "paraphrase")


def per_kind(cases: list[Case], refusals: list[bool]) -> dict[str, float]:
    """The share of each kind's sentences refused."""
    counts: Counter[str] = Counter()
    refused_counts: Counter[str] = Counter()
    for case, no in zip(cases, refusals, strict=True):
        counts[case.kind] += 1
        refused_counts[case.kind] += no
    return {kind: refused_counts[kind] / counts[kind] for kind in counts}


def figures(cases: list[Case], refusals: list[bool]) -> tuple[float, float, float, float]:
    """(the objective, corrupted refused, faithful refused, precision of refusals). The
    objective: the mean over corruption kinds of the share refused, less the mean over the
    faithful kinds, so that a common kind weighs no more than a rare one."""
    kinds = per_kind(cases, refusals)
    bad = [v for k, v in kinds.items() if k not in FAITHFUL]
    good = [v for k, v in kinds.items() if k in FAITHFUL]
    tp = sum(no for c, no in zip(cases, refusals, strict=True) if not c.faithful)
    fp = sum(no for c, no in zip(cases, refusals, strict=True) if c.faithful)
    n_bad = sum(not c.faithful for c in cases) or 1
    n_good = sum(c.faithful for c in cases) or 1
    objective = sum(bad) / max(len(bad), 1) - sum(good) / max(len(good), 1)
    return objective, tp / n_bad, fp / n_good, tp / (tp + fp) if tp + fp else 1.0


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    labelled = {"factual", "label", "labels", "annotations", "errors"} & {
        key for r in records for key in r
    }
    print(f"{len(records)} records; factuality labels in them: {sorted(labelled) or 'none'}")
    _, cases = build_cases(records)
    indexes = [ArticleIndex(str(r["article"])) for r in records]
    kinds = Counter(c.kind for c in cases)
    print("calibration sentences:", ", ".join(f"{k} {n}" for k, n in kinds.items()))

    halves = [half(records[c.article]) for c in cases]
    grounded = {
        (window, ordered): [
            indexes[c.article].ground(c.sentence, window=window, ordered=ordered) for c in cases
        ]
        for window, ordered in product(WINDOWS, (False, True))
    }

    def refusals(params: Params, rows: list[int]) -> list[bool]:
        coverage, window, ordered, broken = params
        return [refused(grounded[window, ordered][i], coverage, broken) for i in rows]

    print("\nthresholds chosen on one half (best objective), reported on the other:")
    print(
        "tuned on | coverage | window | ordered | broken pairs | refused corrupted | "
        "refused faithful | precision"
    )
    for tune in (0, 1):
        tuning = [i for i, h in enumerate(halves) if h == tune]
        held = [i for i, h in enumerate(halves) if h != tune]
        best = max(
            product(COVERAGES, WINDOWS, (False, True), BROKEN),
            key=lambda p: figures([cases[i] for i in tuning], refusals(p, tuning))[0],
        )
        _, recall, false_refusals, precision = figures(
            [cases[i] for i in held], refusals(best, held)
        )
        print(
            f"half {tune} | {' | '.join(map(str, best))} | {recall:.1%} | "
            f"{false_refusals:.1%} | {precision:.1%}"
        )

    coverage, window, broken = (
        grounding.MIN_COVERAGE,
        grounding.WINDOW,
        grounding.MAX_BROKEN_PAIRS,
    )
    print(
        f"\nthe guard as shipped (coverage ≥ {coverage}, window {window}, "
        f"ordered {grounding.ORDERED}, broken pairs ≤ {broken}), on both halves:"
    )
    shipped = [indexes[c.article].ground(c.sentence) for c in cases]
    print("kind | sentences | refused | refused with the names-and-numbers check too")
    for kind in kinds:
        rows = [i for i, c in enumerate(cases) if c.kind == kind]
        alone = sum(not shipped[i].grounded for i in rows)
        both = sum(
            not shipped[i].grounded
            or bool(unsupported(cases[i].sentence, str(records[cases[i].article]["article"])))
            for i in rows
        )
        print(f"{kind} | {len(rows)} | {alone / len(rows):.1%} | {both / len(rows):.1%}")
    # A corruption of a sentence the guard already refuses is refused for nothing it did: the
    # share of corruptions refused among those of accepted sentences is what the relations add.
    accepted = {
        (c.article, c.sentence)
        for c, g in zip(cases, shipped, strict=True)
        if c.faithful and g.grounded
    }
    origin = ""
    conditional = [0, 0]
    for c, g in zip(cases, shipped, strict=True):
        if c.faithful:
            origin = c.sentence
        elif (c.article, origin) in accepted:
            conditional[0] += not g.grounded
            conditional[1] += 1
    print(
        f"corruptions of accepted faithful sentences refused: {conditional[0]} of {conditional[1]}"
        f" ({conditional[0] / max(conditional[1], 1):.1%})"
    )
    for label, held_half in (("half 0", 0), ("half 1", 1), ("all", None)):
        rows = [i for i, h in enumerate(halves) if held_half is None or h == held_half]
        _, recall, false_refusals, precision = figures(
            [cases[i] for i in rows], [not shipped[i].grounded for i in rows]
        )
        print(
            f"{label}: refused corrupted {recall:.1%}, refused faithful {false_refusals:.1%}, "
            f"precision of refusals {precision:.1%}"
        )

    print("\nsentences of the published systems refused by the guard as shipped (orientation):")
    print("dataset | system | sentences | refused")
    for dataset in ("cnndm", "xsum"):
        systems: Counter[str] = Counter()
        refused_by: Counter[str] = Counter()
        for index, record in enumerate(records):
            if record["dataset"] != dataset:
                continue
            outputs = dict(record["systems"])
            outputs["reference"] = record["reference"]
            for system, text in outputs.items():
                for sentence in text_sentences(detokenise(str(text))):
                    systems[system] += 1
                    refused_by[system] += not indexes[index].ground(sentence).grounded
        for system in sorted(systems):
            print(
                f"{dataset} | {system} | {systems[system]} | "
                f"{refused_by[system] / systems[system]:.1%}"
            )


if __name__ == "__main__":
    main()
