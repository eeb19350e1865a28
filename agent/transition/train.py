"""Train the personality-conditioned transition on PELD: ``python -m agent.transition --train``.

The torch module below mirrors ``model.TransitionNet`` exactly (the export checks that both give
the same probabilities). Loss: class-weighted cross-entropy of Emotion_3 (weights
(n / 7 n_k) ** power, because PELD is 43 % neutral) + ``lam`` x the squared distance between
E_resp and Emotion_3's VAD point, which keeps E_resp a meaningful emotion state rather than a
free latent. Full-batch AdamW, dropout on the utterance vectors, and U1 dropped (zeroed) for 10 %
of rows so the model also works at a conversation's first turn, where there is no U1.

Selection on PELD valid: the grid's best configuration and stopping step by macro-F1, then the
weight c of the prior towards the previous emotion (``model.py``) and a per-class bias on the
logits, tuned on valid by coordinate ascent (``calibrate``) -- the class-imbalance calibration
that macro-F1 needs. The bias is tuned on the split it is reported on,
so the valid figure is optimistic; ``metrics.json`` keeps the figure before the bias too, and the
held-out test split measures it cleanly.

    python -m agent.transition --train [--data-dir ../shared/data] [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from agent.emotions import EKMAN7
from agent.transition.model import ARTEFACT_DIR, EKMAN_POINTS, TransitionNet, squared_distances
from agent.transition.peld import PELDArrays, peld_arrays, read_peld
from agent.transition.temperament import temperament

GRID = {"hidden": [16], "power": [0.5, 0.7], "lam": [1.0], "weight_decay": [1e-2], "dropout": [0.3]}
QUICK_GRID = {"hidden": [16], "power": [0.5], "lam": [1.0], "weight_decay": [1e-2], "dropout": [0.3]}


def temperaments(traits: np.ndarray) -> np.ndarray:
    return np.array([temperament(tuple(float(x) for x in row)) for row in traits], dtype=np.float32)


def macro_weighted_f1(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    return (float(f1_score(y, pred, average="macro", labels=range(7), zero_division=0)),
            float(f1_score(y, pred, average="weighted", labels=range(7), zero_division=0)))


def tune_class_bias(log_probs: np.ndarray, y: np.ndarray, rounds: int = 3) -> np.ndarray:
    """A per-class additive bias on ``log_probs`` that maximises macro-F1 on (``log_probs``, ``y``),
    by coordinate ascent over a grid in [-2, 2] (keeps 0 on ties)."""
    bias, grid = np.zeros(log_probs.shape[1]), np.linspace(-2.0, 2.0, 41)
    best = macro_weighted_f1(y, log_probs.argmax(1))[0]
    for _ in range(rounds):
        for k in range(len(bias)):
            for value in grid:
                trial = bias.copy()
                trial[k] = value
                score = macro_weighted_f1(y, (log_probs + trial).argmax(1))[0]
                if score > best + 1e-9:
                    best, bias = score, trial
    return bias


def text_only_baseline(train: PELDArrays, valid: PELDArrays, test: PELDArrays) -> tuple[np.ndarray, dict]:
    """Baseline (a): logistic regression on the MiniLM vectors of U1 and U2 (no personality, no
    previous emotion), with the model's class weights; C and a per-class logit bias chosen on
    ``valid`` as for the model. Returns its predictions on ``test`` and the chosen settings."""
    from sklearn.linear_model import LogisticRegression

    x = lambda a: np.hstack([a.u1, a.u2])  # noqa: E731
    counts = np.bincount(train.target, minlength=7)
    weights = dict(enumerate((counts.sum() / (7 * np.maximum(counts, 1))) ** 0.5))
    best = None
    for c in (0.3, 1.0, 3.0):
        model = LogisticRegression(C=c, max_iter=2000, class_weight=weights).fit(x(train), train.target)
        log_probs = model.predict_log_proba(x(valid))
        bias = tune_class_bias(log_probs, valid.target)
        score = macro_weighted_f1(valid.target, (log_probs + bias).argmax(1))[0]
        if best is None or score > best[0]:
            best = (score, model, bias, c)
    _, model, bias, c = best
    return (model.predict_log_proba(x(test)) + bias).argmax(1), {"C": c, "bias": bias.round(2).tolist()}


COPY_GRID = (0.0, 0.5, 1.0, 2.0, 4.0)


def calibrate(log_probs: np.ndarray, e_prev: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, float]:
    """(c, bias, macro-F1): the previous-emotion prior weight c from ``COPY_GRID`` and the
    per-class bias that maximise macro-F1 of ``log_probs - c |E_prev - v_k|^2 + bias``."""
    from agent.transition.model import squared_distances

    dist, best = squared_distances(e_prev), None
    for copy in COPY_GRID:
        scores = log_probs - copy * dist
        bias = tune_class_bias(scores, y)
        macro = macro_weighted_f1(y, (scores + bias).argmax(1))[0]
        if best is None or macro > best[2] + 1e-9:
            best = (copy, bias, macro)
    return best  # type: ignore[return-value]


class _TorchTransition:
    """The same forward pass as ``TransitionNet``, in torch, for training."""

    def __init__(self, dim: int, hidden: int, seed: int):
        import torch

        torch.manual_seed(seed)
        self.torch = torch
        self.l1 = torch.nn.Linear(2 * dim, hidden)
        self.l2 = torch.nn.Linear(hidden, 3)
        self.gain_w = torch.nn.Parameter(torch.zeros(3, 3))
        self.gain_b = torch.nn.Parameter(torch.ones(3))
        self.head = torch.nn.Linear(19, 7)
        self.points = torch.tensor(EKMAN_POINTS)

    def parameters(self):
        return [*self.l1.parameters(), *self.l2.parameters(), self.gain_w, self.gain_b,
                *self.head.parameters()]

    def __call__(self, d: dict, dropout: float = 0.0, u1_drop: float = 0.0):
        torch = self.torch
        u1 = d["u1"]
        if u1_drop:
            u1 = u1 * (torch.rand(len(u1), 1) >= u1_drop).float()
        x = torch.cat([u1, d["u2"]], dim=1)
        if dropout:
            x = torch.nn.functional.dropout(x, dropout)
        delta = 2.0 * torch.tanh(self.l2(torch.relu(self.l1(x))))
        gain = self.gain_b + d["t"] @ self.gain_w
        vad = torch.clamp(d["e_prev"] + delta * gain, -1.0, 1.0)
        dist = ((vad[:, None, :] - self.points[None]) ** 2).sum(2)
        feats = torch.cat([vad, delta, gain, d["e_prev"], -dist], dim=1)
        return vad, self.head(feats)

    def export(self) -> dict[str, np.ndarray]:
        det = lambda t: t.detach().numpy().astype(np.float32).copy()  # noqa: E731
        return {"text.w1": det(self.l1.weight).T.copy(), "text.b1": det(self.l1.bias),
                "text.w2": det(self.l2.weight).T.copy(), "text.b2": det(self.l2.bias),
                "gain.w": det(self.gain_w), "gain.b": det(self.gain_b),
                "head.w": det(self.head.weight).T.copy(), "head.b": det(self.head.bias)}


def _tensors(a: PELDArrays, ablate: str | None = None) -> dict:
    import torch

    t = temperaments(a.traits)
    e_prev = a.e_prev.copy()
    if ablate == "personality":
        t = np.zeros_like(t)        # P = g: the same gain for every character
    if ablate == "previous":
        e_prev = np.zeros_like(e_prev)
    return {"u1": torch.tensor(a.u1), "u2": torch.tensor(a.u2), "e_prev": torch.tensor(e_prev),
            "t": torch.tensor(t), "y": torch.tensor(a.target).long(),
            "y_vad": torch.tensor(a.target_vad)}


def fit(train: PELDArrays, valid: PELDArrays, *, hidden: int, power: float, lam: float,
        weight_decay: float, dropout: float, seed: int, steps: int = 300, lr: float = 1e-2,
        ablate: str | None = None) -> dict:
    """Train one configuration; keep the step with the best valid macro-F1."""
    import torch

    d_tr, d_va = _tensors(train, ablate), _tensors(valid, ablate)
    net = _TorchTransition(train.u1.shape[1], hidden, seed)
    counts = np.bincount(train.target, minlength=7).astype(np.float64)
    weight = torch.tensor((counts.sum() / (7 * np.maximum(counts, 1))) ** power, dtype=torch.float32)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    best = {"macro_f1": -1.0}
    for step in range(1, steps + 1):
        vad, logits = net(d_tr, dropout=dropout, u1_drop=0.1)
        loss = (torch.nn.functional.cross_entropy(logits, d_tr["y"], weight=weight)
                + lam * ((vad - d_tr["y_vad"]) ** 2).sum(1).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            with torch.no_grad():
                _, logits = net(d_va)
            macro, weighted = macro_weighted_f1(valid.target, logits.argmax(1).numpy())
            if macro > best["macro_f1"]:
                best = {"macro_f1": macro, "weighted_f1": weighted, "step": step, "weights": net.export(),
                        "probs": torch.softmax(logits, dim=1).numpy()}
    return best


def predict(weights: dict[str, np.ndarray], a: PELDArrays, ablate: str | None = None) -> dict[str, np.ndarray]:
    t = temperaments(a.traits)
    e_prev = a.e_prev
    if ablate == "personality":
        t = np.zeros_like(t)
    if ablate == "previous":
        e_prev = np.zeros_like(e_prev)
    return TransitionNet(weights).forward(a.u1, a.u2, e_prev, t)


def train(data_dir: str | Path, seed: int = 0, out_dir: Path = ARTEFACT_DIR, quick: bool = False,
          cache_dir: str = ".cache/embeddings") -> dict:
    import torch

    torch.set_num_threads(1)  # a shared 2-core machine
    t0 = time.time()
    train_a = peld_arrays(read_peld(data_dir, "train"), cache_dir)
    valid_a = peld_arrays(read_peld(data_dir, "valid"), cache_dir)
    grid = QUICK_GRID if quick else GRID
    runs = []
    for values in itertools.product(*grid.values()):
        cfg = dict(zip(grid, values))
        result = fit(train_a, valid_a, seed=seed, **cfg)
        runs.append({**cfg, "step": result["step"], "macro_f1": round(result["macro_f1"], 4),
                     "weighted_f1": round(result["weighted_f1"], 4), "_weights": result["weights"],
                     "_probs": result["probs"]})
        print(f"{cfg} -> valid macro-F1 {result['macro_f1']:.4f} at step {result['step']}", file=sys.stderr)
    best = max(runs, key=lambda r: r["macro_f1"])
    weights, torch_probs = best.pop("_weights"), best.pop("_probs")
    for r in runs:
        r.pop("_weights", None), r.pop("_probs", None)
    cfg = {k: best[k] for k in grid}

    # Class-imbalance calibration: per-class logit bias tuned on valid for macro-F1.
    out = predict(weights, valid_a)
    # The numpy forward pass must agree with the torch one it was exported from.
    assert np.allclose(out["probs"], torch_probs, atol=1e-4), "numpy and torch forward passes differ"
    log_probs = np.log(out["probs"] + 1e-12)
    copy, bias, _ = calibrate(log_probs, valid_a.e_prev, valid_a.target)
    weights["head.b"] = (weights["head.b"] + bias).astype(np.float32)
    weights["head.copy"] = np.array([copy], dtype=np.float32)
    final = predict(weights, valid_a)
    macro, weighted = macro_weighted_f1(valid_a.target, final["probs"].argmax(1))
    nearest = np.argmin(((final["vad"][:, None] - EKMAN_POINTS[None]) ** 2).sum(2), axis=1)

    ablations = {}
    for ablate in ("personality", "previous"):
        r = fit(train_a, valid_a, seed=seed, ablate=ablate, **cfg)
        ablations[f"no_{ablate}"] = {"macro_f1_before_bias": round(r["macro_f1"], 4),
                                     "weighted_f1_before_bias": round(r["weighted_f1"], 4)}
        lp = np.log(predict(r["weights"], valid_a, ablate)["probs"] + 1e-12)
        e_prev = np.zeros_like(valid_a.e_prev) if ablate == "previous" else valid_a.e_prev
        c, b, _ = calibrate(lp, e_prev, valid_a.target)
        m, w = macro_weighted_f1(valid_a.target, (lp - c * squared_distances(e_prev) + b).argmax(1))
        ablations[f"no_{ablate}"].update({"macro_f1": round(m, 4), "weighted_f1": round(w, 4)})

    text_pred, text_cfg = text_only_baseline(train_a, valid_a, valid_a)
    baselines = {"previous_emotion": dict(zip(("macro_f1", "weighted_f1"), (
                     round(x, 4) for x in macro_weighted_f1(valid_a.target, valid_a.prev_label)))),
                 "text_only": {**dict(zip(("macro_f1", "weighted_f1"), (
                     round(x, 4) for x in macro_weighted_f1(valid_a.target, text_pred)))), **text_cfg}}

    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / "transition.npz", **weights)
    metrics = {
        "model": "E_resp = E_prev + dE(u1,u2) * (g + G temperament(traits)); linear Ekman-7 head + prior to E_prev",
        "command": "python -m agent.transition --train" + (" --quick" if quick else "") + f" --seed {seed}",
        "seed": seed, "train_split": "peld/Dyadic_PELD_train.tsv", "selection_split": "peld/Dyadic_PELD_valid.tsv",
        "n_train": len(train_a.target), "n_valid": len(valid_a.target),
        "config": cfg, "stopping_step": best["step"], "grid": runs,
        "class_bias": [round(float(x), 3) for x in bias], "previous_emotion_prior": copy,
        "labels": list(EKMAN7),
        "valid": {"macro_f1": round(macro, 4), "weighted_f1": round(weighted, 4),
                  "macro_f1_before_bias": best["macro_f1"], "weighted_f1_before_bias": best["weighted_f1"],
                  "nearest_point_macro_f1": round(macro_weighted_f1(valid_a.target, nearest)[0], 4),
                  "nearest_point_weighted_f1": round(macro_weighted_f1(valid_a.target, nearest)[1], 4)},
        "baselines_valid": baselines,
        "ablations_valid": ablations,
        "gain": {"g": [round(float(x), 4) for x in weights["gain.b"]],
                 "G": [[round(float(x), 4) for x in row] for row in weights["gain.w"]]},
        "machine": "2-core CPU, torch threads 1", "train_seconds": round(time.time() - t0, 1),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.transition",
                                     description="Train the PELD transition model.")
    parser.add_argument("--train", action="store_true", help="train and write the artefact")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="one configuration only")
    parser.add_argument("--out-dir", type=Path, default=ARTEFACT_DIR)
    args = parser.parse_args(argv)
    if not args.train:
        parser.print_help()
        return 2
    metrics = train(args.data_dir, seed=args.seed, out_dir=args.out_dir, quick=args.quick)
    print(json.dumps({k: metrics[k] for k in ("config", "valid", "baselines_valid", "ablations_valid")},
                     indent=2))
    return 0
