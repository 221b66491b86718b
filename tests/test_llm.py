"""The LLM summariser against a local OpenAI-compatible server: good answers used; failures,
garbage, slowness and unfaithful answers replaced by the extractive summary; the cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from digest.app import App
from digest.articles import Article
from digest.config import Settings
from digest.summarize.extractive import ExtractiveSummarizer
from digest.summarize.llm import LlmError, LlmSummarizer, edition_copy, json_object, unsupported
from tests.conftest import make_newsletter
from tests.servers.llm import LlmState, Reply, running_llm

THEME = "Russia's war in Ukraine and its allies"
ARTICLE = Article(
    id=1,
    title="Allies pledge Patriot batteries",
    text=(
        "Ukraine's allies pledged three more Patriot batteries on Tuesday, ministers said in "
        "Brussels. Kyiv asked for the systems to protect power plants. Delivery dates were not "
        "disclosed, and production of 500 interceptors a year remains the constraint."
    ),
)
SANCTIONS = (
    "European Union governments agreed sanctions that add dozens of shadow fleet tankers to a "
    "list of ships barred from EU ports."
)
GOOD = (
    "Ukrainian allies pledged three more Patriot batteries, and Kyiv asked for the systems to "
    "protect power plants."
)


@pytest.fixture
def llm() -> Iterator[tuple[str, LlmState]]:
    with running_llm() as server:
        yield server


def summarizer(base: str, **options: object) -> LlmSummarizer:
    cache: dict[str, str] = {}
    values: dict[str, object] = {
        "base_url": base,
        "model": "test-model",
        "api_key": "sk-test",
        "fallback": ExtractiveSummarizer(),
        "title": "The Test Brief",
        "timeout": 1.0,
        "max_attempts": 3,
        "cache_get": cache.get,
        "cache_put": cache.__setitem__,
        "sleep": lambda seconds: None,
    }
    values.update(options)
    return LlmSummarizer(**values)  # type: ignore[arg-type]


def test_a_good_answer_is_used_and_cached(llm: tuple[str, LlmState]) -> None:
    base, state = llm
    state.replies.append(Reply(text=f"  {GOOD}\n"))
    model = summarizer(base)
    summary = model.summarize(ARTICLE, theme=THEME, max_words=40)
    assert (summary.text, summary.method, summary.note) == (GOOD, "llm", "")
    [request] = state.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "test-model" and body["stream"] is False
    assert THEME in body["messages"][0]["content"] and "40 words" in body["messages"][0]["content"]
    assert ARTICLE.title in body["messages"][1]["content"]
    # The same article again: from the cache, no request.
    assert model.summarize(ARTICLE, theme=THEME, max_words=40).text == GOOD
    assert len(state.requests) == 1


def test_429_and_500_are_retried(llm: tuple[str, LlmState]) -> None:
    base, state = llm
    state.replies.extend(
        [Reply("status", status=429), Reply("status", status=500), Reply(text=GOOD)]
    )
    assert summarizer(base).summarize(ARTICLE, theme=THEME, max_words=40).method == "llm"
    assert len(state.requests) == 3


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        ([Reply("status", status=500)] * 3, "HTTP 500 after 3 attempts"),
        ([Reply("status", status=400)], "HTTP 400"),
        ([Reply("garbage")], "not a chat completion"),
        ([Reply(text="")], "empty"),
        ([Reply("slow", text=GOOD, seconds=2)] * 3, "timed out"),
    ],
)
def test_failures_fall_back_to_extractive(
    llm: tuple[str, LlmState], replies: list[Reply], reason: str
) -> None:
    base, state = llm
    state.replies.extend(replies)
    summary = summarizer(base).summarize(ARTICLE, theme=THEME, max_words=40)
    assert summary.method == "extractive"
    assert reason in summary.note
    assert summary.text == ExtractiveSummarizer().summarize(ARTICLE, theme=THEME, max_words=40).text


@pytest.mark.parametrize(
    "answer",
    [
        "Allies pledged five Patriot batteries to Ukraine.",  # a number not in the article
        "Allies pledged 3,000 interceptors to Ukraine.",
        "Olaf Scholz pledged three more Patriot batteries in Brussels.",  # a name not in it
    ],
)
def test_unfaithful_answers_are_replaced_and_flagged(
    llm: tuple[str, LlmState], answer: str
) -> None:
    base, state = llm
    state.replies.append(Reply(text=answer))
    model = summarizer(base)
    summary = model.summarize(ARTICLE, theme=THEME, max_words=40)
    assert summary.method == "extractive" and "LLM summary not used" in summary.note
    # A number in words is not a name or a digit, but grounding finds it is not in the article.
    why = "five not in the sentences" if "five" in answer else "not in the article"
    assert why in summary.note
    # An unfaithful answer is not cached: the next build asks again.
    state.replies.append(Reply(text=GOOD))
    assert model.summarize(ARTICLE, theme=THEME, max_words=40).method == "llm"


def test_unsupported_finds_numbers_and_names() -> None:
    text = "Ukraine's allies pledged 500 interceptors in Brussels on Tuesday."
    assert unsupported("Allies pledged 500 interceptors in Brussels.", text) == []
    assert unsupported("Allies pledged 5,000 interceptors in Paris.", text) == ["5,000", "Paris"]


def test_edition_built_with_the_llm_in_parallel(
    llm: tuple[str, LlmState], sqlite_url: str, tmp_path: Path
) -> None:
    base, state = llm
    settings = Settings.model_validate(
        {
            "database_url": sqlite_url,
            "newsletters": {"brief": make_newsletter()},
            "summarizer": "llm",
            "llm_base_url": base,
            "llm_model": "test-model",
            "llm_concurrency": 3,
            "llm_max_attempts": 1,
        }
    )
    app = App(settings)
    app.add([str(Path(__file__).resolve().parent.parent / "examples/articles/sanctions.jsonl")])
    # One good answer, one that invents a number: that one falls back, with a note.
    state.replies.extend(
        [
            Reply(text=SANCTIONS, when="EU agrees new sanctions"),
            Reply(text="Oil revenues fell by 40 percent.", when="Oil price cap"),
        ]
    )
    edition = app.build(settings.newsletter("brief"), date(2026, 11, 24))
    methods = sorted(item.summary.method for item in edition.items)
    assert methods == ["extractive", "llm"]
    flagged = [item.summary.note for item in edition.items if item.summary.note]
    assert len(flagged) == 1 and "not in the article" in flagged[0]
    stored = app.store.get_edition(edition.id or 0)
    assert [i.summary.note for i in stored.items] == [i.summary.note for i in edition.items]
    app.close()


def test_subject_intro_and_headings_from_the_llm_under_the_guard(
    llm: tuple[str, LlmState], sqlite_url: str
) -> None:
    base, state = llm
    settings = Settings.model_validate(
        {
            "database_url": sqlite_url,
            "newsletters": {"brief": make_newsletter(max_sections=2)},
            "summarizer": "llm",
            "llm_base_url": base,
            "llm_concurrency": 1,
            "llm_max_attempts": 1,
        }
    )
    app = App(settings)
    app.add([str(Path(__file__).resolve().parent.parent / "examples/articles/sanctions.jsonl")])
    state.replies.extend(
        [
            Reply(text=SANCTIONS),
            Reply(text="Insurers check tanker papers under the price cap."),
            Reply(
                text='{"subject": "EU goes after the shadow fleet", '
                '"intro": "Sanctions on tankers, and a tighter price cap.", '
                '"headings": ["Shadow fleet"]}'
            ),
        ]
    )
    edition = app.build(settings.newsletter("brief"), date(2026, 11, 24))
    assert edition.subject == "EU goes after the shadow fleet"
    assert edition.intro == "Sanctions on tankers, and a tighter price cap."
    assert [s.title for s in edition.sections] == ["Shadow fleet"]
    system = state.requests[-1]["body"]["messages"][0]["content"]
    assert "subject line" in system and THEME in system

    # An invented name in the subject: the offline subject stays; the intro is still taken.
    app.add(
        [
            str(
                Path(__file__).resolve().parent.parent / "examples/articles/"
                "drones-and-air-defence.json"
            )
        ]
    )
    state.replies.extend(
        [
            Reply(text="European firms build interceptor drones for Ukraine."),
            Reply(text="Allies pledged more Patriot batteries."),
            Reply(
                text='{"subject": "Macron backs drone makers", "intro": "Drones and air defence.", '
                '"headings": ["Air defence"]}'
            ),
        ]
    )
    second = app.build(settings.newsletter("brief"), date(2026, 12, 1))
    assert "Macron" not in second.subject and second.intro == "Drones and air defence."
    app.close()


def test_edition_copy_asks_for_json_and_falls_back_when_json_mode_is_refused(
    llm: tuple[str, LlmState],
) -> None:
    base, state = llm
    sections = [("Sanctions", [(ARTICLE.title, GOOD)])]
    state.replies.extend(
        [
            Reply("status", status=400),  # a server without JSON mode (or its schema)
            Reply(
                text='Here it is:\n```json\n{"subject": "Allies pledge Patriot batteries", '
                '"intro": "Three more Patriot batteries.", "headings": ["Patriot batteries"]}\n```'
            ),
        ]
    )
    fields, notes = edition_copy(summarizer(base), THEME, sections)
    assert fields["subject"] == "Allies pledge Patriot batteries" and notes == []
    first, second = (request["body"] for request in state.requests)
    assert first["response_format"]["type"] == "json_object"
    assert first["response_format"]["schema"]["properties"]["headings"]["maxItems"] == 1
    assert "response_format" not in second
    assert first["temperature"] == 0 and first["seed"] == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"subject": "A"}', {"subject": "A"}),
        ('Sure! {"subject": "A"} Hope it helps.', {"subject": "A"}),
        ('```json\n{"subject": "A", "headings": ["x"]}\n```', {"subject": "A", "headings": ["x"]}),
        ('{broken {"subject": "A"}', {"subject": "A"}),
    ],
)
def test_json_is_read_tolerantly(raw: str, expected: dict[str, object]) -> None:
    assert json_object(raw) == expected


def test_no_json_at_all_is_an_error() -> None:
    with pytest.raises(LlmError, match="not a JSON object"):
        json_object('{ "subject": "cut off by the token limit')
