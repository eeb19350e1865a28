"""The small interfaces the graph's nodes call. Each has a real implementation in its own module
and can be replaced by a fake in unit tests, or switched off (``None``) for ablations.

Every ``dialogue`` argument is the conversation so far, oldest first, **ending with the current
user turn**.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from agent.records import (VAD, CauseReading, EmotionReading, RecalledMemory, SafetyVerdict,
                           StrategyChoice, Traits, Utterance)


@runtime_checkable
class TurnEncoder(Protocol):
    """Encodes a turn once; the result (opaque to the graph) is passed to the other perceivers."""

    def encode_turn(self, dialogue: Sequence[Utterance]) -> Any: ...


@runtime_checkable
class EmotionDetector(Protocol):
    def detect(self, dialogue: Sequence[Utterance], *, encoding: Any = None, top_k: int = 3) -> EmotionReading: ...


@runtime_checkable
class CauseFinder(Protocol):
    def find(self, dialogue: Sequence[Utterance], emotion: EmotionReading, *, encoding: Any = None) -> CauseReading: ...


@runtime_checkable
class MemoryRecall(Protocol):
    def recall(self, character_id: str, user_id: str, query: str, *, emotion: EmotionReading | None = None,
               encoding: Any = None, k: int | None = None) -> list[RecalledMemory]: ...


@runtime_checkable
class EmotionTransition(Protocol):
    def baseline(self, traits: Traits) -> VAD:
        """The character's resting emotion state."""

    def step(self, prev: VAD, traits: Traits, dialogue: Sequence[Utterance], *,
             user_emotion: EmotionReading | None = None, encoding: Any = None) -> tuple[VAD, str]:
        """The new state and the label of the reply's emotion."""


@runtime_checkable
class StrategyPlanner(Protocol):
    def plan(self, dialogue: Sequence[Utterance], *, emotion: EmotionReading | None = None,
             cause: CauseReading | None = None, encoding: Any = None, forbidden: Sequence[str] = (),
             previous_strategies: Sequence[str] | None = None) -> StrategyChoice:
        """The strategy of the next supporter turn. ``previous_strategies``: the agent's earlier
        strategies in this session, oldest first, as stored; None when unknown."""


@runtime_checkable
class SafetyGate(Protocol):
    def assess(self, dialogue: Sequence[Utterance]) -> SafetyVerdict:
        """Risk reading of the current user turn in the context of the conversation."""

    def crisis_reply(self, verdict: SafetyVerdict, dialogue: Sequence[Utterance]) -> str:
        """A safe-messaging reply with a crisis resource in its first sentences."""

    def check_reply(self, reply: str, dialogue: Sequence[Utterance]) -> SafetyVerdict:
        """``risk=True`` when a candidate reply must not be sent."""
