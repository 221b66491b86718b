"""The embeddings extra: a static model's similarity mixed with TF-IDF under the same threshold
rules. The model here is a small one made by the test (a vector per word, words of one topic
pointing one way), read through model2vec as a distilled model is."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digest.app import App
from digest.config import Settings
from digest.embeddings import MIN_CENTRED, embedding_grouper
from digest.errors import DigestError
from digest.grouping import TFIDF
from digest.themes import BRIEF_TITLE, plan_sections
from tests.test_sections import CHESS, HARBOUR, LONE, THEME, _articles, _titles

# Two football reports that share no content word: only the model knows they are alike.
FOOTBALL = [
    (
        "Striker scores late winner",
        "The striker scored a late winner in front of a packed stadium.",
    ),
    (
        "Goalkeeper saves penalty in cup tie",
        "A goalkeeper saved a penalty and kept a clean sheet in the cup tie.",
    ),
]
TOPIC_WORDS = {
    0: "striker scores scored late winner packed stadium goalkeeper saves saved penalty "
    "clean sheet cup tie",
    1: "harbour cranes odesa port work repairs lifting grain containers engineers replaced "
    "damaged cables ships left reopens reopened berths authority terminals repaired strikes "
    "queue outside waited officials expect load",
    2: "chess final oslo goes tie-break drawn games champion defended title rapid evening "
    "keeps kept winning fans filled hall",
    3: "beekeepers lviv report record honey harvest collected summer warm spring flowering "
    "lime trees",
}


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocabulary = {"[UNK]": 0, "[PAD]": 1}
    rows = [np.zeros(8), np.zeros(8)]
    rng = np.random.default_rng(7)
    for topic, words in TOPIC_WORDS.items():
        for word in words.split():
            if word in vocabulary:
                continue
            vocabulary[word] = len(rows)
            vector = rng.normal(0, 0.15, 8)
            vector[topic] += 1.0
            rows.append(vector)
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    folder = tmp_path_factory.mktemp("static-model")
    StaticModel(np.array(rows, dtype=np.float32), tokenizer, normalize=True).save_pretrained(
        str(folder)
    )
    return folder


def test_the_model_groups_what_shares_meaning_but_no_words(model_folder: Path) -> None:
    articles = _articles(*HARBOUR, *CHESS, *FOOTBALL, LONE)
    football = {t for t, _ in FOOTBALL}
    # TF-IDF alone cannot see that the two reports are alike.
    by_words = {
        g.title: _titles(g.articles) for g in plan_sections(articles, theme=THEME, max_sections=12)
    }
    assert football not in by_words.values()
    grouper = embedding_grouper(str(model_folder))
    groups = plan_sections(articles, theme=THEME, max_sections=12, grouper=grouper)
    by_title = {g.title: _titles(g.articles) for g in groups}
    assert football in by_title.values()
    assert {t for t, _ in HARBOUR} in by_title.values()
    assert {t for t, _ in CHESS} in by_title.values()
    # Like nothing else, in the model or in words: alone in In brief.
    assert by_title[BRIEF_TITLE] == {LONE[0]}


def test_a_few_articles_are_grouped_by_words_alone(model_folder: Path) -> None:
    articles = _articles(*FOOTBALL, *CHESS)
    assert len(articles) < MIN_CENTRED
    mixed = embedding_grouper(str(model_folder)).similarity(articles)
    assert mixed == TFIDF.similarity(articles)


def test_a_missing_model_folder_is_one_clear_error(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/digest.db", themes_embedding_model=str(tmp_path)
    )
    app = App(settings)
    with pytest.raises(DigestError, match=r"themes_embedding_model: .*no static model there"):
        app.grouper().similarity(_articles(*HARBOUR, *CHESS, LONE))
    app.close()


def test_a_folder_that_is_not_a_static_model_is_one_clear_error(
    tmp_path: Path, model_folder: Path
) -> None:
    sentence_model = tmp_path / "minilm"
    sentence_model.mkdir()
    (sentence_model / "config.json").write_text('{"model_type": "bert"}')
    (sentence_model / "model.safetensors").write_bytes(b"\x00" * 64)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for file in model_folder.iterdir():
        (damaged / file.name).write_bytes(file.read_bytes())
    (damaged / "model.safetensors").write_bytes(b"not a tensor file")
    cases = {
        sentence_model: r"a sentence model, not the static one .*--source",
        damaged: r"not a readable static model \(",
    }
    for folder, expected in cases.items():
        settings = Settings(
            database_url=f"sqlite:///{tmp_path}/digest.db", themes_embedding_model=str(folder)
        )
        app = App(settings)
        with pytest.raises(DigestError) as raised:
            app.grouper().similarity(_articles(*HARBOUR, *CHESS, LONE))
        message = str(raised.value)
        assert message.startswith(f"themes_embedding_model: {folder}: ")
        assert "\n" not in message and re.search(expected, message), message
        app.close()


def test_a_bad_output_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("mine")
    for out, expected in ((a_file, "exists and is not a folder"), (busy, "other files in it")):
        result = subprocess.run(
            [sys.executable, "-m", "digest", "themes-model", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1 and expected in result.stderr, result.stderr
    assert a_file.read_text() == "mine" and (busy / "mine.txt").read_text() == "mine"


def test_making_the_model_without_the_distiller_says_what_to_install(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "digest", "themes-model", str(tmp_path / "model")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.count("\n") == 0
    # The distiller (torch) is not among the test tools: the one line names the extra.
    assert ".[embeddings-distill]" in message or "--source" in message
    assert not (tmp_path / "model").exists()
