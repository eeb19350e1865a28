"""An installed SDK must find its prompts, example cards and trained models: check the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_templates_cards_artefacts_and_page_assets(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("kindred_agent-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (REPO / "prompts").glob("*.j2"):
        assert f"prompts/{template.name}" in names
    for data in (REPO / "prompts").glob("*.yaml"):
        assert f"prompts/{data.name}" in names
    for card in (REPO / "memory" / "cards").glob("*.yaml"):
        assert f"memory/cards/{card.name}" in names
    for asset in (REPO / "agent" / "demo_assets").iterdir():
        assert f"agent/demo_assets/{asset.name}" in names
    artefacts = [p for p in (REPO / "agent" / "artefacts").rglob("*") if p.is_file()
                 and "__pycache__" not in p.parts]
    assert artefacts, "no trained artefacts in the repository"
    for path in artefacts:
        assert path.relative_to(REPO).as_posix() in names
    assert not any(n.startswith("tests/") for n in names)
    assert {"agent/sdk.py", "memory/__init__.py", "eval/__main__.py", "prompts/__init__.py"} <= names
