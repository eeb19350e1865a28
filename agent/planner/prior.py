"""The positional prior planner: ESConv train's strategy distribution at this point of a
conversation (by how many supporter turns came before), and nothing else.

It is the fallback of the LLM planner when no trained planner is at hand, and the "matching
stage-wise priors" baseline of the evaluation: it encodes Hill's stages as ESConv supporters
practise them (Questions early, Suggestions later) without reading the words.

>>> import numpy as np
>>> p = PriorPlanner(np.full((2, 8), 1 / 8, np.float32), np.array([0, 3]))
>>> p.plan([Utterance("user", "hi")]).source
'prior'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agent.planner.model import ARTEFACT_DIR, WEIGHTS, check_dialogue, check_forbidden, stage_from_distribution
from agent.planner.strategies import STRATEGIES
from agent.records import StrategyChoice, Utterance


class PriorPlanner:
    """``StrategyPlanner`` returning the positional prior (``table[bucket]``, bucket from ``edges``)."""

    source = "prior"

    def __init__(self, table: np.ndarray, edges: np.ndarray) -> None:
        if table.shape != (len(edges), len(STRATEGIES)):
            raise ValueError(f"prior table must be ({len(edges)}, {len(STRATEGIES)}), got {table.shape}")
        self.table = np.asarray(table, np.float64)
        self.edges = np.asarray(edges)

    @classmethod
    def load(cls, path=None) -> PriorPlanner:
        with np.load(path or ARTEFACT_DIR / WEIGHTS, allow_pickle=False) as data:
            return cls(data["stage_prior"], data["stage_prior_edges"])

    def distribution(self, n_supporter_turns: int) -> np.ndarray:
        bucket = int(np.searchsorted(self.edges, n_supporter_turns, side="right")) - 1
        return self.table[max(bucket, 0)].copy()

    def plan(self, dialogue: Sequence[Utterance], *, emotion: Any = None, cause: Any = None,
             encoding: Any = None, forbidden: Sequence[str] = (),
             previous_strategies: Sequence[str] | None = None) -> StrategyChoice:
        check_dialogue(dialogue)
        banned = check_forbidden(forbidden)
        n_sys = len(previous_strategies) if previous_strategies is not None else sum(u.role == "assistant" for u in dialogue)
        probs = self.distribution(n_sys)
        for s in banned:
            probs[STRATEGIES.index(s)] = 0.0
        probs /= probs.sum()
        return StrategyChoice(strategy=STRATEGIES[int(np.argmax(probs))], stage=stage_from_distribution(probs, n_sys),
                              distribution=tuple((s, round(float(p), 4)) for s, p in zip(STRATEGIES, probs)),
                              source=self.source)
