"""The turn loop as a LangGraph state machine.

    load_context -> safety_gate --risk--> crisis_reply ------------------------> remember
                                 \\-ok--> perceive -> recall -> feel -> plan -> generate
                                                                                  |
                                           remember <-------- check_reply <-------/

Each node is a plain function from ``TurnState`` to a partial update. The components it calls
come from ``TurnContext`` (LangGraph's run-time context); a component left as ``None`` switches
its node off, which is how the evaluation runs its ablations. Nodes emit events for streaming
through LangGraph's stream writer (``stream_mode="custom"``).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.generator import ResponseGenerator
from agent.protocols import (CauseFinder, EmotionDetector, EmotionTransition, MemoryRecall,
                             SafetyGate, StrategyPlanner, TurnEncoder)
from agent.records import VAD, MemoryUnit, SafetyVerdict, TurnResult, Utterance
from agent.settings import Settings
from agent.state import TurnState
from agent.store.base import NotFound, Store


@dataclass
class TurnContext:
    """Everything a turn needs besides its state. ``None`` switches a component off."""

    store: Store
    generator: ResponseGenerator
    settings: Settings = field(default_factory=lambda: Settings.load(config_file=None))
    encoder: TurnEncoder | None = None
    detector: EmotionDetector | None = None
    cause_finder: CauseFinder | None = None
    memory: MemoryRecall | None = None
    transition: EmotionTransition | None = None
    planner: StrategyPlanner | None = None
    safety: SafetyGate | None = None
    memory_writer: Any = None
    """Turns an exchange into dialogue memory units (``memory.CharacterMemory.exchange_memories``)."""


Ctx = Runtime[TurnContext]


def _emit(kind: str, **payload: Any) -> None:
    with contextlib.suppress(RuntimeError):  # not running under a streaming call
        get_stream_writer()({"type": kind, **payload})


def _timed(state: TurnState, name: str, start: float) -> dict[str, float]:
    timings = dict(state.get("timings_ms") or {})
    timings[name] = round((time.perf_counter() - start) * 1000, 3)
    return timings


def dialogue_of(state: TurnState) -> list[Utterance]:
    """The conversation so far, ending with the current user turn."""
    return [*state.get("history", []), Utterance("user", state["user_text"])]


# -- nodes -------------------------------------------------------------------------------------

def load_context(state: TurnState, runtime: Ctx) -> dict:
    t0 = time.perf_counter()
    ctx = runtime.context
    if state.get("persist") is False:  # a dry run brings its own context
        traits = state["character"].traits
        prev = ctx.transition.baseline(traits) if ctx.transition is not None else VAD()
        return {"agent_vad_prev": state.get("agent_vad_prev") or prev,
                "timings_ms": _timed(state, "load_context", t0)}
    session = ctx.store.get_session(state["session_id"])
    character = ctx.store.get_character(session.character_id)
    turns = ctx.store.list_turns(session.id, last=ctx.settings.llm.max_context_messages)
    history: list[Utterance] = []
    for turn in turns:
        history += [Utterance("user", turn.user_text), Utterance("assistant", turn.reply)]
    prev = session.agent_vad
    if ctx.transition is not None:
        baseline = ctx.transition.baseline(character.traits)
        prev = _decay(prev or baseline, baseline, session.updated_at, ctx.settings)
    # The planner's recency rule needs the strategies it chose before; the store has them, so it
    # need not re-tag the replies (crisis turns carry none: then the planner tags them itself).
    strategies = [t.strategy.strategy for t in turns if t.strategy is not None]
    return {"user_id": session.user_id, "character": character, "history": history,
            "previous_strategies": strategies if len(strategies) == len(turns) else None,
            "turn_index": session.turn_count, "agent_vad_prev": prev or VAD(),
            "timings_ms": _timed(state, "load_context", t0)}


def _decay(state: VAD, baseline: VAD, last_update: float, settings: Settings) -> VAD:
    """Move the state towards the baseline by the time elapsed since the last turn (in days)."""
    days = max(0.0, (time.time() - last_update) / 86400) if last_update else 0.0
    keep = (1.0 - settings.transition.decay_per_day) ** days
    return VAD(*(b + (s - b) * keep for s, b in zip(state.as_tuple(), baseline.as_tuple())))


def safety_gate(state: TurnState, runtime: Ctx) -> dict:
    t0 = time.perf_counter()
    gate = runtime.context.safety
    verdict = gate.assess(dialogue_of(state)) if gate else SafetyVerdict()
    _emit("safety", safety=verdict.to_dict())
    return {"safety": verdict, "timings_ms": _timed(state, "safety_gate", t0)}


def route_after_safety(state: TurnState) -> str:
    return "crisis_reply" if state["safety"].risk else "perceive"


def crisis_reply(state: TurnState, runtime: Ctx) -> dict:
    # A fixed, reviewed reply rather than the small LLM's free generation.
    reply = runtime.context.safety.crisis_reply(state["safety"], dialogue_of(state))
    _emit("token", text=reply)
    return {"reply": reply}


def perceive(state: TurnState, runtime: Ctx) -> dict:
    t0 = time.perf_counter()
    ctx, dialogue, update = runtime.context, dialogue_of(state), {}
    encoding = ctx.encoder.encode_turn(dialogue) if ctx.encoder else None
    update["encoding"] = encoding
    if ctx.detector is not None:
        emotion = ctx.detector.detect(dialogue, encoding=encoding, top_k=ctx.settings.perception.top_k)
        update["emotion"] = emotion
        _emit("emotion", emotion=emotion.to_dict())
        if ctx.cause_finder is not None and ctx.settings.perception.cause:
            cause = ctx.cause_finder.find(dialogue, emotion, encoding=encoding)
            update["cause"] = cause
            _emit("cause", cause=cause.to_dict())
    update["timings_ms"] = _timed(state, "perceive", t0)
    return update


def recall(state: TurnState, runtime: Ctx) -> dict:
    t0 = time.perf_counter()
    ctx = runtime.context
    if ctx.memory is None:
        return {"memories": []}
    try:
        memories = ctx.memory.recall(state["character"].id, state["user_id"], state["user_text"],
                                     emotion=state.get("emotion"), encoding=state.get("encoding"),
                                     k=ctx.settings.memory.k)
    except NotFound:
        if state.get("persist") is not False:
            raise
        memories = []  # a dry run's character need not be stored; then it has no memories
    _emit("memories", memories=[m.to_dict() for m in memories])
    return {"memories": memories, "timings_ms": _timed(state, "recall", t0)}


def feel(state: TurnState, runtime: Ctx) -> dict:
    t0 = time.perf_counter()
    ctx = runtime.context
    if ctx.transition is None:
        return {}
    vad, label = ctx.transition.step(state["agent_vad_prev"], state["character"].traits,
                                     dialogue_of(state), user_emotion=state.get("emotion"),
                                     encoding=state.get("encoding"))
    _emit("agent_emotion", vad=vad.to_dict(), label=label)
    return {"agent_vad": vad, "reply_emotion": label, "timings_ms": _timed(state, "feel", t0)}


def plan(state: TurnState, runtime: Ctx) -> dict:
    t0 = time.perf_counter()
    ctx = runtime.context
    forced = state.get("forced_strategy")
    if forced:
        from agent.records import StrategyChoice
        from agent.planner.strategies import stage_of

        choice = StrategyChoice(strategy=forced, stage=stage_of(forced), source="forced")
    elif ctx.planner is not None:
        choice = ctx.planner.plan(dialogue_of(state), emotion=state.get("emotion"),
                                  cause=state.get("cause"), encoding=state.get("encoding"),
                                  forbidden=state.get("forbidden_strategies", ()),
                                  previous_strategies=state.get("previous_strategies"))
    else:
        return {}
    _emit("strategy", strategy=choice.to_dict())
    return {"strategy": choice, "timings_ms": _timed(state, "plan", t0)}


def generate(state: TurnState, runtime: Ctx) -> dict:
    t0 = time.perf_counter()
    pieces = []
    for piece in runtime.context.generator.stream(state):
        pieces.append(piece)
        _emit("token", text=piece)
    return {"reply": "".join(pieces).strip(), "timings_ms": _timed(state, "generate", t0)}


async def agenerate(state: TurnState, runtime: Ctx) -> dict:
    t0 = time.perf_counter()
    pieces = []
    async for piece in runtime.context.generator.astream(state):
        pieces.append(piece)
        _emit("token", text=piece)
    return {"reply": "".join(pieces).strip(), "timings_ms": _timed(state, "generate", t0)}


def check_reply(state: TurnState, runtime: Ctx) -> dict:
    ctx = runtime.context
    if ctx.safety is None:
        return {}
    dialogue = dialogue_of(state)
    verdict = ctx.safety.check_reply(state["reply"], dialogue)
    if not verdict.risk:
        return {"output_check": verdict}
    # Regenerating with the same small model tends to repeat the problem; a reviewed fallback
    # is the safe choice.
    fallback = ctx.generator.fallback_reply(state)
    _emit("replaced", reason=verdict.category, reply=fallback)
    return {"reply": fallback, "output_check": verdict}


def remember(state: TurnState, runtime: Ctx) -> dict:
    ctx = runtime.context
    result = turn_result(state)
    memories: list[MemoryUnit] = []
    if ctx.memory_writer is not None and not state["safety"].risk and state.get("persist", True):
        memories = ctx.memory_writer.exchange_memories(state["character"].id, state["user_id"],
                                                       state["user_text"], result.reply,
                                                       emotion=state.get("emotion"),
                                                       encoding=state.get("encoding"))
    if state.get("persist") is False:
        return {}
    stored = ctx.store.commit_turn(result, agent_vad=state.get("agent_vad"), memories=memories)
    return {"turn_index": stored.turn_index}


def turn_result(state: TurnState) -> TurnResult:
    """The SDK's view of a finished turn state."""
    return TurnResult(
        session_id=state["session_id"], turn_index=state.get("turn_index", 0),
        user_text=state["user_text"], reply=state.get("reply", ""),
        emotion=state.get("emotion"), cause=state.get("cause"),
        memories=tuple(state.get("memories") or ()), agent_vad=state.get("agent_vad"),
        reply_emotion=state.get("reply_emotion"), strategy=state.get("strategy"),
        safety=state.get("safety") or SafetyVerdict(),
        timings_ms=tuple(sorted((state.get("timings_ms") or {}).items())),
    )


# -- the graph ---------------------------------------------------------------------------------

def build_graph(*, asynchronous: bool = False):
    """Compile the turn graph. ``asynchronous=True`` uses the async generate node, so that many
    sessions can wait on an LLM server at once without holding a thread each."""
    graph = StateGraph(TurnState, context_schema=TurnContext)
    graph.add_node("load_context", load_context)
    graph.add_node("safety_gate", safety_gate)
    graph.add_node("crisis_reply", crisis_reply)
    graph.add_node("perceive", perceive)
    graph.add_node("recall", recall)
    graph.add_node("feel", feel)
    graph.add_node("plan", plan)
    graph.add_node("generate", agenerate if asynchronous else generate)
    graph.add_node("check_reply", check_reply)
    graph.add_node("remember", remember)

    graph.add_edge(START, "load_context")
    graph.add_edge("load_context", "safety_gate")
    graph.add_conditional_edges("safety_gate", route_after_safety, ["crisis_reply", "perceive"])
    graph.add_edge("crisis_reply", "remember")
    graph.add_edge("perceive", "recall")
    graph.add_edge("recall", "feel")
    graph.add_edge("feel", "plan")
    graph.add_edge("plan", "generate")
    graph.add_edge("generate", "check_reply")
    graph.add_edge("check_reply", "remember")
    graph.add_edge("remember", END)
    return graph.compile()
