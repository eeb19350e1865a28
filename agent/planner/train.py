"""Train the strategy planner on ESConv train and write the artefact; ESConv valid only scores it.

    python -m agent.planner.train [--data-dir ../shared/data] [--seed 13] [--out agent/artefacts/planner]

Steps: embed every utterance once (MiniLM, cached in ``.cache/embeddings``); fit the strategy
tagger (logistic regression, supporter utterance -> strategy); build one feature vector per
supporter turn with the gold history (``agent.planner.features``) and its three n-gram fields
(``agent.planner.ngrams``). Then, on ``--folds`` dialogue-level folds of train, train the two
readers on the other folds and predict the held-out one: an ensemble of ``--ensemble``
one-hidden-layer MLPs from consecutive seeds (torch, CPU, each keeping its best epoch on the
held-out fold) and the n-gram logistic regression. On these out-of-fold predictions choose the
n-gram mixing weight and fit the decoding: per-strategy calibration offsets (bias control:
macro-F1 with a penalty on the preference bias B), the recency penalty and the temperature. Last,
train both readers on all of train (the MLPs for the median of the folds' best epochs) and score
the planner on valid, which no choice has seen. Writes ``planner.npz`` (numpy arrays, no pickle)
and ``metrics.json`` (seed, command, splits, figures).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from agent.planner.data import esconv_path, esconv_turns, examples_from_dialogue, read_dialogues
from agent.planner.features import (
    CONTEXT_FEATURES,
    FEATURE_DIM,
    FEATURE_VERSION,
    SLOTS,
    planner_features,
)
from agent.planner.model import ARTEFACT_DIR, WEIGHTS, mlp_logits, softmax
from agent.planner.ngrams import fit_ngram_reader, ngram_fields
from agent.planner.strategies import STRATEGIES

BIAS_WEIGHT = 0.02
"""Weight of B against macro-F1 when the calibration offsets are fitted."""
NGRAM_MIX_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
"""Weights of the n-gram reader's log-probabilities tried on the out-of-fold predictions."""
RECENCY_GRID = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
TEMPERATURE_GRID = tuple(np.round(np.arange(0.5, 3.01, 0.1), 2))
HIDDEN, DROPOUT, LEARNING_RATE, WEIGHT_DECAY = 256, 0.5, 1e-4, 0.1
NGRAM_C, NGRAM_MIN_DF = 0.5, 2
STAGE_PRIOR_EDGES = (0, 1, 3, 6, 10, 15)
"""Supporter-turn index buckets of the positional strategy prior: [0], [1,2], [3..5], ... [15+)."""


def split_arrays(data_dir: Path, split: str, tagger=None) -> dict:
    """Feature matrix, labels and histories of every supporter turn of ``split``.

    With ``tagger``, the strategy history is the tagger's reading of the assistant utterances
    (as at inference without a store) instead of the gold one.
    """
    from agent.perception.embedder import encode_cached

    records = list(read_dialogues(esconv_path(data_dir, split)))
    turns = [esconv_turns(record, f"dialogue {d}") for d, record in enumerate(records)]
    texts = [t.text for ts in turns for t in ts]
    vectors = encode_cached(texts)
    xs, ys, prev_last, n_sys, dialogue_ids, fields = [], [], [], [], [], []
    offset = 0
    for d, record in enumerate(records):
        vec = vectors[offset: offset + len(record["dialog"])]
        tagged = None
        if tagger is not None:
            rows = [k for k, t in enumerate(turns[d]) if t.role == "assistant"]
            tagged = dict(zip(rows, tagger.tag(vec[rows]))) if rows else {}
        for ex in examples_from_dialogue(record, d):
            t = ex.turn_index
            lo = max(0, t - SLOTS)
            history = list(ex.previous_strategies)
            if tagged is not None:
                history = [tagged[k] for k in range(t) if k in tagged]
            xs.append(planner_features(vec[lo:t], [u.role for u in ex.context[lo:t]], history,
                                       ex.emotion, n_utterances=t))
            fields.append(ngram_fields(ex.context))
            ys.append(STRATEGIES.index(ex.strategy))
            dialogue_ids.append(d)
            prev_last.append(history[-2:])
            n_sys.append(len(history))
        offset += len(record["dialog"])
    # One example per supporter utterance, in file order: the tagger's rows and labels.
    sys_rows = [i for i, t in enumerate(t for ts in turns for t in ts) if t.role == "assistant"]
    return {"X": np.stack(xs), "y": np.array(ys), "prev": prev_last, "n_sys": np.array(n_sys), "dialogue": np.array(dialogue_ids),
            "fields": fields, "sys_vectors": vectors[sys_rows], "sys_labels": np.array(ys)}


def turn_subset(arrays: dict, rows: np.ndarray) -> dict:
    """The turns ``rows`` of ``split_arrays``' output, as the readers train on them (features,
    labels, n-gram fields)."""
    return {"X": arrays["X"][rows], "y": arrays["y"][rows], "fields": [arrays["fields"][i] for i in rows]}


def fit_tagger(train: dict, valid: dict, seed: int, c: float = 4.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """Logistic regression, supporter utterance vector -> strategy (C=4 was best of 1/4/16 on valid)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    lr = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    lr.fit(train["sys_vectors"], train["sys_labels"])
    pred = lr.predict(valid["sys_vectors"])
    score = {"C": c, "accuracy": float(accuracy_score(valid["sys_labels"], pred)),
             "macro_f1": float(f1_score(valid["sys_labels"], pred, average="macro"))}
    print(f"tagger: {score}", flush=True)
    return lr.coef_.T.astype(np.float32), lr.intercept_.astype(np.float32), score


def train_mlp(train: dict, held_out: dict | None, hidden: int, dropout: float, seed: int, epochs: int = 10):
    """``(weights, score, epoch)``: with ``held_out``, the weights of the epoch with the best
    macro-F1 on it (at prior correction 0.5); without, those after ``epochs`` epochs (score nan).

    Frozen-MiniLM features overfit within a few epochs, hence the small learning rate, the
    dropout on the input and the short schedule."""
    import torch
    from sklearn.metrics import f1_score

    torch.manual_seed(seed)
    mu = train["X"].mean(0)
    sigma = train["X"].std(0) + 1e-3  # constant features (rare one-hots) stay near zero
    xt = torch.tensor((train["X"] - mu) / sigma, dtype=torch.float32)
    yt = torch.tensor(train["y"])
    log_prior = np.log(np.bincount(train["y"], minlength=8) / len(train["y"]))
    net = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(FEATURE_DIM, hidden), torch.nn.ReLU(),
                              torch.nn.Dropout(dropout), torch.nn.Linear(hidden, len(STRATEGIES)))
    opt = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    gen = torch.Generator().manual_seed(seed)
    best = (-1.0, None, 0)
    for epoch in range(epochs):
        net.train()
        for idx in torch.randperm(len(xt), generator=gen).split(128):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        if held_out is None:
            score = float("nan")
        else:
            net.eval()
            with torch.no_grad():
                logits = net(torch.tensor((held_out["X"] - mu) / sigma, dtype=torch.float32)).numpy()
            score = f1_score(held_out["y"], (logits.astype(np.float64) - 0.5 * log_prior).argmax(1), average="macro")
        if held_out is None or score > best[0]:
            state = {k: v.detach().clone().numpy() for k, v in net.state_dict().items()}
            best = (score, state, epoch + 1)
    score, state, epoch = best
    params = {"mu": mu.astype(np.float32), "sigma": sigma.astype(np.float32),
              "w1": state["1.weight"].T.copy(), "b1": state["1.bias"],
              "w2": state["4.weight"].T.copy(), "b2": state["4.bias"]}
    return params, score, epoch


def stack_members(members: list) -> dict[str, np.ndarray]:
    """One ensemble's arrays from ``train_mlp`` results (trained on the same turns, so one mu/sigma)."""
    params = {k: members[0][0][k] for k in ("mu", "sigma")}
    params.update({k: np.stack([m[0][k] for m in members]) for k in ("w1", "b1", "w2", "b2")})
    return params


def out_of_fold(train: dict, folds: int, ensemble: int, seed: int, epochs: int, c: float,
                min_df: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Each train turn's MLP-ensemble logits and n-gram log-probabilities from readers trained
    without its dialogue's fold (folds: dialogue index modulo ``folds``), and the members' best
    epochs on their held-out folds."""
    fold_of = train["dialogue"] % folds
    mlp = np.zeros((len(train["y"]), len(STRATEGIES)))
    ngram = np.zeros_like(mlp)
    best_epochs: list[int] = []
    for f in range(folds):
        t0 = time.time()
        rest, held = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        part, out = turn_subset(train, rest), turn_subset(train, held)
        members = [train_mlp(part, out, HIDDEN, DROPOUT, seed + k, epochs) for k in range(ensemble)]
        mlp[held] = mlp_logits(stack_members(members), out["X"])
        best_epochs += [m[2] for m in members]
        reader = fit_ngram_reader(part["fields"], part["X"][:, CONTEXT_FEATURES], part["y"], c=c, min_df=min_df)
        ngram[held] = reader.batch_log_probs(out["fields"], out["X"][:, CONTEXT_FEATURES])
        print(f"fold {f + 1}/{folds}: {len(held)} turns, best epochs {[m[2] for m in members]} ({time.time() - t0:.0f}s)",
              flush=True)
    return mlp, ngram, best_epochs


def calibration_objective(y: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 minus BIAS_WEIGHT x preference bias B: the bias control's target."""
    from sklearn.metrics import f1_score

    from eval.strategy_metrics import bradley_terry

    table = np.zeros((8, 8))
    np.add.at(table, (pred, y), 1)
    return f1_score(y, pred, average="macro", labels=range(8)) - BIAS_WEIGHT * float(np.std(bradley_terry(table)))


def fit_offsets(logits: np.ndarray, y: np.ndarray, log_prior: np.ndarray, sweeps: int = 2) -> np.ndarray:
    """Per-strategy logit offsets by coordinate ascent on ``calibration_objective``, starting
    from the prior correction ``-0.5 log prior`` (steps of 0.1 within +-1.5 of it)."""
    start = -0.5 * log_prior
    offsets = start.copy()
    best = calibration_objective(y, (logits + offsets).argmax(1))
    for _ in range(sweeps):
        for k in range(len(offsets)):
            for delta in np.arange(-1.5, 1.51, 0.1):
                trial = offsets.copy()
                trial[k] = start[k] + delta
                score = calibration_objective(y, (logits + trial).argmax(1))
                if score > best + 1e-9:
                    best, offsets = score, trial
    return offsets


def stage_prior(train: dict) -> np.ndarray:
    """Strategy distribution of ESConv train per supporter-turn bucket (Laplace-smoothed)."""
    edges = np.array(STAGE_PRIOR_EDGES)
    table = np.ones((len(edges), len(STRATEGIES)))
    buckets = np.searchsorted(edges, train["n_sys"], side="right") - 1
    for b, y in zip(buckets, train["y"]):
        table[b, y] += 1
    return (table / table.sum(1, keepdims=True)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=ARTEFACT_DIR)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10, help="most epochs an MLP trains on a fold")
    parser.add_argument("--ensemble", type=int, default=5, help="MLPs trained from seeds seed, seed+1, ...; logits averaged")
    parser.add_argument("--folds", type=int, default=5, help="dialogue-level folds of train for the out-of-fold predictions")
    args = parser.parse_args(argv)

    import torch

    from agent.planner.model import TrainedPlanner
    from agent.planner.tagger import StrategyTagger
    from eval.strategy_metrics import strategy_report

    torch.set_num_threads(args.threads)
    t0 = time.time()
    train = split_arrays(args.data_dir, "train")
    valid = split_arrays(args.data_dir, "valid")
    print(f"features: train {train['X'].shape}, valid {valid['X'].shape} ({time.time() - t0:.0f}s)", flush=True)

    tagger_w, tagger_b, tagger_score = fit_tagger(train, valid, args.seed)
    valid_tagged = split_arrays(args.data_dir, "valid", tagger=StrategyTagger(tagger_w, tagger_b))

    # Out-of-fold predictions on train: every decoding choice below is made on them.
    oof_mlp, oof_ngram, best_epochs = out_of_fold(train, args.folds, args.ensemble, args.seed, args.epochs,
                                                  NGRAM_C, NGRAM_MIN_DF)
    prior = np.bincount(train["y"], minlength=8) / len(train["y"])
    log_prior = np.log(prior)
    mix_grid = []
    for mix in NGRAM_MIX_GRID:
        z = oof_mlp + mix * oof_ngram
        offsets = fit_offsets(z, train["y"], log_prior)
        mix_grid.append({"ngram_mix": mix, "objective": round(calibration_objective(train["y"], (z + offsets).argmax(1)), 4),
                         "offsets": offsets})
        print(f"n-gram mix {mix}: out-of-fold objective {mix_grid[-1]['objective']}", flush=True)
    chosen_mix = max(mix_grid, key=lambda g: g["objective"])

    # Both readers on all of train; the MLPs for the median of the folds' best epochs.
    epochs = int(np.median(best_epochs))
    members = [train_mlp(train, None, HIDDEN, DROPOUT, args.seed + k, epochs) for k in range(args.ensemble)]
    params = {k: v.astype(np.float16) if k in ("w1", "b1", "w2", "b2") else v for k, v in stack_members(members).items()}
    reader = fit_ngram_reader(train["fields"], train["X"][:, CONTEXT_FEATURES], train["y"], c=NGRAM_C, min_df=NGRAM_MIN_DF)
    params.update(reader.to_params())
    params.update(prior=prior.astype(np.float32), tagger_w=tagger_w, tagger_b=tagger_b,
                  stage_prior=stage_prior(train), stage_prior_edges=np.array(STAGE_PRIOR_EDGES),
                  feature_version=np.array(FEATURE_VERSION), ngram_mix=np.array(chosen_mix["ngram_mix"]),
                  offsets=chosen_mix["offsets"], recency_penalty=np.array(0.0), temperature=np.array(1.0))
    chosen = {"hidden": HIDDEN, "dropout": DROPOUT, "lr": LEARNING_RATE, "weight_decay": WEIGHT_DECAY,
              "ensemble": args.ensemble, "seeds": [args.seed + k for k in range(args.ensemble)], "epochs": epochs,
              "fold_best_epochs": best_epochs}

    def predictions(planner: TrainedPlanner, z: np.ndarray, previous: list) -> list[str]:
        return [STRATEGIES[int(np.argmax(planner.decode(z[i], previous[i])))] for i in range(len(z))]

    def figures(gold_ids: np.ndarray, pred: list[str]) -> dict:
        r = strategy_report([STRATEGIES[k] for k in gold_ids], pred)
        return {k: round(r[k], 4) for k in ("accuracy", "macro_f1", "weighted_f1", "B")}

    # Recency penalty: the largest that lowers B while keeping macro-F1 within 0.2 points (out of fold).
    oof = oof_mlp + chosen_mix["ngram_mix"] * oof_ngram
    grid = [{"recency_penalty": lam, **figures(train["y"], predictions(TrainedPlanner(params, recency_penalty=lam), oof,
                                                                         train["prev"]))}
            for lam in RECENCY_GRID]
    keep = [g for g in grid if g["macro_f1"] >= grid[0]["macro_f1"] - 0.002 and g["B"] <= grid[0]["B"]]
    params["recency_penalty"] = np.array(min(keep, key=lambda g: (g["B"], -g["macro_f1"]))["recency_penalty"])
    z = oof + params["offsets"]
    nll = {float(t): float(-np.log(softmax(z / t)[np.arange(len(z)), train["y"]]).mean()) for t in TEMPERATURE_GRID}
    params["temperature"] = np.array(min(nll, key=nll.get))

    # Valid: scored only now, by the shipped planner and by ablations of it.
    planner = TrainedPlanner(params)

    def score(p: TrainedPlanner, arrays: dict) -> dict:
        return figures(arrays["y"], predictions(p, p.logits(arrays["X"], arrays["fields"]), arrays["prev"]))

    mlp_only = TrainedPlanner({**params, "ngram_mix": np.array(0.0), "offsets": mix_grid[0]["offsets"]})
    results = {
        "valid_gold_history": score(planner, valid),
        "valid_tagged_history": score(planner, valid_tagged),
        "valid_mlp_only": score(mlp_only, valid),
        "valid_prior_correction_0.5_only": score(TrainedPlanner(params, prior_correction=0.5, recency_penalty=0.0), valid),
        "valid_no_bias_control": score(TrainedPlanner(params, prior_correction=0.0, recency_penalty=0.0), valid),
        "train_out_of_fold": figures(train["y"], predictions(planner, oof, train["prev"])),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / WEIGHTS, **params)
    metrics = {
        "command": " ".join(["python -m agent.planner.train", *(sys.argv[1:] if argv is None else argv)]),
        "seed": args.seed, "train_split": "esconv/train.txt (910 dialogues, conversation level)",
        "selection": f"out-of-fold predictions on train ({args.folds} dialogue-level folds)",
        "scored_on": "esconv/valid.txt (195 dialogues), not used by any choice except the tagger's C",
        "machine": f"2-core CPU, torch threads={args.threads}",
        "n_train_turns": len(train["y"]), "n_valid_turns": len(valid["y"]),
        "feature_version": FEATURE_VERSION, "mlp": chosen, "tagger_valid": tagger_score,
        "ngrams": {"c": NGRAM_C, "min_df": NGRAM_MIN_DF, "terms": [len(v.terms) for v in reader.vocabularies],
                   "mix_grid_out_of_fold": [{k: g[k] for k in ("ngram_mix", "objective")} for g in mix_grid]},
        "decoding": {"ngram_mix": float(params["ngram_mix"]),
                     "offsets": {k: round(float(v), 3) for k, v in zip(STRATEGIES, params["offsets"])},
                     "bias_weight": BIAS_WEIGHT, "recency_penalty": float(params["recency_penalty"]),
                     "temperature": float(params["temperature"]), "nll_out_of_fold": nll[float(params["temperature"])]},
        "figures": results, "recency_grid_out_of_fold": grid,
        "note": "the n-gram mix, offsets, recency penalty, temperature and the MLPs' epoch count are chosen on "
                "out-of-fold predictions for train, so the valid figures are a clean estimate; "
                "the held-out test split is measured separately",
        "train_seconds": round(time.time() - t0, 1),
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: metrics[k] for k in ("mlp", "ngrams", "decoding", "figures")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
