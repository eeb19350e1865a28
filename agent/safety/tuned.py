"""The crisis gate's fine-tuned model: copies of MiniLM's upper layers, fine-tuned to read risk,
over the lower-layer states that the shared turn encoder computes for every turn anyway.

It reads the current user turn (classes ``none`` + the four risk categories), like the gate's
two logistic regressions, and joins their mix in ``CrisisGate.model_probs``. Where the regressions
see a frozen sentence vector or character n-grams, this model re-reads the turn's tokens with
layers trained on the gate's own data; in cross-validation it lifts recall at the same false-alarm
budget (``agent/artefacts/safety/metrics.json``). Per turn it adds the upper layers only (a few
milliseconds); the artefact is the fine-tuned layers and classifier in fp16
(``agent/artefacts/safety/tuned/``), built by ``python -m agent.safety.train``.

>>> model = TunedRiskModel.load()  # doctest: +SKIP
>>> probs = model.predict(SplitMiniLM.shared().lower(["I can't do this anymore"])[0])  # doctest: +SKIP
>>> round(sum(probs.values()), 3)  # doctest: +SKIP
1.0
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.perception.upper import (assemble, build_upper_head, collate, length_batches, load_weights,
                                    probabilities, save_weights, stock_upper_layers)

TUNED_DIR = Path(__file__).resolve().parents[1] / "artefacts" / "safety" / "tuned"
TRAIN_COMMAND = "python -m agent.safety.train"


class TunedRiskModel:
    def __init__(self, module, classes: Sequence[str]) -> None:
        self.module = module.eval()
        self.classes = tuple(classes)

    @classmethod
    def load(cls, folder: str | Path = TUNED_DIR) -> "TunedRiskModel":
        folder = Path(folder)
        weights, config = folder / "model.safetensors", folder / "config.json"
        if not weights.exists() or not config.exists():
            raise FileNotFoundError(f"no fine-tuned safety model in {folder}; run `{TRAIN_COMMAND}`")
        try:
            classes = json.loads(config.read_text(encoding="utf-8"))["classes"]
            return cls(load_weights(weights, len(classes)), classes)
        except Exception as exc:
            raise ValueError(f"fine-tuned safety model in {folder} is unreadable ({exc}); "
                             f"rebuild it with `{TRAIN_COMMAND}`") from exc

    def save(self, folder: str | Path = TUNED_DIR, **meta) -> None:
        folder = Path(folder)
        save_weights(self.module, folder / "model.safetensors")
        (folder / "config.json").write_text(json.dumps({"classes": list(self.classes), **meta}, indent=2) + "\n",
                                            encoding="utf-8")

    def predict_many(self, states: Sequence[np.ndarray]) -> np.ndarray:
        """(n, classes) probabilities, one lower-state array (tokens, 384) per turn."""
        return probabilities(self.module, [assemble([s], [0]) for s in states])

    def predict(self, lower: np.ndarray) -> dict[str, float]:
        """Class probabilities of one turn from its lower-layer states."""
        return dict(zip(self.classes, self.predict_many([lower])[0].tolist()))


def fit_tuned(states: Sequence[np.ndarray], labels: Sequence[int], weights: np.ndarray, classes: Sequence[str],
              *, epochs: int = 4, lr: float = 2e-4, head_lr: float = 1e-3, batch_size: int = 32,
              seed: int = 13) -> TunedRiskModel:
    """Fine-tune MiniLM's upper layers and a classifier on single turns (their lower ``states``),
    with per-example ``weights`` in the loss (the training command's class and hard-negative
    weighting), linear warm-up and decay."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    items = [assemble([s], [0]) for s in states]
    y, w = torch.tensor(np.asarray(labels)), torch.tensor(np.asarray(weights), dtype=torch.float32)
    module = build_upper_head(len(classes), upper_from=stock_upper_layers())
    head = [p for n, p in module.named_parameters() if not n.startswith("layers.")]
    opt = torch.optim.AdamW([{"params": module.layers.parameters(), "lr": lr},
                             {"params": head, "lr": head_lr}], weight_decay=0.01)
    n_steps = epochs * math.ceil(len(items) / batch_size)
    warm = max(1, n_steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, (step + 1) / warm) * max(0.0, (n_steps - step) / max(1, n_steps - warm)))
    lengths = [len(h) for h, _, _ in items]
    for _ in range(epochs):
        module.train()
        for idx in length_batches(len(items), lengths, batch_size, rng):
            loss = torch.nn.functional.cross_entropy(module(*collate([items[i] for i in idx])), y[idx],
                                                     reduction="none")
            loss = (loss * w[idx]).sum() / w[idx].sum()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            sched.step()
    return TunedRiskModel(module, classes)
