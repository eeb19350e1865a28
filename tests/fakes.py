"""Fakes for unit tests of the code around the real components (never used outside tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from agent.llm.base import ChatModel, GenerationOptions, LLMUnavailable, Message
from agent.records import (VAD, CauseReading, EmotionReading, SafetyVerdict, StrategyChoice,
                           Traits, Utterance)


class EchoChatModel(ChatModel):
    """Replies "I hear you: <last user message>", token by token; can be told to fail."""

    name = "echo"

    def __init__(self, fail_after: int | None = None, delay_s: float = 0.0) -> None:
        self.fail_after = fail_after
        self.delay_s = delay_s
        self.calls: list[list[Message]] = []

    def _reply(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        if options.choices:
            return options.choices[0]
        return f"I hear you: {messages[-1]['content']}"

    def _complete(self, messages, options):
        return "".join(self._stream(messages, options))

    def _stream(self, messages, options) -> Iterator[str]:
        self.calls.append(list(messages))
        for i, word in enumerate(self._reply(messages, options).split(" ")):
            if self.fail_after is not None and i >= self.fail_after:
                raise LLMUnavailable("echo backend went away mid-stream")
            yield word if i == 0 else " " + word

    async def _astream(self, messages, options):
        self.calls.append(list(messages))
        for i, word in enumerate(self._reply(messages, options).split(" ")):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.fail_after is not None and i >= self.fail_after:
                raise LLMUnavailable("echo backend went away mid-stream")
            yield word if i == 0 else " " + word


class KeywordDetector:
    def detect(self, dialogue, *, encoding=None, top_k=3):
        sad = "sad" in dialogue[-1].text.lower()
        label = "sad" if sad else "content"
        return EmotionReading(label=label, confidence=0.8, top_k=((label, 0.8), ("lonely", 0.1)),
                              coarse="sadness" if sad else "joy", valence=-0.6 if sad else 0.5)


class LastTurnCause:
    def find(self, dialogue, emotion, *, encoding=None):
        return CauseReading(utterance_indices=(len(dialogue) - 1,), spans=(dialogue[-1].text[:20],), scores=(0.9,))


class ContagionTransition:
    def baseline(self, traits: Traits) -> VAD:
        return VAD(0.2, 0.0, 0.1)

    def step(self, prev, traits, dialogue, *, user_emotion=None, encoding=None):
        v = prev.valence + (user_emotion.valence - prev.valence) * 0.5 if user_emotion else prev.valence
        return VAD(v, prev.arousal, prev.dominance), "sadness" if v < 0 else "joy"


class FirstAllowedPlanner:
    def plan(self, dialogue, *, emotion=None, cause=None, encoding=None, forbidden=(), previous_strategies=None):
        for s in ("Question", "Reflection of feelings", "Providing Suggestions"):
            if s not in forbidden:
                return StrategyChoice(strategy=s, stage="exploration", distribution=((s, 1.0),))
        raise AssertionError("everything forbidden")


class WordGate:
    """Flags messages containing "KILL_SWITCH" as a crisis."""

    def assess(self, dialogue: Sequence[Utterance]) -> SafetyVerdict:
        risk = "KILL_SWITCH" in dialogue[-1].text
        return SafetyVerdict(risk=risk, category="suicide" if risk else None, score=float(risk))

    def crisis_reply(self, verdict, dialogue):
        return "Please call 988 now. I'm here with you."

    def check_reply(self, reply, dialogue):
        return SafetyVerdict(risk="FORBIDDEN" in reply, category="output" if "FORBIDDEN" in reply else None)


class WordOverlapMemory:
    """Character memory kept in the store, recalled by shared words (for the demo's tests).

    Implements what ``Agent.create_character``/``add_memory`` and the graph's recall and remember
    nodes call; no embeddings, no index.
    """

    def __init__(self, store) -> None:
        self.store = store

    def add_profile(self, character) -> list:
        return []

    def add(self, character_id, memories, *, kind="experience", emotion=None, user_id=None):
        from agent.records import MemoryUnit

        if isinstance(memories, (str, MemoryUnit)):
            memories = [memories]
        known = {m.text for m in self.store.list_memories(character_id)}
        units = []
        for m in memories:
            unit = m if isinstance(m, MemoryUnit) else MemoryUnit(character_id, kind, m, emotion=emotion,
                                                                  user_id=user_id)
            unit = MemoryUnit(character_id, unit.kind, unit.text, emotion=unit.emotion, user_id=unit.user_id)
            if unit.text not in known:
                known.add(unit.text)
                units.append(unit)
        return self.store.add_memories(units) if units else []

    def recall(self, character_id, user_id, query, *, emotion=None, encoding=None, k=4):
        from agent.records import RecalledMemory

        words = set(query.lower().split())
        scored = []
        for m in self.store.list_memories(character_id, user_id=user_id):
            overlap = len(words & set(m.text.lower().split())) / (len(words) or 1)
            if overlap > 0:
                scored.append(RecalledMemory(id=m.id, kind=m.kind, text=m.text, emotion=m.emotion,
                                             score=overlap, semantic_score=overlap))
        return sorted(scored, key=lambda r: -r.score)[:k]

    def exchange_memories(self, character_id, user_id, user_text, reply, *, emotion=None, encoding=None):
        return []
