"""Strategy-planning metrics: accuracy, macro-F1 (= Kang et al.'s proficiency Q), weighted-F1,
and Kang et al.'s preference bias B (ACL 2024, "Can LLMs be Good Emotional Supporter?").

Preference bias, as in ``../shared/docs/methods.md`` and the authors' ``metrics.py``:

1. ``bt[i][j]`` = number of turns whose gold strategy is ``j`` and that were predicted as ``i``.
2. Start with ``p = 1`` for every strategy and repeat 20 times: for each ``i`` in order (an
   in-place, Gauss-Seidel sweep: later strategies see the updated earlier ones)
   ``p_i <- sum_{j!=i} bt[i][j] p_j/(p_i+p_j) / sum_{j!=i} bt[j][i]/(p_i+p_j)``,
   then divide every ``p`` by the geometric mean of the non-zero ``p``.
3. Scale so that ``sum p = 8`` (the number of strategies); ``B`` = population standard deviation
   of ``p``. The diagonal (correct predictions) does not enter; a planner that over-predicts one
   strategy gets a large ``p`` for it and a large ``B``.

Guards the reference code lacks (documented, they change no finite result): a pair with
``p_i + p_j = 0`` contributes nothing, and a strategy with no losses (denominator 0) keeps its
``p``.

>>> gold = ["Question", "Question", "Others", "Others"]
>>> pred = ["Question", "Others", "Others", "Others"]
>>> round(strategy_report(gold, pred, labels=("Question", "Others"))["accuracy"], 2)
0.75
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agent.planner.strategies import STRATEGIES

BT_ITERATIONS = 20


def confusion(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = STRATEGIES) -> np.ndarray:
    """``bt[i][j]`` = number of turns with gold ``labels[j]`` predicted as ``labels[i]``.

    Raises ``ValueError`` on unequal lengths or a label outside ``labels``.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length ({len(gold)} != {len(pred)})")
    index = {s: k for k, s in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred):
        if g not in index or p not in index:
            raise ValueError(f"label outside {list(labels)}: gold {g!r}, pred {p!r}")
        table[index[p], index[g]] += 1
    return table


def bradley_terry(bt: np.ndarray, iterations: int = BT_ITERATIONS) -> np.ndarray:
    """Preference ``p`` per strategy from ``bt[i][j]`` (pred i, gold j), scaled to sum to len(p).

    >>> p = bradley_terry(np.array([[0, 2], [1, 0]]))   # 2 golds "1" taken as "0", 1 the reverse
    >>> [round(float(x), 4) for x in p]                # p0/p1 = 2, sum 2
    [1.3333, 0.6667]
    """
    bt = np.asarray(bt, dtype=np.float64)
    if bt.ndim != 2 or bt.shape[0] != bt.shape[1]:
        raise ValueError(f"bt must be a square table, got shape {bt.shape}")
    n = bt.shape[0]
    p = np.ones(n)
    for _ in range(iterations):
        for i in range(n):
            wins = losses = 0.0
            for j in range(n):
                if j == i or p[i] + p[j] == 0:
                    continue
                wins += bt[i, j] * p[j] / (p[i] + p[j])
                losses += bt[j, i] / (p[i] + p[j])
            if losses > 0:
                p[i] = wins / losses
        positive = p[p > 0]
        if positive.size:
            p = p / np.exp(np.log(positive).mean())
    total = p.sum()
    return p * n / total if total > 0 else np.ones(n)


def preference_bias(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = STRATEGIES) -> tuple[float, dict[str, float]]:
    """``(B, {strategy: p})``: Kang et al.'s preference bias and the per-strategy preferences."""
    p = bradley_terry(confusion(gold, pred, labels))
    return float(np.std(p)), {s: float(v) for s, v in zip(labels, p)}


def strategy_report(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = STRATEGIES) -> dict:
    """Accuracy, macro-F1 (Q), weighted-F1, B, per-strategy F1 and preference; F1 on the 0-1
    scale (multiply by 100 for the published tables). Macro-F1 averages over every label in
    ``labels``, so a strategy never predicted and never gold counts as F1 0 only when gold has it."""
    from sklearn.metrics import accuracy_score, f1_score

    if not gold:
        raise ValueError("strategy_report needs at least one turn")
    table = confusion(gold, pred, labels)
    present = [s for k, s in enumerate(labels) if table[:, k].sum() > 0 or table[k, :].sum() > 0]
    b, p = preference_bias(gold, pred, labels)
    per_f1 = f1_score(gold, pred, labels=list(labels), average=None, zero_division=0)
    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(gold, pred, labels=present, average="weighted", zero_division=0)),
        "Q": float(f1_score(gold, pred, labels=present, average="macro", zero_division=0)),
        "B": b,
        "preference": p,
        "f1_per_strategy": {s: float(f) for s, f in zip(labels, per_f1)},
        "predicted_share": {s: float(table[k].sum() / len(gold)) for k, s in enumerate(labels)},
    }
