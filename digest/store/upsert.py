"""INSERT … ON CONFLICT for the two backends, which SQLAlchemy spells differently."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ColumnElement, Table, cast, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB


def insert_for(dialect: str, table: Table) -> Any:
    """An insert construct with `on_conflict_do_update` / `excluded` for this backend."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for {dialect}")


def json_merge(dialect: str, current: Any, incoming: Any) -> ColumnElement[Any]:
    """current's keys updated by incoming's (a shallow JSON object merge)."""
    if dialect == "postgresql":
        return cast(cast(current, JSONB).op("||")(cast(incoming, JSONB)), JSON)
    return func.json_patch(current, incoming)
