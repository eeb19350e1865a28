"""Strategy tagger: which of the eight strategies a supporter utterance *used*, read from its text.

The planner's strongest cue is the strategies of the previous supporter turns. The agent's own
turns carry them when the caller passes ``previous_strategies`` (the store keeps each turn's
``StrategyChoice``); when it does not (a dialogue imported from elsewhere, a first call), the
planner tags the assistant utterances with this linear model over their MiniLM vectors instead.
Trained on ESConv train by ``python -m agent.planner.train`` (weights in the planner artefact).

>>> import numpy as np
>>> t = StrategyTagger(np.zeros((384, 8), np.float32), np.eye(8, dtype=np.float32)[0])
>>> t.tag(np.zeros((2, 384), np.float32))
['Question', 'Question']
"""

from __future__ import annotations

import numpy as np

from agent.planner.strategies import STRATEGIES


class StrategyTagger:
    """Multinomial logistic regression: ``argmax(vectors @ weight + bias)``."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        if weight.shape[1] != len(STRATEGIES) or bias.shape != (len(STRATEGIES),):
            raise ValueError(f"tagger weights must map to {len(STRATEGIES)} strategies")
        self.weight = weight.astype(np.float32)
        self.bias = bias.astype(np.float32)

    def tag(self, vectors: np.ndarray) -> list[str]:
        """The strategy of each row of ``vectors`` ((n, 384) MiniLM vectors of supporter utterances)."""
        if len(vectors) == 0:
            return []
        scores = np.asarray(vectors, np.float32) @ self.weight + self.bias
        return [STRATEGIES[k] for k in scores.argmax(axis=1)]
