"""Typed records that flow between the agent's components.

Every component reads and writes these small frozen dataclasses, so that a turn's annotations
can be put in the graph state, stored as JSON and shown in the demo without conversion code in
each place. ``to_dict`` gives plain JSON-ready data; ``from_dict`` reads it back.

>>> EmotionReading(label="sad", confidence=0.6, top_k=(("sad", 0.6), ("lonely", 0.2))).to_dict()["label"]
'sad'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]

BIG_FIVE = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


class _Record:
    """Mixin: JSON round trip for the nested frozen dataclasses below."""

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None):
        if data is None:
            return None
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: _tuple(v) for k, v in data.items() if k in names})


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _tuple(value: Any) -> Any:
    # JSON turns tuples into lists; records keep tuples so that they stay hashable and frozen.
    if isinstance(value, list):
        return tuple(_tuple(v) for v in value)
    return value


@dataclass(frozen=True)
class Utterance(_Record):
    """One message of a dialogue. ``role`` is "user" (the seeker) or "assistant" (the character)."""

    role: Role
    text: str


@dataclass(frozen=True)
class Traits(_Record):
    """Big-Five personality traits, each in [0, 1] (0.5 is average).

    Values outside [0, 1] raise ``ValueError``: a character card with a typo should fail loudly
    rather than produce a character with an absurd temperament.
    """

    openness: float = 0.5
    conscientiousness: float = 0.5
    extraversion: float = 0.5
    agreeableness: float = 0.5
    neuroticism: float = 0.5

    def __post_init__(self) -> None:
        for name in BIG_FIVE:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value != value or not 0.0 <= value <= 1.0:
                raise ValueError(f"trait {name!r} must be a number in [0, 1], got {value!r}")

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        """The traits in PELD's order (O, C, E, A, N)."""
        return tuple(float(getattr(self, n)) for n in BIG_FIVE)  # type: ignore[return-value]


@dataclass(frozen=True)
class Character(_Record):
    """A character the agent plays: who it is and how it tends to feel."""

    name: str
    profile: str = ""
    traits: Traits = field(default_factory=Traits)
    id: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None):
        if data is None:
            return None
        traits = data.get("traits") or {}
        if isinstance(traits, Traits):
            traits_obj = traits
        else:
            unknown = set(traits) - set(BIG_FIVE)
            if unknown:
                raise ValueError(f"unknown trait(s) {sorted(unknown)}; expected {list(BIG_FIVE)}")
            traits_obj = Traits(**traits)
        return cls(name=data["name"], profile=data.get("profile", ""), traits=traits_obj,
                   id=data.get("id"))


@dataclass(frozen=True)
class VAD(_Record):
    """A point in Valence-Arousal-Dominance space, each axis in [-1, 1]."""

    valence: float = 0.0
    arousal: float = 0.0
    dominance: float = 0.0

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.valence, self.arousal, self.dominance)


@dataclass(frozen=True)
class EmotionReading(_Record):
    """What the detector read in the user's turn.

    ``label`` is one of the 32 EmpatheticDialogues emotions; ``top_k`` holds (label, probability)
    pairs, best first; ``coarse`` is the Ekman-6 + neutral label and ``valence`` is in [-1, 1].
    """

    label: str
    confidence: float
    top_k: tuple[tuple[str, float], ...] = ()
    coarse: str = "neutral"
    valence: float = 0.0


@dataclass(frozen=True)
class CauseReading(_Record):
    """Why the user feels it: which utterances (indices into the dialogue) and which words."""

    utterance_indices: tuple[int, ...] = ()
    spans: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()


@dataclass(frozen=True)
class RecalledMemory(_Record):
    """A memory brought back for this turn, with the scores that ranked it."""

    id: str
    kind: str
    text: str
    emotion: str | None = None
    score: float = 0.0
    semantic_score: float = 0.0
    emotion_score: float = 0.0


@dataclass(frozen=True)
class StrategyChoice(_Record):
    """The support strategy chosen for the reply (one of ESConv's eight) and the stage."""

    strategy: str
    stage: str
    distribution: tuple[tuple[str, float], ...] = ()
    source: str = "planner"


@dataclass(frozen=True)
class SafetyVerdict(_Record):
    """The crisis gate's reading of the turn. ``category`` is None when no risk was found."""

    risk: bool = False
    category: str | None = None
    score: float = 0.0
    signals: tuple[str, ...] = ()
    resource: str | None = None


@dataclass(frozen=True)
class TurnResult(_Record):
    """What ``Agent.chat`` returns: the reply and everything the agent perceived and chose."""

    session_id: str
    turn_index: int
    user_text: str
    reply: str
    emotion: EmotionReading | None = None
    cause: CauseReading | None = None
    memories: tuple[RecalledMemory, ...] = ()
    agent_vad: VAD | None = None
    reply_emotion: str | None = None
    strategy: StrategyChoice | None = None
    safety: SafetyVerdict = field(default_factory=SafetyVerdict)
    timings_ms: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None):
        if data is None:
            return None
        return cls(
            session_id=data["session_id"], turn_index=data["turn_index"],
            user_text=data["user_text"], reply=data["reply"],
            emotion=EmotionReading.from_dict(data.get("emotion")),
            cause=CauseReading.from_dict(data.get("cause")),
            memories=tuple(RecalledMemory.from_dict(m) for m in data.get("memories") or ()),
            agent_vad=VAD.from_dict(data.get("agent_vad")),
            reply_emotion=data.get("reply_emotion"),
            strategy=StrategyChoice.from_dict(data.get("strategy")),
            safety=SafetyVerdict.from_dict(data.get("safety")) or SafetyVerdict(),
            timings_ms=_tuple(data.get("timings_ms") or ()),
        )


MEMORY_KINDS = ("profile", "experience", "dialogue")


@dataclass(frozen=True)
class MemoryUnit(_Record):
    """One unit of a character's memory: a profile fact, an experience, or a past exchange.

    ``user_id`` is None for memories that belong to the character alone (profile, experiences);
    a dialogue memory carries the user it was held with and is only ever recalled for that user.
    ``emotion_vector`` is the emotion-space vector used by Emotional RAG (see ``memory.emotion``);
    ``embedding`` is the semantic vector (float32), kept so an index can be rebuilt without
    re-embedding.
    """

    character_id: str
    kind: str
    text: str
    id: str | None = None
    user_id: str | None = None
    emotion: str | None = None
    emotion_vector: tuple[float, ...] = ()
    embedding: tuple[float, ...] = ()
    created_at: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in MEMORY_KINDS:
            raise ValueError(f"memory kind must be one of {MEMORY_KINDS}, got {self.kind!r}")
        if not self.text or not self.text.strip():
            raise ValueError("a memory needs non-empty text")


@dataclass(frozen=True)
class SessionInfo(_Record):
    """A conversation between one user and one character."""

    id: str
    character_id: str
    user_id: str
    title: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    turn_count: int = 0
    agent_vad: VAD | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None):
        if data is None:
            return None
        data = dict(data)
        data["agent_vad"] = VAD.from_dict(data.get("agent_vad"))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
