"""Kang et al.'s preference bias and the F1 figures, on hand-checked tables."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from agent.planner.strategies import STRATEGIES
from eval.strategy_metrics import bradley_terry, confusion, preference_bias, strategy_report


def reference_bt(bt: list[list[int]], n_iter: int = 20) -> list[float]:
    """A literal transcription of the procedure in methods.md (plain Python lists)."""
    k = len(bt)
    p = [1.0] * k
    for _ in range(n_iter):
        for i in range(k):
            num = sum(bt[i][j] * p[j] / (p[i] + p[j]) for j in range(k) if j != i)
            den = sum(bt[j][i] / (p[i] + p[j]) for j in range(k) if j != i)
            p[i] = num / den
        nonzero = [x for x in p if x > 0]
        gm = math.prod(nonzero) ** (1 / len(nonzero))
        p = [x / gm for x in p]
    total = sum(p)
    return [x * k / total for x in p]


def test_two_strategies_by_hand():
    # Gold "B" taken as "A" twice, gold "A" taken as "B" once. BT fixed point: p_A / p_B = 2,
    # scaled to sum 2: (4/3, 2/3); B = std = 1/3.
    bt = np.array([[5, 2], [1, 7]])  # the diagonal (correct turns) must not matter
    p = bradley_terry(bt)
    assert p == pytest.approx([4 / 3, 2 / 3], abs=1e-6)
    b, prefs = preference_bias(["A"] * 6 + ["B"] * 9, ["A"] * 5 + ["B"] + ["A"] * 2 + ["B"] * 7, labels=("A", "B"))
    assert b == pytest.approx(1 / 3, abs=1e-6)
    assert prefs["A"] == pytest.approx(4 / 3, abs=1e-6)


def test_first_sweep_by_hand():
    # One sweep from p = (1, 1): p_A = (2 * 1/2) / (1/2) = 2; then p_B = (1 * 2/3) / (2/3) = 1.
    # Geometric mean sqrt(2): (sqrt 2, 1/sqrt 2), scaled to sum 2: (4/3, 2/3) already.
    assert bradley_terry(np.array([[0, 2], [1, 0]]), iterations=1) == pytest.approx([4 / 3, 2 / 3])


def test_matches_literal_transcription_on_random_tables():
    rng = random.Random(0)
    for _ in range(5):
        bt = [[rng.randint(1, 30) for _ in range(8)] for _ in range(8)]
        assert bradley_terry(np.array(bt)) == pytest.approx(reference_bt(bt), rel=1e-9)


def test_perfect_planner_has_no_bias_and_one_strategy_planner_has_the_most():
    gold = list(STRATEGIES) * 3
    assert preference_bias(gold, gold)[0] == pytest.approx(0.0)
    # Always "Question": it never loses, the others never win -> p = (8, 0, ..., 0), B = sqrt(7).
    b, p = preference_bias(gold, ["Question"] * len(gold))
    assert p["Question"] == pytest.approx(8.0)
    assert b == pytest.approx(math.sqrt(7))


def test_confusion_orientation_and_errors():
    table = confusion(["Question", "Others"], ["Others", "Others"])
    assert table[STRATEGIES.index("Others"), STRATEGIES.index("Question")] == 1  # bt[pred][gold]
    with pytest.raises(ValueError):
        confusion(["Question"], [])
    with pytest.raises(ValueError):
        confusion(["Question"], ["Advice"])
    with pytest.raises(ValueError):
        strategy_report([], [])


def test_report_f1_by_hand():
    gold = ["Question", "Question", "Others", "Others"]
    pred = ["Question", "Others", "Others", "Others"]
    r = strategy_report(gold, pred, labels=("Question", "Others"))
    # Question: P 1, R 1/2 -> F1 2/3; Others: P 2/3, R 1 -> F1 4/5.
    assert r["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert r["weighted_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)  # equal supports
    assert r["Q"] == r["macro_f1"]
    assert r["accuracy"] == pytest.approx(0.75)
