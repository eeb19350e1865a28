"""What one transition step produced, and the guard that keeps a stored state valid.

Both transition models return a ``TransitionReading``: the new state, the Ekman-7 label of the
character's emotion, the (supportive) label the reply expresses, and the pieces of
E_resp = E_prev + dE (x) P so that the demo and the tests can show *why* the state moved.

``safe_prev(prev, baseline)`` is applied to every incoming state: a NaN or infinite coordinate
(a corrupted row, a bug upstream) is replaced by the character's baseline and finite values are
clipped to [-1, 1], so a bad state can never propagate into the next stored one.

>>> safe_prev(VAD(float("nan"), 2.0, 0.1), VAD(0.2, 0.0, 0.0))
VAD(valence=0.2, arousal=0.0, dominance=0.0)
>>> safe_prev(VAD(0.5, 2.0, 0.1), VAD()).arousal
1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.records import VAD, EmotionReading, Traits, Utterance
from agent.transition.temperament import as_traits, temperament

Point = tuple[float, float, float]


@dataclass(frozen=True)
class TransitionReading:
    vad: VAD
    """The character's new emotion state, each axis in [-1, 1]."""
    label: str
    """Ekman-7 label of the character's emotion (what PELD's evaluation scores)."""
    reply_label: str
    """Label the reply expresses: ``label`` with hostile emotions made supportive (``reply.py``)."""
    delta: Point
    """dE: the change predicted from the conversation, before the personality gain."""
    gain: Point
    """P: the personality gain applied element-wise to dE."""
    probabilities: tuple[tuple[str, float], ...] = ()
    """Ekman-7 label probabilities when the model has a classification head, best first."""
    source: str = "rules"
    """"trained" or "rules" (also "rules" when the trained model fell back on a NaN)."""


def finite(point: Point) -> bool:
    return all(math.isfinite(x) for x in point)


def clamp(point: Point) -> Point:
    return tuple(max(-1.0, min(1.0, float(x))) for x in point)  # type: ignore[return-value]


def safe_prev(prev: VAD | None, baseline: VAD) -> VAD:
    """``prev`` clipped to [-1, 1], or ``baseline`` when it is missing or not finite."""
    if prev is None:
        return baseline
    values = tuple(float(x) for x in prev.as_tuple())
    if not finite(values):  # type: ignore[arg-type]
        return baseline
    return VAD(*clamp(values))  # type: ignore[arg-type]


class TransitionSteps:
    """The ``EmotionTransition`` protocol over a model's ``read``: both models' resting state is
    the character's temperament, and a step keeps the state and the reply's label."""

    def read(self, prev: VAD, traits: Traits, dialogue: Sequence[Utterance], *,
             user_emotion: EmotionReading | None = None, encoding: Any = None) -> TransitionReading:
        raise NotImplementedError

    def baseline(self, traits: Traits) -> VAD:
        return VAD(*temperament(as_traits(traits)))

    def step(self, prev: VAD, traits: Traits, dialogue: Sequence[Utterance], *,
             user_emotion: EmotionReading | None = None, encoding: Any = None) -> tuple[VAD, str]:
        reading = self.read(prev, traits, dialogue, user_emotion=user_emotion, encoding=encoding)
        return reading.vad, reading.reply_label
