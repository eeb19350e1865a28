"""The storage interface: characters, users, sessions, turns and memory units.

One small abstract base with sync methods and async twins (``a``-prefixed), like LangGraph's
checkpointers. ``SQLStore`` (SQLAlchemy: SQLite by default, PostgreSQL by URL) is the real
implementation; the async twins run the sync ones in a worker thread unless overridden.

The unit of atomicity is the turn: ``commit_turn`` writes the turn, its annotations, the
session's new agent emotion state and the turn's dialogue memories in one transaction, so a crash
mid-turn leaves either the whole turn or nothing.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence

from agent.records import VAD, Character, MemoryUnit, SessionInfo, TurnResult


class StoreError(RuntimeError):
    """A storage operation failed (the message names the operation)."""


class NotFound(StoreError, KeyError):
    """An unknown character, user or session id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class Store(ABC):
    # -- characters ----------------------------------------------------------------------------
    @abstractmethod
    def save_character(self, character: Character) -> Character:
        """Insert (no id) or update (id given) a character; returns it with its id."""

    @abstractmethod
    def get_character(self, id_or_name: str) -> Character:
        """By id, else by unique name; raises ``NotFound``."""

    @abstractmethod
    def list_characters(self) -> list[Character]: ...

    # -- users and sessions --------------------------------------------------------------------
    @abstractmethod
    def ensure_user(self, user_id: str) -> str:
        """Create the user if needed; returns its id."""

    @abstractmethod
    def create_session(self, character_id: str, user_id: str, title: str = "") -> SessionInfo: ...

    @abstractmethod
    def get_session(self, session_id: str) -> SessionInfo:
        """Raises ``NotFound`` for an unknown session."""

    @abstractmethod
    def list_sessions(self, *, character_id: str | None = None, user_id: str | None = None) -> list[SessionInfo]:
        """Most recently updated first."""

    # -- turns ---------------------------------------------------------------------------------
    @abstractmethod
    def commit_turn(self, result: TurnResult, *, agent_vad: VAD | None = None,
                    memories: Sequence[MemoryUnit] = ()) -> TurnResult:
        """Store a whole turn atomically; returns it with its final ``turn_index``."""

    @abstractmethod
    def list_turns(self, session_id: str, *, last: int | None = None) -> list[TurnResult]:
        """Oldest first; ``last`` keeps only the most recent ones."""

    # -- memory units --------------------------------------------------------------------------
    @abstractmethod
    def add_memories(self, memories: Sequence[MemoryUnit]) -> list[MemoryUnit]:
        """Insert memory units (with ids assigned); exact duplicates of a stored unit are skipped."""

    @abstractmethod
    def list_memories(self, character_id: str, *, user_id: str | None = None,
                      include_shared: bool = True, kinds: Sequence[str] | None = None) -> list[MemoryUnit]:
        """The character's memories visible to ``user_id``: that user's own plus, with
        ``include_shared``, the character's (user_id None). Never another user's."""

    @abstractmethod
    def memory_version(self, character_id: str) -> str:
        """A value that changes whenever the character's memories change (for index staleness)."""

    # -- async twins ---------------------------------------------------------------------------
    async def asave_character(self, character: Character) -> Character:
        return await asyncio.to_thread(self.save_character, character)

    async def aget_character(self, id_or_name: str) -> Character:
        return await asyncio.to_thread(self.get_character, id_or_name)

    async def alist_characters(self) -> list[Character]:
        return await asyncio.to_thread(self.list_characters)

    async def aensure_user(self, user_id: str) -> str:
        return await asyncio.to_thread(self.ensure_user, user_id)

    async def acreate_session(self, character_id: str, user_id: str, title: str = "") -> SessionInfo:
        return await asyncio.to_thread(self.create_session, character_id, user_id, title)

    async def aget_session(self, session_id: str) -> SessionInfo:
        return await asyncio.to_thread(self.get_session, session_id)

    async def alist_sessions(self, *, character_id: str | None = None, user_id: str | None = None) -> list[SessionInfo]:
        return await asyncio.to_thread(self.list_sessions, character_id=character_id, user_id=user_id)

    async def acommit_turn(self, result: TurnResult, *, agent_vad: VAD | None = None,
                           memories: Sequence[MemoryUnit] = ()) -> TurnResult:
        return await asyncio.to_thread(self.commit_turn, result, agent_vad=agent_vad, memories=memories)

    async def alist_turns(self, session_id: str, *, last: int | None = None) -> list[TurnResult]:
        return await asyncio.to_thread(self.list_turns, session_id, last=last)

    async def aadd_memories(self, memories: Sequence[MemoryUnit]) -> list[MemoryUnit]:
        return await asyncio.to_thread(self.add_memories, memories)

    async def alist_memories(self, character_id: str, *, user_id: str | None = None,
                             include_shared: bool = True, kinds: Sequence[str] | None = None) -> list[MemoryUnit]:
        return await asyncio.to_thread(self.list_memories, character_id, user_id=user_id,
                                       include_shared=include_shared, kinds=kinds)

    def close(self) -> None:  # noqa: B027 (a store without connections has nothing to release)
        """Release connections."""
