"""The Python SDK: what chatbot builders use.

>>> from agent import Agent, Character, Traits
>>> bot = Agent.from_settings()                                    # doctest: +SKIP
>>> ada = bot.create_character(Character("Ada", "A retired nurse.", Traits(agreeableness=0.9)))  # doctest: +SKIP
>>> session = bot.start_session(ada.name, user_id="sam")           # doctest: +SKIP
>>> result = bot.chat(session.id, "I failed my driving test again.")  # doctest: +SKIP
>>> result.reply, result.emotion.label, result.strategy.strategy  # doctest: +SKIP
>>> for event in bot.stream(session.id, "It's the third time."):  # doctest: +SKIP
...     if event["type"] == "token": print(event["text"], end="")

``chat``/``stream`` have async twins ``achat``/``astream``, which many sessions can run at once.
``respond`` runs the same pipeline on a given dialogue without storing anything (for evaluation).
Every call validates its input first (``agent.messages.InvalidMessage``); a turn is stored
whole or not at all.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from agent.graph import TurnContext, build_graph, turn_result
from agent.llm.base import ChatModel
from agent.messages import clean_message
from agent.planner.strategies import normalise_strategy
from agent.records import Character, MemoryUnit, SessionInfo, TurnResult, Utterance
from agent.settings import Settings
from agent.state import TurnState
from agent.store.base import NotFound, Store

logger = logging.getLogger(__name__)

CrisisHook = Callable[[TurnResult], Any]
"""Called with the stored result of a turn the crisis gate answered."""

Event = dict[str, Any]
"""A stream event: ``{"type": "token", "text": ...}``, ``{"type": "emotion", ...}``, ...,
and last ``{"type": "done", "result": TurnResult}``."""


class Agent:
    """An empathetic agent over a store, an LLM and the perception/memory/planning components."""

    def __init__(self, context: TurnContext, *, on_crisis: Sequence[CrisisHook] = ()) -> None:
        self.context = context
        self.settings = context.settings
        self.store = context.store
        self._graph = build_graph()
        self._agraph = build_graph(asynchronous=True)
        self._crisis_hooks: list[CrisisHook] = list(on_crisis)

    def on_crisis(self, hook: CrisisHook) -> CrisisHook:
        """Call ``hook(result)`` after every turn the crisis gate answered (the turn is already
        stored and flagged). Usable as a decorator. A failing hook is logged, never raised: the
        person in crisis still gets the reply."""
        self._crisis_hooks.append(hook)
        return hook

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, chat_model: ChatModel | None = None,
                      store: Store | None = None, on_crisis: Sequence[CrisisHook] = (),
                      **components: Any) -> Agent:
        """Build the agent the settings describe. ``chat_model`` and ``store`` replace the
        configured backends; keyword ``components`` (``detector=``, ``planner=None``, ...)
        replace or switch off single components; ``on_crisis`` hooks see every crisis turn."""
        from agent import assembly

        settings = settings or Settings.load()
        context = assembly.build_context(settings, chat_model=chat_model, store=store, **components)
        return cls(context, on_crisis=on_crisis)

    @property
    def chat_model(self) -> ChatModel:
        return self.context.generator.chat_model  # type: ignore[return-value]

    # -- characters, memories and sessions -----------------------------------------------------
    def create_character(self, character: Character | dict | str | Path) -> Character:
        """Create a character from a record, a card dict or a YAML/JSON card file; a character
        with the same name is updated in place. The profile and a card's facts and experiences
        become the character's memories (duplicates are skipped, so re-creating is harmless)."""
        from dataclasses import replace

        units: list[MemoryUnit] = []
        if isinstance(character, (str, Path)):
            from memory.cards import load_card

            character, units = load_card(character)
        elif isinstance(character, dict):
            from memory.cards import parse_card

            character, units = parse_card(character, source="character dict")
        if character.id is None:
            with contextlib.suppress(NotFound):
                character = replace(character, id=self.store.get_character(character.name).id)
        saved = self.store.save_character(character)
        if self.context.memory is not None:
            self.context.memory.add_profile(saved)
            if units:
                self.context.memory.add(saved.id, units)
        return saved

    def get_character(self, id_or_name: str) -> Character:
        return self.store.get_character(id_or_name)

    def list_characters(self) -> list[Character]:
        return self.store.list_characters()

    def add_memory(self, character: str, text: str, *, kind: str = "experience",
                   emotion: str | None = None, user_id: str | None = None) -> MemoryUnit | None:
        """Add one memory to a character (``None`` if it duplicates a stored one)."""
        memory = self._memory()
        character_id = self.store.get_character(character).id
        added = memory.add(character_id, clean_message(text), kind=kind, emotion=emotion, user_id=user_id)
        return added[0] if added else None

    def list_memories(self, character: str, *, user_id: str | None = None) -> list[MemoryUnit]:
        return self.store.list_memories(self.store.get_character(character).id, user_id=user_id)

    def rebuild_index(self, character: str) -> int:
        """Rebuild the character's memory indexes from the store; returns the number of memories."""
        return self._memory().rebuild(self.store.get_character(character).id)

    def start_session(self, character: str, user_id: str = "default", title: str = "") -> SessionInfo:
        return self.store.create_session(self.store.get_character(character).id, user_id, title)

    def get_session(self, session_id: str) -> SessionInfo:
        return self.store.get_session(session_id)

    def list_sessions(self, *, character: str | None = None, user_id: str | None = None) -> list[SessionInfo]:
        character_id = self.store.get_character(character).id if character else None
        return self.store.list_sessions(character_id=character_id, user_id=user_id)

    def history(self, session_id: str) -> list[TurnResult]:
        self.store.get_session(session_id)  # NotFound for an unknown session
        return self.store.list_turns(session_id)

    # -- turns ---------------------------------------------------------------------------------
    def chat(self, session_id: str, text: str, *, strategy: str | None = None,
             forbid: Sequence[str] = ()) -> TurnResult:
        """One turn: the user's ``text`` in, the character's reply and annotations out.
        ``strategy`` forces an ESConv strategy; ``forbid`` excludes some."""
        final = self._graph.invoke(self._input(session_id, text, strategy, forbid), context=self.context)
        return self._finished(turn_result(final))

    async def achat(self, session_id: str, text: str, *, strategy: str | None = None,
                    forbid: Sequence[str] = ()) -> TurnResult:
        final = await self._agraph.ainvoke(self._input(session_id, text, strategy, forbid), context=self.context)
        return self._finished(turn_result(final))

    def stream(self, session_id: str, text: str, *, strategy: str | None = None,
               forbid: Sequence[str] = ()) -> Iterator[Event]:
        """Events as the turn unfolds: annotations as soon as they are known, then reply tokens,
        then ``{"type": "done", "result": TurnResult}``."""
        state = self._input(session_id, text, strategy, forbid)
        final: TurnState = state
        for mode, chunk in self._graph.stream(state, context=self.context, stream_mode=["custom", "values"]):
            if mode == "custom":
                yield chunk
            else:
                final = chunk
        yield {"type": "done", "result": self._finished(turn_result(final))}

    async def astream(self, session_id: str, text: str, *, strategy: str | None = None,
                      forbid: Sequence[str] = ()) -> AsyncIterator[Event]:
        state = self._input(session_id, text, strategy, forbid)
        final: TurnState = state
        async for mode, chunk in self._agraph.astream(state, context=self.context,
                                                      stream_mode=["custom", "values"]):
            if mode == "custom":
                yield chunk
            else:
                final = chunk
        yield {"type": "done", "result": self._finished(turn_result(final))}

    def respond(self, dialogue: Sequence[Utterance], *, character: Character | None = None,
                user_id: str = "evaluation") -> TurnResult:
        """Run the pipeline on ``dialogue`` (ending with the user's turn) without storing anything."""
        return turn_result(self._graph.invoke(self._ephemeral(dialogue, character, user_id), context=self.context))

    async def arespond(self, dialogue: Sequence[Utterance], *, character: Character | None = None,
                       user_id: str = "evaluation") -> TurnResult:
        state = self._ephemeral(dialogue, character, user_id)
        return turn_result(await self._agraph.ainvoke(state, context=self.context))

    def close(self) -> None:
        self.store.close()

    # -- internals -----------------------------------------------------------------------------
    def _finished(self, result: TurnResult) -> TurnResult:
        if result.safety.risk:
            for hook in self._crisis_hooks:
                try:
                    hook(result)
                except Exception:  # a builder's bug must not take the crisis reply away
                    logger.exception("on_crisis hook %r failed", hook)
        return result

    def _input(self, session_id: str, text: str, strategy: str | None, forbid: Sequence[str]) -> TurnState:
        cleaned = clean_message(text, max_chars=self.settings.llm.max_message_chars)
        if not isinstance(session_id, str) or not session_id:
            raise ValueError(f"session_id must be a non-empty string, got {session_id!r}")
        # An unknown session fails in load_context (NotFound), before any model runs.
        return {"session_id": session_id, "user_text": cleaned,
                "forced_strategy": normalise_strategy(strategy) if strategy else None,
                "forbidden_strategies": tuple(normalise_strategy(s) for s in forbid)}

    def _ephemeral(self, dialogue: Sequence[Utterance], character: Character | None, user_id: str) -> TurnState:
        if not dialogue or dialogue[-1].role != "user":
            raise ValueError("respond() needs a dialogue that ends with the user's turn")
        *history, last = dialogue
        return {"session_id": "ephemeral", "persist": False, "user_id": user_id,
                "character": character or Character("Kindred", id="ephemeral"),
                "history": list(history), "turn_index": sum(u.role == "user" for u in history),
                "user_text": clean_message(last.text, max_chars=self.settings.llm.max_message_chars),
                "forced_strategy": None, "forbidden_strategies": ()}

    def _memory(self):
        if self.context.memory is None:
            raise RuntimeError("character memory is switched off in this agent (settings.memory.enabled)")
        return self.context.memory

