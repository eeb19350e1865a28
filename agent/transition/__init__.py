"""Personality-conditioned emotion transitions: the character's own emotion, turn by turn.

The character keeps a Valence-Arousal-Dominance state and moves it each turn,
E_resp = E_prev + dE(context) (x) P(personality) (PELD, Wen et al. 2021; ``methods.md`` section 6).
Two implementations of ``agent.protocols.EmotionTransition``:

- ``TrainedTransition`` (``model.py``): dE from the MiniLM vectors of the two preceding
  utterances, P from the Big-Five via Mehrabian's temperament and a learned 3x3 map, an Ekman-7
  readout; trained on PELD by ``python -m agent.transition --train``.
- ``RuleBasedTransition`` (``rules.py``): contagion towards the user's detected emotion scaled by
  agreeableness and neuroticism, with stability pulling back to the baseline; no model, any language.

Both clip the state to [-1, 1], replace a NaN incoming state by the baseline, and return the
reply's emotion in its supportive form (anger/disgust -> sadness, ``reply.py``).

>>> transition = load_transition("rules")
>>> vad, label = transition.step(VAD(), Traits(neuroticism=0.9), [Utterance("user", "I lost my job.")],
...                              user_emotion=EmotionReading(label="devastated", confidence=0.8))
>>> label, vad.valence < 0  # one step covers part of the way: still nearest to neutral
('neutral', True)
"""

from __future__ import annotations

from typing import Any, Literal

from agent.records import VAD, EmotionReading, Traits, Utterance  # noqa: F401  (doctest names)
from agent.transition.model import TrainedTransition
from agent.transition.reading import TransitionReading
from agent.transition.reply import SUPPORTIVE_REPLY, supportive_label
from agent.transition.rules import RuleBasedTransition
from agent.transition.temperament import as_traits, temperament

__all__ = ["RuleBasedTransition", "SUPPORTIVE_REPLY", "TrainedTransition", "TransitionReading",
           "as_traits", "load_transition", "supportive_label", "temperament"]


def load_transition(kind: Literal["trained", "rules"] = "trained", *, embedder: Any = None,
                    path: Any = None) -> TrainedTransition | RuleBasedTransition:
    """The transition model for the SDK: ``"trained"`` (the committed PELD artefact) or ``"rules"``."""
    if kind == "trained":
        return TrainedTransition.from_artefact(path, embedder=embedder)
    if kind == "rules":
        return RuleBasedTransition()
    raise ValueError(f"unknown transition kind {kind!r}; expected 'trained' or 'rules'")
