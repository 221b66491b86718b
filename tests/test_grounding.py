"""The guards an LLM summary passes before it is used: readability (no pointing back, no
boilerplate), names and numbers, and grounding in one or two of the article's sentences."""

from __future__ import annotations

import pytest

from digest.articles import Article
from digest.summarize.grounding import ArticleIndex, ungrounded, word_key
from digest.summarize.llm import refused, unsupported

KYIV = Article(
    id=1,
    title="Kyiv air defences down most of overnight drone wave",
    text=(
        "Ukraine's air force said it shot down 38 of 45 drones launched overnight against the "
        "capital region.\n\n"
        "Mobile fire groups, crews with machine guns on pickup trucks, shot down most of the "
        "drones over the outskirts of Kyiv.\n\n"
        "Falling debris damaged a house in the Obolon district, the city administration said. "
        "No one was hurt.\n\n"
        "Russia has launched drone waves against Ukrainian cities every night this month."
    ),
)


@pytest.mark.parametrize(
    "sentence",
    [
        "Falling debris damaged a house in the Obolon district.",
        "Mobile fire groups shot down most of the drones over the outskirts of Kyiv.",
        # Two article sentences fused, each clause supported by one of them.
        "Ukraine's air force shot down 38 of 45 drones, and falling debris damaged a house.",
        # Forms of a name: "Ukrainian" for "Ukraine's", "Russian" for "Russia".
        "The Ukrainian air force said it shot down 38 of 45 drones.",
        "Russia has launched drone waves against Ukrainian cities every night this month.",
    ],
)
def test_grounded_sentences_pass(sentence: str) -> None:
    assert ungrounded(sentence, KYIV.text, title=KYIV.title) == []
    assert refused(sentence, KYIV) == ""


@pytest.mark.parametrize(
    ("sentence", "why"),
    [
        # Every word is in the article, but debris never destroyed any fire group there.
        ("Falling debris destroyed a mobile fire group.", "“debris” and “mobile”"),
        ("Mobile fire groups damaged a house in Obolon.", "do not go together"),
        # Subject and object swapped.
        ("Ukraine has launched drone waves against Russian cities.", "do not go together"),
        # A word the article does not use.
        ("Falling debris destroyed a house in the Obolon district.", "destroyed not in the"),
        # A negation the article does not make.
        ("Mobile fire groups did not shoot down the drones over Kyiv.", "negation"),
    ],
)
def test_ungrounded_sentences_are_refused_with_the_reason(sentence: str, why: str) -> None:
    [grounding] = ungrounded(sentence, KYIV.text, title=KYIV.title)
    assert why in grounding.reason()
    note = refused(sentence, KYIV)
    assert why in note and "not supported by the article" in note


def test_one_sentence_of_two_ungrounded_refuses_the_summary() -> None:
    summary = (
        "Falling debris damaged a house in the Obolon district. "
        "Falling debris destroyed a mobile fire group."
    )
    [grounding] = ungrounded(summary, KYIV.text)
    assert grounding.sentence.startswith("Falling debris destroyed")
    assert grounding.support  # the article sentences it was aligned with


@pytest.mark.parametrize(
    ("summary", "why"),
    [
        ("It shot down 38 of 45 drones overnight.", "opens on 'It'"),
        ("But mobile fire groups shot down most of the drones.", "opens on 'But'"),
        (
            "Falling debris damaged a house in the Obolon district. Sign up for our newsletter.",
            "is about the page",
        ),
        ("Olena Zelenska said debris damaged a house.", "Olena"),
        ("Ukraine's air force shot down 39 of 45 drones.", "39 not in the article"),
    ],
)
def test_readability_names_and_numbers_refuse_with_the_reason(summary: str, why: str) -> None:
    assert why in refused(summary, KYIV)


def test_names_differing_by_form_are_not_refusals() -> None:
    assert unsupported("Ukrainian crews shot down Russian drones.", KYIV.text) == []
    assert unsupported("British and French ministers met.", "Britain's and France's envoys") == []
    keys = {word_key(w) for w in ("ukraine", "ukrainian", "ukrainians")}
    assert len(keys) == 1
    assert word_key("russia") == word_key("russian")
    assert word_key("europe") == word_key("european")


def test_related_words_must_stand_near_each_other_in_one_sentence() -> None:
    index = ArticleIndex(KYIV.text)
    assert index.related(word_key("debris"), word_key("damaged"))
    assert not index.related(word_key("debris"), word_key("drones"))
    # In order: the air force shot down drones, not drones the air force.
    assert not index.related(word_key("drones"), word_key("air"))
