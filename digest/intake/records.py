"""JSON and JSON Lines files of articles, as written by `digest add --json` or other tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def json_records(raw: str) -> Iterator[tuple[str, Any]]:
    """(where, record) pairs from a JSON list, a single object, or {"articles": [...]}.

    Raises ValueError for text that is not JSON, naming the line and column.
    """
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"line {error.lineno} column {error.colno}: {error.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError("expected a list of article objects")
    for index, record in enumerate(data):
        yield f"item {index + 1}", record


def jsonl_records(raw: str) -> Iterator[tuple[str, Any]]:
    """(where, record) pairs, one per non-blank line; a bad line yields its error instead."""
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as error:
            yield f"line {number}", ValueError(f"column {error.colno}: {error.msg}")
