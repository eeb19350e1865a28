"""The emotion detector: what the user feels, as a distribution over the 32 ED emotions.

Design (small and CPU-fast): MiniLM's lower layers (1..``LOWER_LAYERS``, frozen, shared with
memory and the planner via ``SplitTurnEncoder``) encode each utterance once; fine-tuned copies of
MiniLM's upper layers attend across the recent utterances (role and turn-distance embeddings tell
them who spoke when) and a linear head reads the emotion from the mean of all tokens and of the
current turn's tokens (``agent.perception.upper``). Only the fine-tuned layers and head are stored
(fp16 safetensors).

The context is the dialogue so far, ending with the user's turn; when it is longer than
``upper.MAX_CONTEXT_TOKENS`` (128) the oldest tokens are dropped (the most recent ones are kept).

>>> detector = load_detector()  # doctest: +SKIP
>>> detector.detect([Utterance("user", "My dog died this morning.")]).label  # doctest: +SKIP
'sad'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.emotions import ED32, coarse
from agent.perception.upper import assemble, collate, load_weights
from agent.records import EmotionReading, Utterance

ARTEFACT_DIR = Path(__file__).resolve().parents[1] / "artefacts" / "detector"
TRAIN_COMMAND = "python -m agent.perception.train_detector --data-dir ../shared/data"

# Valence of each ED emotion in [-1, 1]: this project's own coarse table (sign from the emotion's
# family, strength by hand), used as the expectation under the detector's distribution.
VALENCE: dict[str, float] = {
    "afraid": -0.7, "angry": -0.8, "annoyed": -0.5, "anticipating": 0.4, "anxious": -0.6,
    "apprehensive": -0.4, "ashamed": -0.6, "caring": 0.6, "confident": 0.6, "content": 0.7,
    "devastated": -0.9, "disappointed": -0.6, "disgusted": -0.7, "embarrassed": -0.5,
    "excited": 0.8, "faithful": 0.5, "furious": -0.9, "grateful": 0.8, "guilty": -0.6,
    "hopeful": 0.5, "impressed": 0.6, "jealous": -0.5, "joyful": 0.9, "lonely": -0.7,
    "nostalgic": 0.1, "prepared": 0.3, "proud": 0.8, "sad": -0.8, "sentimental": 0.2,
    "surprised": 0.2, "terrified": -0.9, "trusting": 0.5,
}
ROLE_IDS = {"user": 0, "assistant": 1}


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("the emotion detector needs `pip install torch`") from exc
    return torch


class ArtefactError(RuntimeError):
    """A trained artefact is missing or unreadable; the message names the command that rebuilds it."""


def reading_from_probs(probs: np.ndarray, top_k: int = 3, labels: Sequence[str] = ED32) -> EmotionReading:
    """An ``EmotionReading`` from a probability vector over ``labels``."""
    order = np.argsort(-probs)
    k = max(1, min(int(top_k), len(labels)))
    best = labels[int(order[0])]
    valence = float(sum(probs[i] * VALENCE[labels[i]] for i in range(len(labels))))
    return EmotionReading(label=best, confidence=float(probs[order[0]]),
                          top_k=tuple((labels[int(i)], round(float(probs[i]), 4)) for i in order[:k]),
                          coarse=coarse(best), valence=max(-1.0, min(1.0, valence)))


class MiniLMEmotionDetector:
    """``EmotionDetector`` over the split MiniLM encoder and the fine-tuned top layers."""

    def __init__(self, artefact_dir: str | Path = ARTEFACT_DIR, encoder: Any = None,
                 threads: int | None = None) -> None:
        torch = _torch()
        artefact_dir = Path(artefact_dir)
        weights, meta = artefact_dir / "model.safetensors", artefact_dir / "config.json"
        if not weights.exists() or not meta.exists():
            raise ArtefactError(f"emotion detector artefact missing in {artefact_dir}; "
                                f"build it with `{TRAIN_COMMAND}`")
        try:
            self.config = json.loads(meta.read_text(encoding="utf-8"))
            self.labels = tuple(self.config["labels"])
            self.module = load_weights(weights, len(self.labels))
        except Exception as exc:
            raise ArtefactError(f"emotion detector artefact in {artefact_dir} is unreadable ({exc}); "
                                f"rebuild it with `{TRAIN_COMMAND}`") from exc
        self.module.eval()
        self.torch = torch
        if threads:
            torch.set_num_threads(threads)
        self._encoder = encoder

    @property
    def encoder(self):
        if self._encoder is None:
            from agent.perception.encoder import SplitTurnEncoder

            self._encoder = SplitTurnEncoder()
        return self._encoder

    def _context(self, dialogue: Sequence[Utterance], encoding: Any) -> tuple[list, list]:
        if not dialogue:
            raise ValueError("detect() needs a dialogue ending with the user's turn")
        if not dialogue[-1].text or not dialogue[-1].text.strip():
            raise ValueError("the current user turn is empty; there is no emotion to read")
        extra = getattr(encoding, "extra", None) or {}
        if "lower" in extra and "roles" in extra:
            states, roles = list(extra["lower"]), list(extra["roles"])
        else:
            enc = self.encoder.encode_turn(dialogue)
            states, roles = list(enc.extra["lower"]), list(enc.extra["roles"])
        keep = [i for i, s in enumerate(states) if len(s) > 2 or i == len(states) - 1]  # skip empty turns
        return [states[i] for i in keep], [ROLE_IDS.get(roles[i], 0) for i in keep]

    def probabilities(self, dialogue: Sequence[Utterance], *, encoding: Any = None) -> np.ndarray:
        """(32,) probabilities over ``self.labels`` for the current user turn in context."""
        states, roles = self._context(dialogue, encoding)
        batch = collate([assemble(states, roles)])
        with self.torch.inference_mode():
            logits = self.module(*batch)[0]
        return self.torch.softmax(logits.float(), -1).numpy()

    def detect(self, dialogue: Sequence[Utterance], *, encoding: Any = None, top_k: int = 3) -> EmotionReading:
        return reading_from_probs(self.probabilities(dialogue, encoding=encoding), top_k, self.labels)


def load_detector(artefact_dir: str | Path = ARTEFACT_DIR, **kwargs: Any) -> MiniLMEmotionDetector:
    """The trained detector; ``ArtefactError`` naming the training command if it is missing."""
    return MiniLMEmotionDetector(artefact_dir, **kwargs)
