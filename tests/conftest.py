"""Shared fixtures. Tests that need the research data sets use ``data_dir`` and skip, with the
reason, when the data is absent (a user's clone has no ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("KINDRED_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.exists():
        pytest.skip(f"research data sets not found at {DATA_DIR} (set KINDRED_DATA_DIR)")
    return DATA_DIR
