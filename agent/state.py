"""The graph's state: one typed record for a turn.

Nodes are plain functions ``TurnState -> partial TurnState``; each field says who writes it.
Per-run dependencies (the components, the store) travel in ``TurnContext`` (see ``agent.graph``),
not in the state.
"""

from __future__ import annotations

from typing import Any, TypedDict

from agent.records import (VAD, CauseReading, Character, EmotionReading, RecalledMemory,
                           SafetyVerdict, StrategyChoice, Utterance)


class TurnState(TypedDict, total=False):
    # -- input (set by the SDK) ----------------------------------------------------------------
    session_id: str
    user_text: str
    """The user's message, already validated and cleaned by the SDK."""
    forced_strategy: str | None
    """Builder override: use this ESConv strategy for the reply."""
    forbidden_strategies: tuple[str, ...]
    """Builder override: never use these strategies."""
    persist: bool
    """False for a dry run (``Agent.respond``): the context comes with the input, nothing is stored."""

    # -- load_context ----------------------------------------------------------------------------
    user_id: str
    character: Character
    history: list[Utterance]
    """Earlier messages of the session, oldest first (without the current user turn)."""
    previous_strategies: list[str] | None
    """The strategies of the replies in ``history``, oldest first; None when a turn has none."""
    turn_index: int
    agent_vad_prev: VAD
    """The character's emotion state before this turn (decayed towards its baseline)."""

    # -- safety_gate -----------------------------------------------------------------------------
    safety: SafetyVerdict

    # -- perceive --------------------------------------------------------------------------------
    encoding: Any
    """The shared encoder's reading of the turn, reused by detector, cause finder and memory."""
    emotion: EmotionReading
    cause: CauseReading

    # -- recall ----------------------------------------------------------------------------------
    memories: list[RecalledMemory]

    # -- feel --------------------------------------------------------------------------------------
    agent_vad: VAD
    reply_emotion: str

    # -- plan --------------------------------------------------------------------------------------
    strategy: StrategyChoice

    # -- generate / crisis_reply / check_reply ---------------------------------------------------
    reply: str
    output_check: SafetyVerdict

    # -- bookkeeping -------------------------------------------------------------------------------
    timings_ms: dict[str, float]
