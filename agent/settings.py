"""One typed settings object for the whole agent.

Precedence, lowest first: **defaults < settings file < environment < explicit arguments**.

- The file is TOML or YAML, found at ``Settings.load(config_file=...)``, else ``$KINDRED_CONFIG``,
  else ``./kindred.toml`` if it exists. Its sections mirror the nested models below.
- Environment variables use the prefix ``KINDRED_`` and ``__`` between levels, e.g.
  ``KINDRED_LLM__BACKEND=openai`` or ``KINDRED_STORE__URL=postgresql+psycopg://...``.
- Explicit arguments are keyword arguments, nested as dicts or models:
  ``Settings.load(llm={"backend": "openai", "base_url": "http://localhost:8000/v1"})``.

>>> Settings.load(config_file=None, llm={"max_new_tokens": 32}).llm.max_new_tokens
32
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_HOME = Path(os.environ.get("KINDRED_HOME", Path.home() / ".kindred"))


class LLMSettings(BaseModel):
    backend: Literal["embedded", "openai"] = "embedded"
    """``embedded``: SmolLM2-135M-Instruct in-process; ``openai``: any OpenAI-compatible server (vLLM)."""
    model: str = "SmolLM2-135M-Instruct"
    """Model name sent to an OpenAI-compatible server (vLLM's ``--served-model-name``)."""
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: str = "EMPTY"
    timeout_s: float = 60.0
    max_retries: int = 2
    max_new_tokens: int = 96
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    """1.0 switches it off. 1.1 is a compromise for SmolLM2: in three-turn trials it still looped
    at 1.05 and rambled incoherently at 1.15."""
    max_context_messages: int = 12
    """How many recent messages of the conversation go into the prompt."""
    max_message_chars: int = 4000
    """Longer user messages are refused with a clear error (``agent.messages.InvalidMessage``)."""
    model_dir: Path | None = None
    """Hugging Face folder of the embedded model; default: converted once into ``home/models``."""
    threads: int | None = None
    """Torch threads for the embedded model (None: torch's default)."""


class StoreSettings(BaseModel):
    url: str | None = None
    """SQLAlchemy URL; default: a SQLite file ``home/kindred.db``."""


class MemorySettings(BaseModel):
    enabled: bool = True
    strategy: Literal["semantic", "combination", "sequential"] = "combination"
    k: int = 4
    emotion_weight: float = 0.2
    """Weight of the emotion distance in the combination strategy (semantic gets 1 - w)."""
    sequential_pool: int = 20
    approximate_threshold: int = 20_000
    """Collections of at least this many memories get the approximate index (4-bit PQ fast scan
    with exact re-ranking, ``memory.index``); smaller ones exact search, which costs about 2 ms
    at this size on one core (eval/benchmarks/results_memory.md)."""


class PerceptionSettings(BaseModel):
    enabled: bool = True
    top_k: int = 3
    cause: bool = True


class PlannerSettings(BaseModel):
    kind: Literal["trained", "llm", "off"] = "trained"
    recency_penalty: float = 0.0


class TransitionSettings(BaseModel):
    kind: Literal["trained", "rules", "off"] = "trained"
    decay_per_day: float = 0.5
    """Fraction of the distance to the baseline that the state loses per day between sessions."""


class SafetySettings(BaseModel):
    enabled: bool = True
    locale: str = "US"
    threshold: float = 0.5
    resources: dict[str, str] = Field(default_factory=dict)
    """Extra or replacement crisis resources by locale, e.g. ``{"FR": "Call 3114 ..."}``."""
    model_dir: str | None = None
    """Folder of a crisis gate retrained with ``python -m agent.safety.train --out DIR`` (for
    example with ``--esconv-context``, which fires less on ordinary conversations); ``None``: the
    shipped gate."""


_FILE_DATA: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "kindred_file", default=MappingProxyType({}))


class _FileSource(PydanticBaseSettingsSource):
    """The settings file's contents, read by ``Settings.load`` (one level above the defaults)."""

    def get_field_value(self, field, field_name):  # pragma: no cover - not used by __call__
        return _FILE_DATA.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get())


class Settings(BaseSettings):
    """All settings of the agent. Build it with ``Settings.load(...)`` at the edge of the program
    (the CLI, ``app.py``, ``Agent.from_settings``) and pass it down."""

    model_config = SettingsConfigDict(env_prefix="KINDRED_", env_nested_delimiter="__",
                                      extra="forbid")

    home: Path = DEFAULT_HOME
    """Where the database, indexes and converted models live."""
    data_dir: Path = Path("../shared/data")
    """Research data sets (for training and evaluation only)."""
    llm: LLMSettings = Field(default_factory=LLMSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    perception: PerceptionSettings = Field(default_factory=PerceptionSettings)
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    transition: TransitionSettings = Field(default_factory=TransitionSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        # First wins: arguments, then environment, then the file; defaults come last.
        return (init_settings, env_settings, _FileSource(settings_cls))

    @classmethod
    def load(cls, config_file: str | Path | Literal["auto"] | None = "auto", **overrides: Any) -> Settings:
        """Build settings from the file, the environment and ``overrides`` (in rising precedence).

        ``config_file="auto"`` looks at ``$KINDRED_CONFIG`` then ``./kindred.toml``; ``None``
        reads no file.
        """
        path = _find_config(config_file)
        token = _FILE_DATA.set(read_config_file(path) if path else {})
        try:
            return cls(**overrides)
        finally:
            _FILE_DATA.reset(token)

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.home / 'kindred.db'}"

    @property
    def model_dir(self) -> Path:
        return self.llm.model_dir or self.home / "models" / "SmolLM2-135M-Instruct"


def _find_config(config_file: str | Path | None) -> Path | None:
    if config_file is None:
        return None
    if config_file != "auto":
        return Path(config_file)
    if os.environ.get("KINDRED_CONFIG"):
        return Path(os.environ["KINDRED_CONFIG"])
    default = Path("kindred.toml")
    return default if default.exists() else None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML or YAML settings file, with an error that names the file when it is broken."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"settings file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # both parsers raise their own error types
        raise ValueError(f"cannot parse settings file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"settings file {path} must hold a table/mapping at the top level")
    return data
