"""A transparent rule-based transition: emotional contagion scaled by personality.

It has the same interface as the trained model and the same shape, E_resp = E_prev + dE (x) P,
with every term readable:

- **dE** = target - E_prev, where the target is the user's detected emotion as a VAD point (the
  expected point of the detector's top-k, else its label's point; ``agent.emotion_space``). With
  no user emotion, dE = 0.
- **P** = (c, c * (1 + (N - 0.5)), c / 2): the contagion c = clip(0.35 + 0.25 (A - 0.5) +
  0.45 (N - 0.5), 0.05, 0.9) rises with agreeableness (empathic mirroring) and with neuroticism
  (emotional reactivity); a neurotic character's arousal is caught more, and only half of the
  user's dominance is taken on (a supporter does not become submissive or domineering with them).
- **Recovery**: E = E' + r (baseline - E'), with r = 0.1 + 0.3 (1 - N): emotional stability pulls
  the state back towards the character's temperament (``temperament.py``).

The result is clipped to [-1, 1]; the label is the nearest Ekman-7 point, and the reply label
its supportive form (``reply.py``). Works for any language and any character, with no model.

>>> rules = RuleBasedTransition()
>>> rules.baseline(Traits())
VAD(valence=0.0, arousal=0.0, dominance=0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.emotion_space import expected_vad, nearest_label, vad_of
from agent.emotions import EKMAN7
from agent.records import VAD, EmotionReading, Traits, Utterance
from agent.transition.reading import Point, TransitionReading, TransitionSteps, clamp, safe_prev
from agent.transition.reply import supportive_label
from agent.transition.temperament import as_traits


def contagion(traits: Traits) -> float:
    """How much of the distance to the user's emotion the character covers in one turn."""
    c = 0.35 + 0.25 * (traits.agreeableness - 0.5) + 0.45 * (traits.neuroticism - 0.5)
    return min(0.9, max(0.05, c))


def recovery(traits: Traits) -> float:
    """Fraction of the way back to the baseline per turn: emotional stability (1 - N) raises it."""
    return 0.1 + 0.3 * (1.0 - traits.neuroticism)


def user_point(emotion: EmotionReading) -> Point:
    """The user's emotion as a VAD point; unknown labels raise ``ValueError``."""
    if emotion.top_k:
        return expected_vad(emotion.top_k)
    return vad_of(emotion.label)


class RuleBasedTransition(TransitionSteps):
    """Contagion towards the user's emotion, scaled by personality, with a pull back to baseline."""

    kind = "rules"

    def read(self, prev: VAD, traits: Traits, dialogue: Sequence[Utterance] = (), *,
             user_emotion: EmotionReading | None = None, encoding: Any = None) -> TransitionReading:
        traits = as_traits(traits)
        base = self.baseline(traits)
        e_prev = safe_prev(prev, base).as_tuple()
        if user_emotion is not None:
            target = user_point(user_emotion)
            delta = tuple(t - p for t, p in zip(target, e_prev))
        else:
            delta = (0.0, 0.0, 0.0)
        c = contagion(traits)
        gain = (c, c * (1.0 + (traits.neuroticism - 0.5)), c / 2)
        moved = tuple(p + d * g for p, d, g in zip(e_prev, delta, gain))
        r = recovery(traits)
        settled = clamp(tuple(m + r * (b - m) for m, b in zip(moved, base.as_tuple())))  # type: ignore[arg-type]
        label = nearest_label(settled, EKMAN7)
        return TransitionReading(vad=VAD(*settled), label=label, reply_label=supportive_label(label),
                                 delta=delta, gain=gain, source="rules")  # type: ignore[arg-type]
