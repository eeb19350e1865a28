"""Builds the agent's components from the settings (the one place that knows every factory).

Each component is imported where it is built, so an agent with a component switched off never
loads its model. A keyword argument replaces the configured component; ``None`` switches it off.

>>> ctx = build_context(Settings.load(config_file=None), chat_model=fake, store=store,  # doctest: +SKIP
...                     planner=None, memory=None)
"""

from __future__ import annotations

from typing import Any

from agent.generator import ResponseGenerator
from agent.graph import TurnContext
from agent.llm import make_chat_model
from agent.llm.base import ChatModel
from agent.settings import Settings
from agent.store.base import Store

_UNSET: Any = object()


def build_context(settings: Settings, *, chat_model: ChatModel | None = None, store: Store | None = None,
                  encoder: Any = _UNSET, detector: Any = _UNSET, cause_finder: Any = _UNSET,
                  memory: Any = _UNSET, transition: Any = _UNSET, planner: Any = _UNSET,
                  safety: Any = _UNSET) -> TurnContext:
    if store is None:
        from agent.store import open_store

        store = open_store(settings.store_url)
    chat_model = chat_model or make_chat_model(settings)

    perceive = settings.perception.enabled
    if encoder is _UNSET:
        encoder = _encoder() if (perceive or settings.memory.enabled) else None
    if detector is _UNSET:
        detector = _detector() if perceive else None
    if cause_finder is _UNSET:
        cause_finder = _cause_finder() if perceive and settings.perception.cause else None
    if memory is _UNSET:
        memory = _memory(store, settings, encoder) if settings.memory.enabled else None
    if transition is _UNSET:
        transition = _transition(settings.transition.kind)
    if planner is _UNSET:
        planner = _planner(settings, chat_model)
    if safety is _UNSET:
        safety = _safety(settings, encoder) if settings.safety.enabled else None

    return TurnContext(store=store, generator=ResponseGenerator.from_settings(chat_model, settings),
                       settings=settings, encoder=encoder, detector=detector,
                       cause_finder=cause_finder, memory=memory, transition=transition,
                       planner=planner, safety=safety, memory_writer=memory)


def _encoder():
    # The split encoder runs MiniLM's lower layers once per utterance: its states feed the
    # detector's fine-tuned top layer, and the stock top layer gives the sentence vector that
    # memory, planner, transition and the safety model share.
    from agent.perception.encoder import SplitTurnEncoder

    return SplitTurnEncoder()


def _detector():
    from agent.perception.detector import load_detector

    return load_detector()


def _cause_finder():
    from agent.perception.cause import load_cause_finder

    return load_cause_finder()


def _memory(store: Store, settings: Settings, encoder: Any):
    from memory import CharacterMemory

    return CharacterMemory.from_settings(store, settings)


def _transition(kind: str):
    if kind == "off":
        return None
    from agent.transition import load_transition

    return load_transition(kind)


def _planner(settings: Settings, chat_model: ChatModel):
    if settings.planner.kind == "off":
        return None
    from agent.planner import load_planner

    return load_planner(settings.planner.kind, chat_model=chat_model, settings=settings)


def _safety(settings: Settings, encoder: Any):
    from agent.safety import load_safety_gate

    return load_safety_gate(settings, encoder=encoder)
