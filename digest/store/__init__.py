"""The store: articles and editions in SQLite or PostgreSQL, behind one small API."""

from digest.store.repository import AddOutcome, Store, open_store

__all__ = ["AddOutcome", "Store", "open_store"]
