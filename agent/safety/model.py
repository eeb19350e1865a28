"""The crisis gate's small model: multinomial logistic regression over the MiniLM vector of the
current user turn, with classes ``none`` + the four risk categories.

It complements the rules on phrasings no pattern anticipates. The weights (5 x 384 floats) ship
as ``agent/artefacts/safety/risk_model.npz``; ``python -m agent.safety.train`` rebuilds them.

>>> import numpy as np
>>> m = RiskModel(np.zeros((2, 3)), np.array([0.0, 1.0]), ("none", "abuse"))
>>> round(m.predict(np.zeros(3))["abuse"], 3)
0.731
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ARTEFACT = Path(__file__).resolve().parents[1] / "artefacts" / "safety" / "risk_model.npz"
FUSION = ARTEFACT.parent / "fusion.json"
"""The gate's model threshold and MiniLM/n-gram mix, chosen by cross-validation in ``train.py``."""


class RiskModel:
    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: tuple[str, ...]) -> None:
        if coef.shape[0] != len(classes) or intercept.shape[0] != len(classes):
            raise ValueError(f"model shapes {coef.shape}/{intercept.shape} do not match {len(classes)} classes")
        self.coef = coef.astype(np.float32)
        self.intercept = intercept.astype(np.float32)
        self.classes = tuple(classes)

    @classmethod
    def load(cls, path: str | Path = ARTEFACT) -> RiskModel:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no safety model at {path}; run `python -m agent.safety.train`")
        with np.load(path, allow_pickle=False) as data:
            return cls(data["coef"], data["intercept"], tuple(str(c) for c in data["classes"]))

    def save(self, path: str | Path = ARTEFACT) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, coef=self.coef, intercept=self.intercept, classes=np.array(self.classes))

    def predict(self, vector: np.ndarray) -> dict[str, float]:
        """Class probabilities for one (dim,) vector."""
        return dict(zip(self.classes, self.predict_many(vector[None, :])[0].tolist()))

    def predict_many(self, vectors: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities (softmax over the linear scores)."""
        if vectors.ndim != 2 or vectors.shape[1] != self.coef.shape[1]:
            raise ValueError(f"expected (n, {self.coef.shape[1]}) vectors, got {vectors.shape}")
        logits = vectors.astype(np.float32) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def risk(self, vector: np.ndarray) -> tuple[float, str]:
        """P(any risk) = 1 - P(none), and the most likely risk category."""
        probs = self.predict(vector)
        category = max((c for c in self.classes if c != "none"), key=probs.__getitem__)
        return 1.0 - probs.get("none", 0.0), category
