"""The trained personality-conditioned transition (after PELD, Wen et al. 2021), run in numpy.

    dE     = 2 tanh(W2 relu(W1 [u1; u2] + b1) + b2)   change read from the two preceding utterances
    P      = g + G t,  t = temperament(traits)         personality gain (Mehrabian, then a 3x3 map)
    E_resp = clip(E_prev + dE (x) P, -1, 1)            the new state (element-wise product)
    label  = softmax(H [E_resp, dE, P, E_prev, -|E_resp - v_k|^2] + h - c |E_prev - v_k|^2)

u1 is the character's previous utterance (zeros at the first turn), u2 the user's current turn,
both MiniLM vectors; v_k are PELD's Ekman-7 VAD points. The classification head exists because
PELD's labels are mostly neutral and a pure nearest-point readout of a 3-D state rarely leaves
neutral; the nearest-point label is still reported by the evaluation. The last term, with a
scalar c >= 0 chosen on valid (``head.copy``), is a prior towards the previous emotion: in PELD
the same speaker keeps their emotion 42 % of the time, and the text signal is weak.

Weights live in ``agent/artefacts/transition/transition.npz`` (float32 arrays, no pickle), written
by ``python -m agent.transition --train``. NaN guard: if any output is not finite (a corrupted
artefact, a NaN input vector), ``TrainedTransition.read`` answers with the rule-based transition
instead, so a NaN is never stored.

>>> model = TrainedTransition.from_artefact()  # doctest: +SKIP
>>> model.step(VAD(), Traits(neuroticism=0.9), [Utterance("user", "I failed my exam.")])  # doctest: +SKIP
(VAD(valence=-0.31, ...), 'sadness')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.emotion_space import VAD_TABLE
from agent.emotions import EKMAN7
from agent.records import VAD, EmotionReading, Traits, Utterance
from agent.transition.reading import TransitionReading, TransitionSteps, finite, safe_prev
from agent.transition.reply import supportive_label
from agent.transition.rules import RuleBasedTransition
from agent.transition.temperament import as_traits, temperament

ARTEFACT_DIR = Path(__file__).resolve().parents[1] / "artefacts" / "transition"
WEIGHTS = ("text.w1", "text.b1", "text.w2", "text.b2", "gain.w", "gain.b", "head.w", "head.b")
EKMAN_POINTS = np.array([VAD_TABLE[e] for e in EKMAN7], dtype=np.float32)


class TransitionNet:
    """The forward pass above over numpy arrays (batched: one row per example)."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        missing = [k for k in WEIGHTS if k not in weights]
        if missing:
            raise ValueError(f"transition weights lack {missing}")
        self.w = {k: np.asarray(weights[k], dtype=np.float32) for k in WEIGHTS}
        # Optional (absent = 0): weight of the prior towards the previous emotion.
        self.copy = float(np.asarray(weights.get("head.copy", 0.0)).reshape(-1)[0])

    @property
    def text_dim(self) -> int:
        return self.w["text.w1"].shape[0] // 2

    def delta(self, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
        h = np.maximum(np.concatenate([u1, u2], axis=1) @ self.w["text.w1"] + self.w["text.b1"], 0.0)
        return 2.0 * np.tanh(h @ self.w["text.w2"] + self.w["text.b2"])

    def gain(self, temper: np.ndarray) -> np.ndarray:
        return self.w["gain.b"] + temper @ self.w["gain.w"]

    def forward(self, u1: np.ndarray, u2: np.ndarray, e_prev: np.ndarray,
                temper: np.ndarray) -> dict[str, np.ndarray]:
        """``delta``, ``gain``, ``vad`` (n, 3) and ``probs`` (n, 7, in EKMAN7 order)."""
        delta, gain = self.delta(u1, u2), self.gain(temper)
        vad = np.clip(e_prev + delta * gain, -1.0, 1.0)
        logits = head_features(vad, delta, gain, e_prev) @ self.w["head.w"] + self.w["head.b"]
        logits = logits - self.copy * squared_distances(e_prev)
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return {"delta": delta, "gain": gain, "vad": vad, "probs": probs / probs.sum(axis=1, keepdims=True)}


def squared_distances(points: np.ndarray) -> np.ndarray:
    """(n, 7): squared distance of each VAD point to each Ekman-7 point."""
    return ((points[:, None, :] - EKMAN_POINTS[None, :, :]) ** 2).sum(axis=2)


def head_features(vad: np.ndarray, delta: np.ndarray, gain: np.ndarray, e_prev: np.ndarray) -> np.ndarray:
    """[E_resp, dE, P, E_prev, -squared distance of E_resp to each Ekman point] (n, 19)."""
    return np.concatenate([vad, delta, gain, e_prev, -squared_distances(vad)], axis=1)


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


class TrainedTransition(TransitionSteps):
    """PELD-trained transition; ``user_emotion`` is used only by the rule-based NaN fallback."""

    kind = "trained"

    def __init__(self, weights: dict[str, np.ndarray], embedder: Any = None) -> None:
        self.net = TransitionNet(weights)
        self._embedder = embedder
        self.fallback = RuleBasedTransition()

    @classmethod
    def from_artefact(cls, path: str | Path | None = None, embedder: Any = None) -> TrainedTransition:
        path = Path(path) if path else ARTEFACT_DIR / "transition.npz"
        if not path.exists():
            raise FileNotFoundError(f"no trained transition at {path}; train it with "
                                    "`python -m agent.transition --train` or use kind='rules'")
        return cls(load_weights(path), embedder=embedder)

    @staticmethod
    def metrics(path: str | Path | None = None) -> dict[str, Any]:
        return json.loads(Path(path or ARTEFACT_DIR / "metrics.json").read_text(encoding="utf-8"))

    def read(self, prev: VAD, traits: Traits, dialogue: Sequence[Utterance], *,
             user_emotion: EmotionReading | None = None, encoding: Any = None) -> TransitionReading:
        traits = as_traits(traits)
        if not dialogue:
            raise ValueError("a transition step needs the dialogue, ending with the user's turn")
        e_prev = safe_prev(prev, self.baseline(traits))
        u1, u2 = self._context_vectors(dialogue, encoding)
        out = self.net.forward(u1[None], u2[None], np.array([e_prev.as_tuple()], dtype=np.float32),
                               np.array([temperament(traits)], dtype=np.float32))
        if not all(np.isfinite(v).all() for v in out.values()):
            # Documented NaN guard: never store a NaN; answer with the transparent rules instead.
            return self.fallback.read(e_prev, traits, dialogue, user_emotion=user_emotion)
        probs = out["probs"][0]
        order = np.argsort(-probs)
        label = EKMAN7[int(order[0])]
        vad = tuple(float(x) for x in out["vad"][0])
        assert finite(vad)  # type: ignore[arg-type]
        return TransitionReading(
            vad=VAD(*vad), label=label, reply_label=supportive_label(label),
            delta=tuple(float(x) for x in out["delta"][0]),  # type: ignore[arg-type]
            gain=tuple(float(x) for x in out["gain"][0]),  # type: ignore[arg-type]
            probabilities=tuple((EKMAN7[int(i)], round(float(probs[i]), 4)) for i in order),
            source="trained")

    def _context_vectors(self, dialogue: Sequence[Utterance], encoding: Any) -> tuple[np.ndarray, np.ndarray]:
        """(u1, u2): the character's previous utterance (zeros if none) and the user's current turn."""
        has_u1 = len(dialogue) >= 2 and dialogue[-2].role == "assistant"
        vectors = getattr(encoding, "utterances", None)
        if vectors is None or len(vectors) < (2 if has_u1 else 1):
            texts = [dialogue[-2].text, dialogue[-1].text] if has_u1 else [dialogue[-1].text]
            vectors = self._embed(texts)
        vectors = np.asarray(vectors, dtype=np.float32)
        u2 = vectors[-1]
        u1 = vectors[-2] if has_u1 else np.zeros_like(u2)
        if u2.shape != (self.net.text_dim,):
            raise ValueError(f"expected {self.net.text_dim}-d utterance vectors, got {u2.shape}")
        return u1, u2

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._embedder is None:
            from agent.perception.embedder import SentenceEmbedder

            self._embedder = SentenceEmbedder.shared()
        return self._embedder.encode(texts)
