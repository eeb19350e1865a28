"""The crisis gate's fine-tuned model: copies of MiniLM's upper layers, fine-tuned to read risk,
over the lower-layer states that the shared turn encoder computes for every turn anyway.

It reads the current user turn *with the turns before it* (classes ``none`` + the four risk
categories): the last ``context_turns`` utterances and the current one are concatenated, each
token tagged with its speaker and how many turns back it is (``agent.perception.upper``), so that
"got 4 boxes, from different shops" after talk of ending it reads as risk and "I gut them on the
bank with his old knife" after talk of fishing does not. The gate's two logistic regressions read
the current turn alone; this model joins their mix in ``CrisisGate.model_probs``. Per turn it adds
the upper layers only (a few milliseconds; the lower states of earlier turns are in the encoder's
cache). The artefact is the fine-tuned layers and classifier in fp16
(``agent/artefacts/safety/tuned/``), built by ``python -m agent.safety.train``.

>>> model = TunedRiskModel.load()  # doctest: +SKIP
>>> turns = ["I've been saving my pills", "Why is that?", "tonight feels right"]
>>> probs = model.predict(SplitMiniLM.shared().lower(turns))  # doctest: +SKIP
>>> round(sum(probs.values()), 3)  # doctest: +SKIP
1.0
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.perception.upper import assemble, fine_tune, load_weights, probabilities, save_weights

TUNED_DIR = Path(__file__).resolve().parents[1] / "artefacts" / "safety" / "tuned"
TRAIN_COMMAND = "python -m agent.safety.train"
CONTEXT_TURNS = 4
"""Earlier utterances read with the current turn (two exchanges)."""
MAX_TOKENS = 192
"""Token budget of one reading; the oldest tokens go first, so the current turn is kept whole."""
EPOCHS = 6
"""Fine-tuning epochs (chosen over 4 by the training command's grouped cross-validation)."""

Dialogue = Sequence[np.ndarray]
"""Lower-layer states (tokens, 384) of each utterance, oldest first, ending with the current user turn."""


class TunedRiskModel:
    """Fine-tuned upper layers + classifier over a dialogue's lower states.

    ``context_turns`` = 0 reads the current turn alone (the artefacts built before the context was read).
    """

    def __init__(self, module, classes: Sequence[str], context_turns: int = CONTEXT_TURNS,
                 max_tokens: int = MAX_TOKENS) -> None:
        self.module = module.eval()
        self.classes = tuple(classes)
        self.context_turns = int(context_turns)
        self.max_tokens = int(max_tokens)

    @classmethod
    def load(cls, folder: str | Path = TUNED_DIR) -> TunedRiskModel:
        folder = Path(folder)
        weights, config = folder / "model.safetensors", folder / "config.json"
        if not weights.exists() or not config.exists():
            raise FileNotFoundError(f"no fine-tuned safety model in {folder}; run `{TRAIN_COMMAND}`")
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
            classes = meta["classes"]
            return cls(load_weights(weights, len(classes)), classes, context_turns=meta.get("context_turns", 0),
                       max_tokens=meta.get("max_tokens", 128))
        except Exception as exc:
            raise ValueError(f"fine-tuned safety model in {folder} is unreadable ({exc}); "
                             f"rebuild it with `{TRAIN_COMMAND}`") from exc

    def save(self, folder: str | Path = TUNED_DIR, **meta) -> None:
        folder = Path(folder)
        save_weights(self.module, folder / "model.safetensors")
        config = {"classes": list(self.classes), "context_turns": self.context_turns,
                  "max_tokens": self.max_tokens, **meta}
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    def reading(self, dialogue: Dialogue, roles: Sequence[int] | None = None):
        """The assembled input of one dialogue: its last ``context_turns`` utterances before the
        current one, and the current one. ``roles`` 0 = user, 1 = assistant (default: alternating
        back from the user's current turn)."""
        return dialogue_reading(dialogue, roles, self.context_turns, self.max_tokens)

    def predict_many(self, dialogues: Sequence[Dialogue], roles: Sequence[Sequence[int]] | None = None) -> np.ndarray:
        """(n, classes) probabilities, one dialogue (lower states per utterance) per row."""
        roles = roles if roles is not None else [None] * len(dialogues)
        return probabilities(self.module, [self.reading(d, r) for d, r in zip(dialogues, roles)])

    def predict(self, dialogue: Dialogue, roles: Sequence[int] | None = None) -> dict[str, float]:
        """Class probabilities of the dialogue's current (last) turn."""
        return dict(zip(self.classes, self.predict_many([dialogue], [roles])[0].tolist()))


def dialogue_reading(dialogue: Dialogue, roles: Sequence[int] | None, context_turns: int, max_tokens: int):
    """``assemble`` of the last ``context_turns`` + 1 utterances (see ``TunedRiskModel.reading``)."""
    if not len(dialogue):
        raise ValueError("a dialogue needs at least the current turn")
    if roles is None:
        roles = [(len(dialogue) - 1 - i) % 2 for i in range(len(dialogue))]
    keep = slice(max(0, len(dialogue) - 1 - context_turns), len(dialogue))
    return assemble(list(dialogue)[keep], list(roles)[keep], max_tokens=max_tokens)


def fit_tuned(dialogues: Sequence[Dialogue], labels: Sequence[int], weights: np.ndarray, classes: Sequence[str],
              *, context_turns: int = CONTEXT_TURNS, max_tokens: int = MAX_TOKENS, epochs: int = EPOCHS,
              lr: float = 2e-4, head_lr: float = 1e-3, batch_size: int = 32, seed: int = 13) -> TunedRiskModel:
    """Fine-tune MiniLM's upper layers and a classifier on dialogues (lower states per utterance,
    the current user turn last; roles alternate back from it), with per-example ``weights`` in
    the loss (the training command's class and hard-negative weighting), linear warm-up and decay."""
    import torch

    torch.manual_seed(seed)
    items = [dialogue_reading(d, None, context_turns, max_tokens) for d in dialogues]
    module = fine_tune(items, labels, len(classes), epochs=epochs, lr=lr, head_lr=head_lr, batch_size=batch_size,
                       weights=weights, rng=random.Random(seed))
    return TunedRiskModel(module, classes, context_turns, max_tokens)
