"""Train the crisis gate's model: ``python -m agent.safety.train [--data-dir ../shared/data]``.

Positives: the hand-written sentences in ``agent.safety.seeds`` (no hub data). Negatives: the
seeds' hard negatives plus ordinary support-seeking turns from the ESConv and EmpatheticDialogues
training splits; any of those that the rules read as risky (some ESConv seekers do talk about
suicide) are dropped rather than used as "none" examples. The *tuning* probes
(tests/safety_probes/dev, round2, round3: single-turn ones only, since a context-dependent turn
such as "tonight's the night" is no risk on its own) are added; ``heldout.jsonl`` never is. Writes ``agent/artefacts/safety/risk_model.npz`` and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from agent.safety.model import ARTEFACT, RiskModel
from agent.safety.seeds import HARD_NEGATIVES, HARD_NEGATIVES_MORE, RISK_SEEDS, RISK_SEEDS_MORE
from agent.safety.signals import read_signals

PROBES = Path(__file__).resolve().parents[2] / "tests" / "safety_probes"


def esconv_seeker_turns(data_dir: Path, split: str) -> list[str]:
    path = data_dir / "esconv" / f"{split}.txt"
    texts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                texts += [t["text"].strip() for t in json.loads(line)["dialog"] if t["speaker"] == "usr"]
    return [t for t in texts if len(t.split()) >= 4]


def ed_speaker_turns(data_dir: Path, split: str) -> list[str]:
    path = data_dir / "empathetic_dialogues" / f"{split}.csv"
    texts = []
    with open(path, encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = header.index("utterance")
        for row in reader:
            if len(row) > col:
                texts.append(row[col].replace("_comma_", ",").strip())
    return [t for t in texts if len(t.split()) >= 4]


def corpus_negatives(data_dir: Path, split: str, n_each: int, seed: int) -> list[str]:
    """``n_each`` random seeker turns from ESConv and from EmpatheticDialogues (speaker and listener)."""
    rng = random.Random(seed)
    pools = [esconv_seeker_turns(data_dir, split), ed_speaker_turns(data_dir, split)]
    picked = []
    for pool in pools:
        pool = sorted(set(pool))
        rng.shuffle(pool)
        picked += pool[:n_each]
    return picked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--split", default="train", choices=["train", "valid", "test"])
    parser.add_argument("--negatives-per-corpus", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--C", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ARTEFACT)
    parser.add_argument("--probe-files", type=Path, nargs="*", default=[PROBES / f"{n}.jsonl" for n in ("dev", "round2", "round3")],
                        help="tuning probes added to the training texts (never the held-out file)")
    args = parser.parse_args(argv)

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from agent.perception.embedder import encode_cached

    t0 = time.time()
    texts, labels = [], []
    for batch in (RISK_SEEDS, RISK_SEEDS_MORE):
        for category, seeds in batch.items():
            texts += list(seeds)
            labels += [category] * len(seeds)
    hard = HARD_NEGATIVES + HARD_NEGATIVES_MORE
    for path in args.probe_files:
        if path.name.startswith("heldout"):
            raise ValueError(f"{path} is the held-out probe set; it must not be trained on")
        for row in (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()):
            if row.get("context"):
                continue
            if row["label"] == "risk":
                texts.append(row["text"])
                labels.append(row["category"])
            else:
                hard += (row["text"],)
    sample = corpus_negatives(args.data_dir, args.split, args.negatives_per_corpus, args.seed)
    # Drop turns the rules read as risky (some ESConv seekers do talk about suicide): they may well
    # be risk, so they are not clean negatives. The vectors are cached for the whole sample, so a
    # change of the rules does not re-embed it.
    keep = np.array([read_signals(t).score < 0.3 for t in sample])
    corpus = [t for t, k in zip(sample, keep) if k]
    texts += list(hard) + corpus
    labels += ["none"] * (len(hard) + len(corpus))
    y = np.array(labels)
    # Two cache entries: editing the seeds must not re-embed the few thousand corpus turns.
    seeds_end = len(texts) - len(corpus)
    X = np.concatenate([encode_cached(texts[:seeds_end]), encode_cached(sample)[keep]])
    # Hard negatives count 3x: they are the false alarms we most want to avoid.
    weights = np.array([3.0 if t in set(hard) else 1.0 for t in texts])
    n_risk = int((y != "none").sum())
    weights[y != "none"] = (y == "none").sum() / max(n_risk, 1) * 0.5  # risk half as heavy as all negatives
    clf = LogisticRegression(C=args.C, max_iter=2000)

    cv = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    probs = np.zeros((len(y), len(np.unique(y))))
    for train_idx, test_idx in cv.split(X, y):
        fold = LogisticRegression(C=args.C, max_iter=2000).fit(X[train_idx], y[train_idx], sample_weight=weights[train_idx])
        probs[test_idx] = fold.predict_proba(X[test_idx])
    none_col = list(np.unique(y)).index("none")
    p_risk = 1.0 - probs[:, none_col]
    is_risk = y != "none"
    cv_figures = {f"threshold_{t}": {"recall": round(float((p_risk[is_risk] >= t).mean()), 4),
                                     "false_alarm": round(float((p_risk[~is_risk] >= t).mean()), 4)}
                  for t in (0.3, 0.5, 0.7)}

    clf.fit(X, y, sample_weight=weights)
    model = RiskModel(clf.coef_, clf.intercept_, tuple(str(c) for c in clf.classes_))
    model.save(args.out)
    metrics = {
        "seed": args.seed, "C": args.C, "data_split": args.split,
        "command": "python -m agent.safety.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "features": "all-MiniLM-L6-v2 sentence vector of the current user turn (384-d)",
        "n_risk": n_risk, "n_negative": int((~is_risk).sum()), "n_hard_negative": len(hard),
        "cv5_model_only": cv_figures,
        "note": "5-fold CV on the training texts (model alone, no rules); probe-set figures come from `python -m eval.safety`.",
        "seconds": round(time.time() - t0, 1),
    }
    (args.out.parent / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
