"""Sentence splitting that works offline and copes with abbreviations, quotes and numbers.

sentencex does the splitting (rule based, no downloaded data, fast). Before it runs we mend one
defect of scraped text: a full stop with no space after it ("community.Dr Venter").
"""

from __future__ import annotations

import re

import sentencex

# A lower-case word, a full stop, then a capitalised word: a sentence end that lost its space.
# Two lower-case letters before the stop keep "U.S.Army" and initials like "M.Kim" intact.
_GLUED_STOP = re.compile(r"(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def paragraphs(text: str) -> list[str]:
    return [" ".join(block.split()) for block in _PARAGRAPH_BREAK.split(text) if block.strip()]


def split_sentences(paragraph: str) -> list[str]:
    """The sentences of one paragraph, stripped; sentences never cross paragraph breaks."""
    mended = _GLUED_STOP.sub(" ", paragraph)
    return [sentence.strip() for sentence in sentencex.segment("en", mended) if sentence.strip()]


def text_sentences(text: str) -> list[str]:
    """Every sentence of a text, paragraph by paragraph, in order."""
    return [sentence for paragraph in paragraphs(text) for sentence in split_sentences(paragraph)]
