"""Sections grouped with a sentence-embedding model as well as TF-IDF: the optional extra
(`pip install 'digest[embeddings]'`, `themes_embedding_model` naming the model's folder).

Measured on the BBC set, half TF-IDF and half all-MiniLM-L6-v2 similarity (each article the
mean of its 180-word chunks, headline in front) matched topics clearly better than TF-IDF
alone, at the cost of torch and seconds per edition; the TF-IDF method stays the default. The
model is read from a local folder only: nothing is downloaded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from digest.articles import Article, strip_attribution, without_dateline
from digest.grouping import Grouper, Matrix, tfidf_similarity

_CHUNK_WORDS = 180
_CHUNKS = 4  # at most 720 words of an article: the rest adds time, not meaning
THRESHOLD = 0.12
SMALL = 0.05


class EmbeddingsUnavailable(RuntimeError):
    """The extra is not installed or the model folder cannot be read."""


@lru_cache(maxsize=2)
def _model(path: str) -> Any:
    # Never reach out to a model hub: the folder is all there is.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise EmbeddingsUnavailable(
            "themes_embedding_model is set but sentence-transformers is not installed "
            "(pip install 'digest[embeddings]')"
        ) from error
    if not os.path.isdir(path):
        raise EmbeddingsUnavailable(f"themes_embedding_model: {path}: no such folder")
    return SentenceTransformer(path, device="cpu")


def embedding_vectors(articles: Sequence[Article], path: str) -> list[list[float]]:
    """One unit vector per article: the mean of its chunks' embeddings."""
    chunks: list[str] = []
    owners: list[int] = []
    for number, article in enumerate(articles):
        words = without_dateline(article.text).split()
        headline = strip_attribution(article.title)
        starts = range(0, max(len(words), 1), _CHUNK_WORDS)
        for start in list(starts)[:_CHUNKS]:
            chunks.append(f"{headline}. {' '.join(words[start : start + _CHUNK_WORDS])}")
            owners.append(number)
    encoded = _model(path).encode(chunks, normalize_embeddings=True)
    sums: list[list[float]] = [[0.0] * len(encoded[0]) for _ in articles]
    for owner, vector in zip(owners, encoded, strict=True):
        sums[owner] = [a + float(b) for a, b in zip(sums[owner], vector, strict=True)]
    return [[x / (math.sqrt(sum(y * y for y in v)) or 1.0) for x in v] for v in sums]


def embedding_grouper(path: str) -> Grouper:
    """Half embedding cosine, half TF-IDF cosine, with the threshold chosen for that mix."""

    def similarity(articles: Sequence[Article]) -> Matrix:
        vectors = embedding_vectors(articles, path)
        words = tfidf_similarity(articles)
        return [
            [0.5 * _dot(a, b) + 0.5 * w for b, w in zip(vectors, row, strict=True)]
            for a, row in zip(vectors, words, strict=True)
        ]

    return Grouper(similarity=similarity, threshold=THRESHOLD, small=SMALL)


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))
