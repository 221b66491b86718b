"""The LLM summary cache: one row per (article text, model, prompt version, theme, budget)."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from digest.store.tables import SummaryCacheRow


class SummaryCache:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> str | None:
        with self.engine.begin() as connection:
            found = connection.execute(
                select(SummaryCacheRow.summary).where(SummaryCacheRow.key == key)
            ).scalar_one_or_none()
        return found

    def put(self, key: str, summary: str) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(SummaryCacheRow).values(key=key, summary=summary))
        except IntegrityError:
            pass  # stored meanwhile by a parallel request: the same answer
