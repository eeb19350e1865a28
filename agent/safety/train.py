"""Train the crisis gate's models: ``python -m agent.safety.train [--data-dir ../shared/data]``.

Positives: the hand-written sentences in ``agent.safety.seeds`` and ``agent.safety.seeds_varied``
(no hub data). Negatives: the seeds' hard negatives plus ordinary support-seeking turns from the
ESConv and EmpatheticDialogues training splits; any of those that the rules read as risky (some
ESConv seekers do talk about suicide) are dropped rather than used as "none" examples. The
*tuning* probes (tests/safety_probes/dev, round2, round3, round4: single-turn ones only, since a
context-dependent turn such as "tonight's the night" is no risk on its own) are added; any file
named ``heldout*`` (``heldout.jsonl``, ``heldout2.jsonl``, ``heldout3.jsonl``) is refused. round4's
lines carry their writer's ``block`` (sentences written together), which the CV keeps in one fold.

Two models: logistic regression on the MiniLM vector (``risk_model.npz``) and on character 2-5-gram
TF-IDF (``char_model.npz``). The gate's fusion (``fusion.json``: the recall-oriented model
threshold and the MiniLM/n-gram mix) is chosen by *grouped* 5-fold cross-validation on the
tuning data alone: sentences written together (blocks of 12 consecutive ones) stay in one fold,
a closer stand-in for new wording than random folds; each candidate is scored as the whole gate
(rules with context + out-of-fold model probabilities) on the tuning probes and the hand-written
sentences, and the most sensitive setting whose false alarms stay within budget wins.
Writes ``agent/artefacts/safety/{risk_model.npz, char_model.npz, fusion.json, metrics.json}``.
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

from agent.records import Utterance
from agent.safety.charmodel import CHAR_ARTEFACT, CharRiskModel, char_ngrams
from agent.safety.gate import CrisisGate, _guard_factor
from agent.safety.model import ARTEFACT, FUSION, RiskModel
from agent.safety.seeds import HARD_NEGATIVES, HARD_NEGATIVES_MORE, RISK_SEEDS, RISK_SEEDS_MORE
from agent.safety.seeds_varied import VARIED_NEGATIVES, VARIED_RISK
from agent.safety.signals import CATEGORIES, read_signals

PROBES = Path(__file__).resolve().parents[2] / "tests" / "safety_probes"
TUNING_PROBES = ("dev", "round2", "round3", "round4")
BLOCK = 12
"""Consecutive hand-written sentences kept in one cross-validation fold."""


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


def read_probe_file(path: Path) -> list[dict]:
    if path.name.startswith("heldout"):
        raise ValueError(f"{path} is a held-out probe set; it must not be trained or tuned on")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class Example:
    """One training or evaluation item: the dialogue, its label, its kind and its CV block."""

    def __init__(self, text: str, label: str, kind: str, block: str, context: list[str] | None = None,
                 train: bool = True) -> None:
        self.text, self.label, self.kind, self.block = text, label, kind, block
        self.context = context or []
        self.train = train  # multi-turn probes are scored, never trained on

    def dialogue(self) -> list[Utterance]:
        turns = [Utterance("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(self.context)]
        return [*turns, Utterance("user", self.text)]


def hand_written_examples(probe_files: list[Path]) -> list[Example]:
    out: list[Example] = []
    for name, batch in (("seeds", RISK_SEEDS), ("seeds_more", RISK_SEEDS_MORE), ("varied", VARIED_RISK)):
        for category, texts in batch.items():
            out += [Example(t, category, "risk", f"{name}.{category}.{i // BLOCK}") for i, t in enumerate(texts)]
    for name, texts in (("neg", HARD_NEGATIVES), ("neg_more", HARD_NEGATIVES_MORE), ("neg_varied", VARIED_NEGATIVES)):
        out += [Example(t, "none", "hard", f"{name}.{i // BLOCK}") for i, t in enumerate(texts)]
    for path in probe_files:
        for i, row in enumerate(read_probe_file(path)):
            label = row["category"] if row["label"] == "risk" else "none"
            out.append(Example(row["text"], label, "risk" if row["label"] == "risk" else "hard",
                               f"{path.stem}.{row.get('block') or i // BLOCK}", row.get("context") or [],
                               train=not row.get("context")))
    return out


def fit_embedding(X, y, w, C):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=3000).fit(X, y, sample_weight=w)


def fit_char(texts, y, w, C, max_features):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, min_df=2, max_features=max_features, dtype=np.float32)
    Xc = vec.fit_transform(texts)
    return vec, LogisticRegression(C=C, max_iter=3000).fit(Xc, y, sample_weight=w)


def sample_weights(examples: list[Example]) -> np.ndarray:
    # Hard negatives count 3x (the false alarms we most want to avoid); all risk together weighs
    # half as much as all negatives.
    y = np.array([e.label for e in examples])
    w = np.array([3.0 if e.kind == "hard" else 1.0 for e in examples])
    n_risk = int((y != "none").sum())
    w[y != "none"] = w[y == "none"].sum() / max(n_risk, 1) * 0.5
    return w


def rule_table(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Per example and category: the rule score (with context) and the guard factor on the model."""
    rules = CrisisGate(model=None, char_model=None)
    scores = np.zeros((len(examples), len(CATEGORIES)))
    guards = np.ones((len(examples), len(CATEGORIES)))
    for i, e in enumerate(examples):
        by_category, _ = rules.rule_scores(e.dialogue())
        scores[i] = [by_category[c] for c in CATEGORIES]
        guards[i] = [_guard_factor(e.text, c) for c in CATEGORIES]
    return scores, guards


def gate_scores(rules: np.ndarray, guards: np.ndarray, probs: np.ndarray, classes: list[str], threshold: float) -> np.ndarray:
    """Whole-gate score of each example, as ``CrisisGate.assess`` computes it: the rules noisy-or
    the calibrated, guard-damped models in the models' risk category (vectorised)."""
    risk_cols = [classes.index(c) for c in CATEGORIES]
    p_risk = 1.0 - probs[:, classes.index("none")]
    cat = probs[:, risk_cols].argmax(axis=1)
    rows = np.arange(len(probs))
    damped = p_risk * guards[rows, cat]
    model = np.where(damped < threshold, 0.5 * damped / threshold, 0.5 + 0.5 * (damped - threshold) / (1 - threshold))
    fused = rules.copy()
    fused[rows, cat] = 1.0 - (1.0 - fused[rows, cat]) * (1.0 - model)
    return fused.max(axis=1)


class TuningData:
    """Every example the models learn from and the gate is cross-validated on, with its MiniLM
    vector, sample weight and cross-validation group (a block of sentences written together)."""

    def __init__(self, examples: list[Example], X: np.ndarray, groups: np.ndarray) -> None:
        self.examples, self.X, self.groups = examples, X, groups
        self.texts = [e.text for e in examples]
        self.y = np.array([e.label for e in examples])
        self.classes = sorted(set(self.y))
        self.trainable = np.array([e.train for e in examples])
        self.weights = sample_weights(examples)
        self.is_risk = self.y != "none"
        self.hard = np.array([e.kind == "hard" for e in examples])
        self.corpus = np.array([e.kind == "corpus" for e in examples])

    def folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Grouped 5-fold split; the training side keeps only trainable examples."""
        from sklearn.model_selection import GroupKFold

        return [(train_idx[self.trainable[train_idx]], test_idx)
                for train_idx, test_idx in GroupKFold(5).split(self.X, self.y, self.groups)]


def tuning_data(data_dir: Path, split: str, negatives_per_corpus: int, seed: int,
                probe_files: list[Path]) -> TuningData:
    from agent.perception.embedder import encode_cached

    examples = hand_written_examples(probe_files)
    sample = corpus_negatives(data_dir, split, negatives_per_corpus, seed)
    # Drop turns the rules read as risky (some ESConv seekers do talk about suicide): they may well
    # be risk, so they are not clean negatives. The vectors are cached for the whole sample, so a
    # change of the rules does not re-embed it.
    keep = np.array([read_signals(t).score < 0.3 for t in sample])
    rng = random.Random(seed)
    examples += [Example(t, "none", "corpus", f"corpus.{rng.randrange(50)}") for t, k in zip(sample, keep) if k]
    n_hand = len(examples) - int(keep.sum())
    # Two cache entries: editing the seeds must not re-embed the few thousand corpus turns.
    X = np.concatenate([encode_cached([e.text for e in examples[:n_hand]]), encode_cached(sample)[keep]])
    blocks = sorted({e.block for e in examples})
    block_ids = {b: i for i, b in enumerate(rng.sample(blocks, len(blocks)))}
    return TuningData(examples, X, np.array([block_ids[e.block] for e in examples]))


def out_of_fold_models(data: TuningData, C: float, char_C: float, char_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold class probabilities of the MiniLM-vector and the n-gram model, every example."""
    oof_e = np.zeros((len(data.y), len(data.classes)))
    oof_c = np.zeros((len(data.y), len(data.classes)))
    X, y, w, texts = data.X, data.y, data.weights, data.texts
    for train_idx, test_idx in data.folds():
        oof_e[test_idx] = fit_embedding(X[train_idx], y[train_idx], w[train_idx], C).predict_proba(X[test_idx])
        vec, chr_ = fit_char([texts[i] for i in train_idx], y[train_idx], w[train_idx], char_C, char_features)
        oof_c[test_idx] = chr_.predict_proba(vec.transform([texts[i] for i in test_idx]))
    return oof_e, oof_c


def threshold_grid(data: TuningData, rules: np.ndarray, guards: np.ndarray, probs: np.ndarray) -> list[dict]:
    """The whole gate's recall and false alarms for each model threshold, given the models'
    out-of-fold ``probs`` and the ``rule_table``."""
    grid = []
    for t in np.round(np.arange(0.10, 0.96, 0.025), 3):
        s = gate_scores(rules, guards, probs, data.classes, float(t)) >= 0.5
        grid.append({"model_threshold": float(t), "recall": round(float(s[data.is_risk].mean()), 4),
                     "false_alarm_hard": round(float(s[data.hard].mean()), 4),
                     "false_alarm_corpus": round(float(s[data.corpus].mean()), 4)})
    return grid


def most_sensitive(grid: list[dict], false_alarm_budget: float) -> dict:
    """The row with the best recall whose hard-negative false alarms stay within budget (ties:
    fewer false alarms); the best recall overall if none does."""
    ok = [g for g in grid if g["false_alarm_hard"] <= false_alarm_budget] or grid
    return max(ok, key=lambda g: (g["recall"], -g["false_alarm_hard"], -g["false_alarm_corpus"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--split", default="train", choices=["train", "valid", "test"])
    parser.add_argument("--negatives-per-corpus", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--C", type=float, default=2.0, help="inverse regularisation of the MiniLM model")
    parser.add_argument("--char-C", type=float, default=30.0, help="inverse regularisation of the n-gram model")
    parser.add_argument("--char-features", type=int, default=30000)
    parser.add_argument("--false-alarm-budget", type=float, default=0.05,
                        help="most out-of-fold false alarms on hand-written hard negatives when choosing the fusion")
    parser.add_argument("--out", type=Path, default=ARTEFACT)
    parser.add_argument("--probe-files", type=Path, nargs="*", default=[PROBES / f"{n}.jsonl" for n in TUNING_PROBES],
                        help="tuning probes added to the training texts (never a held-out file)")
    args = parser.parse_args(argv)

    t0 = time.time()
    data = tuning_data(args.data_dir, args.split, args.negatives_per_corpus, args.seed, args.probe_files)
    X, y, w, texts, trainable = data.X, data.y, data.weights, data.texts, data.trainable
    oof_e, oof_c = out_of_fold_models(data, args.C, args.char_C, args.char_features)

    # Fusion choice on the whole gate (rules + out-of-fold models): for each mix, the most
    # sensitive model threshold whose false alarms on the hand-written hard negatives stay within
    # budget; the mix with the best recall wins (ties: fewer false alarms).
    rules, guards = rule_table(data.examples)
    grid = [{"embedding_share": share, **row} for share in (0.0, 0.25, 0.5, 0.75, 1.0)
            for row in threshold_grid(data, rules, guards, share * oof_e + (1 - share) * oof_c)]
    best = most_sensitive(grid, args.false_alarm_budget)

    # Final models on all trainable examples.
    emb = fit_embedding(X[trainable], y[trainable], w[trainable], args.C)
    RiskModel(emb.coef_, emb.intercept_, tuple(str(c) for c in emb.classes_)).save(args.out)
    vec, chr_ = fit_char([t for t, k in zip(texts, trainable) if k], y[trainable], w[trainable], args.char_C, args.char_features)
    vocab = [g for g, _ in sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])]
    char_out = args.out.parent / CHAR_ARTEFACT.name
    CharRiskModel(vocab, vec.idf_, chr_.coef_, chr_.intercept_, tuple(str(c) for c in chr_.classes_)).save(char_out)
    fusion = {"model_threshold": best["model_threshold"], "embedding_share": best["embedding_share"]}
    (args.out.parent / FUSION.name).write_text(json.dumps(fusion, indent=2) + "\n")

    metrics = {
        "seed": args.seed, "C": args.C, "char_C": args.char_C, "char_features": len(vocab), "data_split": args.split,
        "command": "python -m agent.safety.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "features": "all-MiniLM-L6-v2 vector of the current user turn (384-d) + char 2-5-gram TF-IDF (char_wb)",
        "n_risk": int(data.is_risk[trainable].sum()), "n_negative": int((~data.is_risk)[trainable].sum()),
        "n_hard_negative": int((data.hard & trainable).sum()), "n_multi_turn_scored_only": int((~trainable).sum()),
        "fusion": fusion, "false_alarm_budget": args.false_alarm_budget,
        "cv5_grouped_gate": {k: best[k] for k in ("recall", "false_alarm_hard", "false_alarm_corpus")},
        "cv5_grouped_grid": [g for g in grid if g["embedding_share"] == best["embedding_share"]],
        "note": ("Grouped 5-fold CV (blocks of 12 sentences written together) on tuning data only; whole gate = rules "
                 "with context + out-of-fold model probabilities. Held-out figures come from `python -m eval.safety`."),
        "seconds": round(time.time() - t0, 1),
    }
    (args.out.parent / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if k != "cv5_grouped_grid"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
