"""The crisis gate's second model: multinomial logistic regression over character n-gram TF-IDF
features of the current user turn (classes ``none`` + the four risk categories).

Why a second model: the MiniLM vector smooths over spelling ("kil myself", "sucide", "tonite")
and slang, while character n-grams (2-5 characters inside word boundaries) read them directly
and cost well under a millisecond, with no encoding. The gate averages the two models' class
probabilities (``agent.safety.train`` picks the mix by cross-validation).

Features, written out here so that inference needs neither pickle nor sklearn: the message is
``normalise``d (lower case, straight apostrophes), each word padded with one space on each side,
and every 2- to 5-character slice of a padded word is counted; counts become ``1 + log(tf)``,
are multiplied by the n-gram's idf and scaled to unit length.

>>> m = CharRiskModel(["ab", " a"], np.ones(2), np.zeros((2, 2)), np.array([0.0, 1.0]), ("none", "abuse"))
>>> sorted(char_ngrams("ab"))
[' a', ' ab', ' ab ', 'ab', 'ab ', 'b ']
>>> round(m.predict("ab")["abuse"], 3)
0.731
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.safety.signals import normalise

CHAR_ARTEFACT = Path(__file__).resolve().parents[1] / "artefacts" / "safety" / "char_model.npz"
NGRAM_RANGE = (2, 5)


def char_ngrams(text: str, ngram_range: tuple[int, int] = NGRAM_RANGE) -> list[str]:
    """Character n-grams within padded words of the normalised text (sklearn's ``char_wb``)."""
    lo, hi = ngram_range
    grams: list[str] = []
    for word in normalise(text).split():
        padded = f" {word} "
        for n in range(lo, hi + 1):
            if len(padded) < n:
                break
            grams += [padded[i:i + n] for i in range(len(padded) - n + 1)]
    return grams


class CharRiskModel:
    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: tuple[str, ...]) -> None:
        if coef.shape != (len(classes), len(vocabulary)) or idf.shape != (len(vocabulary),):
            raise ValueError(f"char model shapes coef {coef.shape}, idf {idf.shape} do not match "
                             f"{len(classes)} classes x {len(vocabulary)} n-grams")
        self.vocabulary = {g: i for i, g in enumerate(vocabulary)}
        self.idf = idf.astype(np.float32)
        self.coef = coef.astype(np.float32)
        self.intercept = intercept.astype(np.float32)
        self.classes = tuple(classes)

    @classmethod
    def load(cls, path: str | Path = CHAR_ARTEFACT) -> CharRiskModel:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no char n-gram safety model at {path}; run `python -m agent.safety.train`")
        with np.load(path, allow_pickle=False) as data:
            return cls([str(g) for g in data["vocabulary"]], data["idf"], data["coef"], data["intercept"],
                       tuple(str(c) for c in data["classes"]))

    def save(self, path: str | Path = CHAR_ARTEFACT) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        vocab = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        np.savez_compressed(path, vocabulary=np.array(vocab), idf=self.idf, coef=self.coef.astype(np.float16),
                            intercept=self.intercept, classes=np.array(self.classes))

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse TF-IDF row of one message: (column indices, unit-length values)."""
        counts = Counter(g for g in char_ngrams(text) if g in self.vocabulary)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        cols = np.array([self.vocabulary[g] for g in counts], dtype=np.int64)
        vals = np.array([1.0 + math.log(c) for c in counts.values()], dtype=np.float32) * self.idf[cols]
        return cols, vals / np.linalg.norm(vals)

    def predict(self, text: str) -> dict[str, float]:
        """Class probabilities for one message."""
        cols, vals = self.features(text)
        logits = self.coef[:, cols] @ vals + self.intercept
        p = np.exp(logits - logits.max())
        return dict(zip(self.classes, (p / p.sum()).tolist()))
