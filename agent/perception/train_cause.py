"""Train the emotion-cause finder on RECCON (DailyDialog, fold 1).

    python -m agent.perception.train_cause --data-dir ../shared/data

Pairs are derived from ``reccon/original_annotation/dailydialog_train.json`` as the RECCON paper
describes (``agent.perception.data.reccon_pairs``; on valid the derivation reproduces the
released fold-1 subtask-2 pairs exactly). The pair model is a logistic regression on
``cause.pair_features``; its decision threshold is chosen by 5-fold cross-validation on train
(grouped by dialogue), so valid stays untouched for reporting. The clause model for cause spans
is a logistic regression on ``cause.clause_features``, labelled by overlap with the annotated
"expanded emotion cause span". Writes ``agent/artefacts/cause/{model.npz,config.json,metrics.json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from agent.perception.cause import (ARTEFACT_DIR, HASH_DIM, MAX_HISTORY, TRAIN_COMMAND, clause_features,
                                    clauses, pair_features)
from agent.perception.data import load_reccon, reccon_pairs


def pair_matrix(dialogues) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Features, labels and dialogue groups of every derived pair (history capped as at inference)."""
    by_id = {d.id: d for d in dialogues}
    pairs = [p for p in reccon_pairs(dialogues) if p.target - p.candidate < MAX_HISTORY]
    x = np.stack([pair_features([u.text for u in by_id[p.dialogue_id].utterances], [u.speaker for u in by_id[p.dialogue_id].utterances],
                                p.target, p.candidate, p.emotion) for p in pairs])
    y = np.array([p.label for p in pairs])
    groups = np.array([p.dialogue_id for p in pairs])
    return x, y, groups, pairs


def span_mask(text: str, spans) -> np.ndarray:
    """Per-character 0/1 mask of where the annotated spans occur in ``text``."""
    mask = np.zeros(len(text), np.int8)
    for span in spans:
        span = span.strip()
        start = text.find(span) if span else -1
        if start >= 0:
            mask[start:start + len(span)] = 1
    return mask


def clause_examples(dialogues) -> tuple[list[np.ndarray], list[list[int]], list[int]]:
    """Clause features/labels from every causal utterance whose span is found in its text."""
    dense, ids, labels = [], [], []
    for d in dialogues:
        for t, u in enumerate(d.utterances):
            if u.emotion == "neutral":
                continue
            for turn in set(u.cause_turns):
                c = turn - 1
                if not 0 <= c <= t:
                    continue
                text = d.utterances[c].text
                mask = span_mask(text, u.cause_spans)
                if not mask.any():
                    continue
                parts, pos = clauses(text), 0
                for i, part in enumerate(parts):
                    start = text.find(part, pos)
                    pos = start + len(part)
                    inside = mask[start:pos].mean() if start >= 0 and len(part) else 0.0
                    f, h = clause_features(parts, i, u.emotion, c == t)
                    dense.append(f)
                    ids.append(h)
                    labels.append(int(inside >= 0.5))
    return dense, ids, labels


def sparse_clauses(dense, ids):
    from scipy import sparse

    rows = [r for r, h in enumerate(ids) for _ in h]
    cols = [c for h in ids for c in h]
    hashed = sparse.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(ids), HASH_DIM))
    return sparse.hstack([sparse.csr_matrix(np.stack(dense)), hashed]).tocsr()


def best_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    grid = np.round(np.arange(0.2, 0.8, 0.02), 2)
    scores = [f1_score(y, p >= t, average="macro") for t in grid]
    i = int(np.argmax(scores))
    return float(grid[i]), float(scores[i])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--out", default=str(ARTEFACT_DIR))
    ap.add_argument("--c", type=float, default=0.1, help="inverse L2 strength of the pair model")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict

    start = time.time()
    train = load_reccon(args.data_dir, "train")
    x, y, groups, _ = pair_matrix(train)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    xs = (x - mean) / scale
    model = LogisticRegression(C=args.c, max_iter=2000, class_weight="balanced", random_state=args.seed)
    cv = cross_val_predict(model, xs, y, groups=groups, cv=GroupKFold(5), method="predict_proba")[:, 1]
    threshold, cv_f1 = best_threshold(y, cv)
    model.fit(xs, y)
    print(f"pairs {len(y)} (positives {int(y.sum())}); CV macro-F1 {cv_f1:.4f} at threshold {threshold}", flush=True)

    dense, ids, labels = clause_examples(train)
    xc = sparse_clauses(dense, ids)
    yc = np.array(labels)
    clause_model = LogisticRegression(C=1.0, max_iter=2000, random_state=args.seed)
    clause_model.fit(xc, yc)
    n_dense = len(dense[0])
    print(f"clauses {len(yc)} (in span {int(yc.sum())})", flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "model.npz", pair_w=model.coef_[0].astype(np.float32),
                        pair_b=np.float32(model.intercept_[0]), pair_mean=mean.astype(np.float32),
                        pair_scale=scale.astype(np.float32),
                        clause_dense=clause_model.coef_[0, :n_dense].astype(np.float32),
                        clause_hash=clause_model.coef_[0, n_dense:].astype(np.float16),
                        clause_b=np.float32(clause_model.intercept_[0]))
    (out / "config.json").write_text(json.dumps({
        "pair_threshold": threshold, "clause_threshold": 0.5, "hash_dim": HASH_DIM,
        "max_history": MAX_HISTORY, "features": "position, speaker, emotion, word overlap"},
        indent=2) + "\n", encoding="utf-8")
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    metrics.update({
        "component": "emotion-cause finder", "seed": args.seed,
        "command": TRAIN_COMMAND if argv is None and sys.argv[1:] == ["--data-dir", "../shared/data"]
        else "python -m agent.perception.train_cause " + " ".join(sys.argv[1:] if argv is None else argv),
        "train_split": "RECCON DailyDialog train (fold 1, derived from the original annotation)",
        "train_pairs": len(y), "train_positive_pairs": int(y.sum()),
        "pair_threshold": threshold, "train_cv_macro_f1": round(cv_f1, 4),
        "train_clauses": len(yc), "machine": "this 2-core CPU (no GPU)",
        "train_seconds": round(time.time() - start, 1)})
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(f"cause finder written to {out} ({time.time() - start:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
