"""Persistence behind one small interface (``Store``); ``SQLStore`` is SQLAlchemy-backed."""

from agent.store.base import NotFound, Store, StoreError

__all__ = ["NotFound", "Store", "StoreError", "open_store"]


def open_store(url: str) -> Store:
    """A store for a SQLAlchemy URL (``sqlite:///file.db``, ``postgresql+psycopg://...``)."""
    from agent.store.sql import SQLStore

    return SQLStore.from_url(url)
