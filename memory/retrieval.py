"""Emotional RAG ranking: semantic, combination and sequential retrieval.

Distances, each divided by its spread so that the weight means what it says:

- semantic distance ``d_s = (1 - cos(q, m)) / SEMANTIC_SPREAD`` over unit MiniLM vectors;
- emotion distance ``d_e = (1 - cos(e_q, e_m)) / EMOTION_SPREAD`` over unit non-negative
  Plutchik-8 vectors (see ``memory.emotion``).

The spreads are the standard deviations of the two cosines over query-memory pairs, measured on
EmpatheticDialogues train (``eval/retrieval.py``'s tuning sample: 0.10 for MiniLM, 0.33 for the
emotion points). Dividing by the range instead would not do: MiniLM cosines between unrelated
sentences crowd around 0.1, while emotion cosines spread over [0, 1], so even a small emotion
weight would swamp meaning (measured: w = 0.1 on range-normalised distances cost 3.7 points of
recall@4 with a weak detector).

Strategies (``MemorySettings.strategy``):

- ``semantic``: rank by ``d_s`` (the baseline; the score is the cosine).
- ``combination``: rank by ``d = (1 - w) d_s + w d_e`` with ``w = emotion_weight``; the score is
  ``1 - d / d_max`` in [0, 1]. The paper adds raw distances; here they are scaled and weighted.
  Since ``-d = const + (1 - w) cos / SEMANTIC_SPREAD + w cos_e / EMOTION_SPREAD``, one
  inner-product search with the query ``[(1 - w) / SEMANTIC_SPREAD * q | w / EMOTION_SPREAD * e_q]``
  finds the exact top k (see ``memory.index``).
- ``sequential``: the ``pool`` nearest by ``d_s``, re-ranked by ``d_e`` (ties by ``d_s``); the
  score is the emotion cosine (past the pool, when ``k > pool``, the semantic order goes on).
  Semantic first: re-ranking by meaning a pool chosen by emotion alone would pick among
  hundreds of memories that share one label, at random.

Without a query emotion, every strategy falls back to semantic ranking.

Hand-checked (``tests/test_memory.py``): query q, e_q = sad; memories
A: cos 0.9, angry (cos_e 0); B: cos 0.6, sad (cos_e 1); C: cos 0.0, lonely (cos_e 0.98).
d_s = (1.0, 4.0, 10.0), d_e = (3.03, 0.0, 0.06). Semantic ranks A, B, C.
w = 0.3: d = (0.7 + 0.91, 2.8, 7.0 + 0.02) = (1.61, 2.8, 7.02): A, B, C (meaning still leads);
w = 0.6: d = (0.4 + 1.82, 1.6, 4.0 + 0.04) = (2.22, 1.6, 4.04): B, A, C (the mood tips it).

>>> combined_distance(np.array([0.9, 0.6, 0.0]), np.array([0.0, 1.0, 0.98]), 0.6).round(2).tolist()
[2.22, 1.6, 4.04]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memory.emotion import EMOTION_DIM
from memory.index import EMOTION_SCALE, MemoryIndex

STRATEGIES = ("semantic", "combination", "sequential")


SEMANTIC_SPREAD = 0.10
EMOTION_SPREAD = 0.33


def semantic_distance(cos: np.ndarray) -> np.ndarray:
    return (1.0 - np.asarray(cos, dtype=np.float64)) / SEMANTIC_SPREAD


def emotion_distance(cos_e: np.ndarray) -> np.ndarray:
    return (1.0 - np.clip(np.asarray(cos_e, dtype=np.float64), 0.0, 1.0)) / EMOTION_SPREAD


def combined_distance(cos: np.ndarray, cos_e: np.ndarray, emotion_weight: float) -> np.ndarray:
    """``(1 - w) * d_s + w * d_e``."""
    w = _check_weight(emotion_weight)
    return (1.0 - w) * semantic_distance(cos) + w * emotion_distance(cos_e)


def combined_score(cos: np.ndarray, cos_e: np.ndarray, emotion_weight: float) -> np.ndarray:
    """``1 - d / d_max`` in [0, 1] (d_max: opposite meaning, no shared emotion)."""
    w = _check_weight(emotion_weight)
    d_max = (1.0 - w) * 2.0 / SEMANTIC_SPREAD + w / EMOTION_SPREAD
    return 1.0 - combined_distance(cos, cos_e, w) / d_max


def _check_weight(w: float) -> float:
    if not 0.0 <= float(w) <= 1.0:
        raise ValueError(f"emotion_weight must be in [0, 1], got {w!r}")
    return float(w)


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(f"memory strategy must be one of {STRATEGIES}, got {strategy!r}")
    return strategy


def search_query(q_semantic: np.ndarray, q_emotion: np.ndarray | None, strategy: str,
                 emotion_weight: float) -> np.ndarray:
    """The ``[semantic | emotion]`` vector whose inner product ranks the first stage."""
    q = np.asarray(q_semantic, dtype=np.float32).ravel()
    if strategy == "combination" and q_emotion is not None:
        w = _check_weight(emotion_weight)
        return np.concatenate([(1.0 - w) / SEMANTIC_SPREAD * q,
                               w / EMOTION_SPREAD / EMOTION_SCALE * np.asarray(q_emotion, np.float32)]).astype(np.float32)
    return np.concatenate([q, np.zeros(EMOTION_DIM, np.float32)])


@dataclass(frozen=True)
class Ranked:
    """One retrieved memory: where it came from and its scores."""

    source: int
    """Position of its index in the list given to ``retrieve``."""
    row: int
    semantic: float
    """Cosine of the semantic vectors."""
    emotion: float
    """Cosine of the emotion vectors (NaN without a query emotion)."""
    score: float


def rank(cos: np.ndarray, cos_e: np.ndarray | None, strategy: str, k: int, *,
         emotion_weight: float = 0.3, pool: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Order candidates (their semantic and emotion cosines) by a strategy: (positions, scores)
    of the best ``k``, best first. Ties keep the semantic order."""
    check_strategy(strategy)
    cos = np.asarray(cos, dtype=np.float64)
    by_semantic = np.argsort(-cos, kind="stable")
    if cos_e is None or strategy == "semantic":
        top = by_semantic[:k]
        return top, cos[top]
    cos_e = np.asarray(cos_e, dtype=np.float64)
    if strategy == "combination":
        score = combined_score(cos, cos_e, emotion_weight)
        order = by_semantic[np.argsort(-score[by_semantic], kind="stable")][:k]
        return order, score[order]
    # The pool re-ranked by emotion, then (when k > pool) the rest in semantic order.
    head, tail = by_semantic[:pool], by_semantic[pool:]
    order = np.concatenate([head[np.argsort(-cos_e[head], kind="stable")], tail])[:k]
    return order, cos_e[order]


def retrieve(indexes: Sequence[MemoryIndex], q_semantic: np.ndarray, q_emotion: np.ndarray | None,
             strategy: str, k: int, *, emotion_weight: float = 0.3, pool: int = 20) -> list[Ranked]:
    """The best ``k`` memories across several indexes (e.g. a character's own memories and one
    user's dialogue memories), scored exactly on the stored vectors."""
    check_strategy(strategy)
    if k <= 0:
        return []
    query = search_query(q_semantic, q_emotion, strategy, emotion_weight)
    q = np.asarray(q_semantic, dtype=np.float32).ravel()
    # Sequential needs the whole semantic pool; an approximate index gets a wider first stage.
    fetch = max(pool, k) if strategy == "sequential" else k
    sources, rows, cos, cos_e = [], [], [], []
    for i, index in enumerate(indexes):
        if not len(index):
            continue
        n = fetch if index.kind == "flat" else max(fetch, pool, 2 * k)
        _, found = index.search(query, n)
        sem, emo = index.vectors(found)
        sources += [i] * len(found)
        rows.append(found)
        cos.append(sem @ q)
        cos_e.append(emo @ np.asarray(q_emotion, np.float32) if q_emotion is not None else np.full(len(found), np.nan))
    if not rows:
        return []
    rows_all, cos_all, cos_e_all = np.concatenate(rows), np.concatenate(cos), np.concatenate(cos_e)
    order, scores = rank(cos_all, None if q_emotion is None else cos_e_all, strategy, k,
                         emotion_weight=emotion_weight, pool=pool)
    return [Ranked(source=sources[j], row=int(rows_all[j]), semantic=float(cos_all[j]),
                   emotion=float(cos_e_all[j]), score=float(s)) for j, s in zip(order, scores)]
