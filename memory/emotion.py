"""The emotion space of Emotional RAG: Plutchik's eight basic emotions.

Every memory and every query gets an emotion vector in ``PLUTCHIK8`` space (non-negative,
L2-normalised, so the cosine of two vectors lies in [0, 1]):

- a **label** (ED-32, Ekman-7 or ESConv) maps to a fixed point, written by hand below from
  Plutchik's wheel and its dyads (e.g. *anxious* = fear + anticipation, *caring* = joy + trust,
  *disappointed* = surprise + sadness);
- a **distribution** (the detector's ``EmotionReading.top_k``, or a full 32-way ED vector) is
  collapsed onto the wheel as the probability-weighted sum of its labels' points;
- no emotion (a profile fact, an unknown label) is the **neutral** point, the uniform vector:
  equally far from every emotion (cosine 1/sqrt(8) = 0.35 with a pure one), so it neither helps
  nor hurts a memory much.

Why Plutchik-8 and not VAD: the Emotional RAG paper scores memories on Plutchik's eight
dimensions; and in VAD, emotions as different as *angry* and *afraid* sit close together
(both negative, aroused), which would make "emotionally consistent" recall confuse them.

>>> round(float(emotion_similarity(label_point("anxious"), label_point("afraid"))), 2)
0.85
>>> round(float(emotion_similarity(label_point("joyful"), label_point("sad"))), 2)
0.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agent.emotions import ED32

PLUTCHIK8: tuple[str, ...] = ("joy", "trust", "fear", "surprise", "sadness", "disgust", "anger",
                              "anticipation")
EMOTION_DIM = len(PLUTCHIK8)

# Hand-written weights on the wheel (the point is normalised afterwards). Dyads follow Plutchik:
# optimism = anticipation + joy, love = joy + trust, anxiety = anticipation + fear,
# disapproval = surprise + sadness, shame = fear + disgust, guilt = joy + fear (here read as
# sadness + fear, closer to how ED writers use "guilty"), pride = anger + joy (here joy +
# anticipation, since ED's "proud" is rarely angry).
_WHEEL: dict[str, dict[str, float]] = {
    # EmpatheticDialogues' 32 emotions
    "afraid": {"fear": 1.0},
    "angry": {"anger": 1.0},
    "annoyed": {"anger": 0.7, "disgust": 0.4},
    "anticipating": {"anticipation": 1.0},
    "anxious": {"fear": 0.8, "anticipation": 0.5},
    "apprehensive": {"fear": 0.8, "anticipation": 0.3},
    "ashamed": {"disgust": 0.6, "fear": 0.4, "sadness": 0.4},
    "caring": {"trust": 0.8, "joy": 0.5},
    "confident": {"trust": 0.6, "joy": 0.5, "anticipation": 0.4},
    "content": {"joy": 1.0, "trust": 0.3},
    "devastated": {"sadness": 1.0, "surprise": 0.3},
    "disappointed": {"sadness": 0.8, "surprise": 0.4},
    "disgusted": {"disgust": 1.0},
    "embarrassed": {"fear": 0.5, "disgust": 0.4, "surprise": 0.3},
    "excited": {"joy": 0.7, "anticipation": 0.7},
    "faithful": {"trust": 1.0},
    "furious": {"anger": 1.0, "disgust": 0.2},
    "grateful": {"trust": 0.7, "joy": 0.6},
    "guilty": {"sadness": 0.6, "fear": 0.6},
    "hopeful": {"anticipation": 0.8, "joy": 0.5},
    "impressed": {"surprise": 0.7, "joy": 0.4, "trust": 0.3},
    "jealous": {"anger": 0.7, "sadness": 0.4, "fear": 0.2},
    "joyful": {"joy": 1.0},
    "lonely": {"sadness": 1.0, "fear": 0.2},
    "nostalgic": {"sadness": 0.6, "joy": 0.5},
    "prepared": {"anticipation": 0.8, "trust": 0.4},
    "proud": {"joy": 0.8, "anticipation": 0.3, "trust": 0.2},
    "sad": {"sadness": 1.0},
    "sentimental": {"sadness": 0.5, "joy": 0.5, "trust": 0.3},
    "surprised": {"surprise": 1.0},
    "terrified": {"fear": 1.0, "surprise": 0.3},
    "trusting": {"trust": 1.0},
    # Ekman-7 (PELD, MELD, the detector's coarse label)
    "anger": {"anger": 1.0},
    "disgust": {"disgust": 1.0},
    "fear": {"fear": 1.0},
    "joy": {"joy": 1.0},
    "sadness": {"sadness": 1.0},
    "surprise": {"surprise": 1.0},
    # ESConv seeker emotions
    "anxiety": {"fear": 0.8, "anticipation": 0.5},
    "depression": {"sadness": 1.0, "disgust": 0.2},
    "guilt": {"sadness": 0.6, "fear": 0.6},
    "jealousy": {"anger": 0.7, "sadness": 0.4, "fear": 0.2},
    "nervousness": {"fear": 0.8, "anticipation": 0.4},
    "pain": {"sadness": 0.9, "anger": 0.2},
    "shame": {"disgust": 0.6, "fear": 0.4, "sadness": 0.4},
    # Plutchik's own two that have no entry above
    "trust": {"trust": 1.0},
    "anticipation": {"anticipation": 1.0},
}

NEUTRAL: np.ndarray = np.full(EMOTION_DIM, 1.0 / np.sqrt(EMOTION_DIM), dtype=np.float32)
NEUTRAL.setflags(write=False)


def _point(weights: Mapping[str, float]) -> np.ndarray:
    v = np.zeros(EMOTION_DIM, dtype=np.float32)
    for name, w in weights.items():
        v[PLUTCHIK8.index(name)] = w
    return v / np.linalg.norm(v)


_POINTS: dict[str, np.ndarray] = {label: _point(w) for label, w in _WHEEL.items()}


def known_label(label: str) -> bool:
    """Whether ``label`` has a point on the wheel (``neutral`` counts as known)."""
    key = label.strip().lower()
    return key == "neutral" or key in _POINTS


def label_point(label: str | None) -> np.ndarray:
    """The unit Plutchik-8 point of an emotion label; neutral for None or ``"neutral"``.

    Raises ``ValueError`` for an unknown label (a typo in a character card must not silently
    become neutral).
    """
    if label is None or label.strip().lower() == "neutral":
        return NEUTRAL.copy()
    key = label.strip().lower()
    if key not in _POINTS:
        raise ValueError(f"unknown emotion label {label!r}; use one of ED's 32 emotions, "
                         f"Ekman's 7 or ESConv's 11 (e.g. {', '.join(ED32[:4])}, ...)")
    return _POINTS[key].copy()


def distribution_point(distribution: Sequence[tuple[str, float]] | Mapping[str, float]) -> np.ndarray:
    """Collapse (label, probability) pairs onto the wheel: the normalised weighted sum of points.

    Unknown labels are skipped (a detector may emit labels outside this table); an empty or
    all-unknown distribution gives the neutral point.

    >>> PLUTCHIK8[int(distribution_point([("sad", 0.5), ("lonely", 0.5)]).argmax())]
    'sadness'
    """
    pairs = distribution.items() if isinstance(distribution, Mapping) else distribution
    v = np.zeros(EMOTION_DIM, dtype=np.float32)
    for label, p in pairs:
        if known_label(label) and p > 0:
            v += float(p) * label_point(label)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else NEUTRAL.copy()


def emotion_vector(emotion: Any) -> np.ndarray:
    """The Plutchik-8 vector of whatever describes an emotion.

    Accepts an ``EmotionReading`` (its ``top_k`` distribution, else its label), a label string,
    a (label, probability) sequence or mapping, a 32-way ED probability vector, an 8-d vector
    (normalised and clipped at 0), or None (neutral).
    """
    if emotion is None:
        return NEUTRAL.copy()
    if isinstance(emotion, str):
        return label_point(emotion)
    top_k = getattr(emotion, "top_k", None)
    if top_k is not None:  # an EmotionReading
        return distribution_point(top_k) if top_k else label_point(emotion.label)
    if isinstance(emotion, Mapping):
        return distribution_point(emotion)
    arr = np.asarray(emotion, dtype=np.float32) if not _is_pairs(emotion) else None
    if arr is None:
        return distribution_point(emotion)
    if arr.shape == (len(ED32),):
        return distribution_point(list(zip(ED32, arr.tolist())))
    if arr.shape == (EMOTION_DIM,):
        arr = np.clip(arr, 0.0, None)
        norm = float(np.linalg.norm(arr))
        return arr / norm if norm > 0 else NEUTRAL.copy()
    raise ValueError(f"cannot read an emotion from a vector of shape {arr.shape}; "
                     f"expected {EMOTION_DIM} (Plutchik) or {len(ED32)} (ED) values")


def _is_pairs(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and isinstance(value[0], (list, tuple)) and len(value[0]) == 2
            and isinstance(value[0][0], str))


def emotion_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of unit emotion vectors (in [0, 1] since they are non-negative); broadcasts."""
    return np.clip(np.sum(np.asarray(a) * np.asarray(b), axis=-1), 0.0, 1.0)
