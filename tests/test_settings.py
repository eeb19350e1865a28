"""Settings precedence: defaults < file < environment < explicit arguments."""

from __future__ import annotations

import pytest

from agent.settings import Settings


def test_defaults():
    s = Settings.load(config_file=None)
    assert s.llm.backend == "embedded" and s.memory.strategy == "combination"
    assert s.store_url.startswith("sqlite:///")


def test_precedence(tmp_path, monkeypatch):
    toml = tmp_path / "kindred.toml"
    toml.write_text('[llm]\nbackend = "openai"\nmodel = "from-file"\nmax_new_tokens = 50\n'
                    '[memory]\nk = 7\n')
    s = Settings.load(toml)
    assert (s.llm.backend, s.llm.model, s.memory.k) == ("openai", "from-file", 7)

    monkeypatch.setenv("KINDRED_LLM__MODEL", "from-env")
    s = Settings.load(toml)
    assert s.llm.model == "from-env" and s.llm.max_new_tokens == 50  # env over file, file kept

    s = Settings.load(toml, llm={"model": "from-arg"})
    assert s.llm.model == "from-arg"


def test_yaml_and_env_config_path(tmp_path, monkeypatch):
    yml = tmp_path / "k.yaml"
    yml.write_text("planner:\n  kind: llm\nsafety:\n  locale: UK\n")
    monkeypatch.setenv("KINDRED_CONFIG", str(yml))
    s = Settings.load()
    assert s.planner.kind == "llm" and s.safety.locale == "UK"


@pytest.mark.parametrize("content, match", [
    ("[llm\nbackend=", "cannot parse"),
    ("[llm]\nbackend = 'gpt'\n", "backend"),
    ("[nonsense]\nx = 1\n", "nonsense"),
])
def test_broken_files_fail_clearly(tmp_path, content, match):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        Settings.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="settings file not found"):
        Settings.load(tmp_path / "nope.toml")
