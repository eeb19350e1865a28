"""The planner's input vector for one supporter turn, shared by training and inference so that
the two can never drift apart.

What goes in (``FEATURE_VERSION`` names the layout, stored with the trained weights):

- the MiniLM vectors of the last ``SLOTS`` utterances, most recent first, each with a role flag
  pair (user, assistant); absent slots are zeros;
- the previous supporter strategies: one-hot of the last ``STRATEGY_LAGS`` (with a "none" slot)
  and the normalised histogram of all of them (the strongest single cue in ESConv: supporters
  keep asking, then comfort, then advise);
- position: utterances and supporter turns so far (scaled and clipped), user utterances since the
  last supporter turn, whether the supporter speaks twice in a row, whether it is the first
  supporter turn;
- the seeker's emotion, as one of ESConv's emotion types (``esconv_emotion`` maps the detector's
  32 EmpatheticDialogues labels onto them) or "unknown".

>>> import numpy as np
>>> x = planner_features(np.zeros((0, 384), np.float32), (), (), None, n_utterances=0)
>>> x.shape == (FEATURE_DIM,)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agent.perception.embedder import DIM
from agent.planner.strategies import STRATEGIES

FEATURE_VERSION = "planner-features-v1"
SLOTS = 4
STRATEGY_LAGS = 3

ESCONV_EMOTIONS: tuple[str, ...] = ("anxiety", "depression", "sadness", "anger", "fear", "disgust",
                                    "shame", "nervousness", "guilt", "jealousy", "pain", "unknown")

# EmpatheticDialogues' 32 labels (what the detector reads) onto ESConv's emotion types, by
# meaning; positive or neutral ED labels carry no distress type and map to "unknown".
_ED_TO_ESCONV = {
    "afraid": "fear", "terrified": "fear", "anxious": "anxiety", "apprehensive": "nervousness",
    "sad": "sadness", "lonely": "sadness", "disappointed": "sadness", "nostalgic": "sadness",
    "sentimental": "sadness", "devastated": "depression", "angry": "anger", "furious": "anger",
    "annoyed": "anger", "disgusted": "disgust", "ashamed": "shame", "embarrassed": "shame",
    "guilty": "guilt", "jealous": "jealousy",
}

_STRATEGY_INDEX = {s: k for k, s in enumerate(STRATEGIES)}
FEATURE_DIM = SLOTS * (DIM + 2) + STRATEGY_LAGS * (len(STRATEGIES) + 1) + len(STRATEGIES) + 5 + len(ESCONV_EMOTIONS)
CONTEXT_FEATURES = slice(SLOTS * (DIM + 2), FEATURE_DIM)
"""The features after the utterance slots: strategy lags and histogram, position, emotion type."""


def esconv_emotion(label: str | None) -> str:
    """ESConv's emotion type for an ESConv or EmpatheticDialogues label; "unknown" otherwise.

    >>> esconv_emotion("terrified"), esconv_emotion("Depression"), esconv_emotion("joyful")
    ('fear', 'depression', 'unknown')
    """
    if not label:
        return "unknown"
    key = label.strip().lower()
    if key in ESCONV_EMOTIONS:
        return key
    return _ED_TO_ESCONV.get(key, "unknown")


def planner_features(recent_vectors: np.ndarray, recent_roles: Sequence[str],
                     previous_strategies: Sequence[str], emotion: str | None, *,
                     n_utterances: int) -> np.ndarray:
    """The (FEATURE_DIM,) float32 input for one turn.

    ``recent_vectors``: (k, 384) MiniLM vectors of the last k utterances, oldest first (only the
    last ``SLOTS`` are used); ``recent_roles``: their roles ("user"/"assistant");
    ``previous_strategies``: the supporter strategies so far, oldest first; ``n_utterances``: the
    length of the whole dialogue so far (only counts, so a long history costs nothing here).
    """
    recent_vectors = np.asarray(recent_vectors, dtype=np.float32).reshape(-1, DIM)
    if len(recent_vectors) != len(recent_roles):
        raise ValueError(f"{len(recent_vectors)} vectors but {len(recent_roles)} roles")
    parts: list[np.ndarray] = []
    # Utterance slots, most recent first, so slot 0 is always "the turn being answered".
    for k in range(SLOTS):
        vec = np.zeros(DIM, np.float32)
        flags = np.zeros(2, np.float32)
        if k < len(recent_vectors):
            vec = recent_vectors[-1 - k]
            flags[0 if recent_roles[-1 - k] == "user" else 1] = 1.0
        parts += [vec, flags]
    # Strategy lags and histogram.
    for k in range(STRATEGY_LAGS):
        onehot = np.zeros(len(STRATEGIES) + 1, np.float32)
        if k < len(previous_strategies):
            onehot[_STRATEGY_INDEX[previous_strategies[-1 - k]]] = 1.0
        else:
            onehot[-1] = 1.0
        parts.append(onehot)
    hist = np.zeros(len(STRATEGIES), np.float32)
    for s in previous_strategies:
        hist[_STRATEGY_INDEX[s]] += 1.0
    if previous_strategies:
        hist /= len(previous_strategies)
    parts.append(hist)
    # Position in the conversation. The role counts below need only the tail of the dialogue.
    users_since = 0
    for role in reversed(recent_roles):
        if role != "user":
            break
        users_since += 1
    last_is_assistant = 1.0 if recent_roles and recent_roles[-1] == "assistant" else 0.0
    parts.append(np.array([
        min(n_utterances / 30.0, 4.0),
        min(len(previous_strategies) / 15.0, 4.0),
        min(users_since / 4.0, 2.0),
        last_is_assistant,
        1.0 if not previous_strategies else 0.0,
    ], np.float32))
    emo = np.zeros(len(ESCONV_EMOTIONS), np.float32)
    emo[ESCONV_EMOTIONS.index(esconv_emotion(emotion))] = 1.0
    parts.append(emo)
    x = np.concatenate(parts)
    assert x.shape == (FEATURE_DIM,)
    return x
