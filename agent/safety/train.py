"""Train the crisis gate's models: ``python -m agent.safety.train [--data-dir ../shared/data]``.

The data (hand-written risk and hard negatives, the tuning probes, ordinary ESConv and
EmpatheticDialogues turns; never a held-out probe set) is assembled by ``agent.safety.tuning_data``.

Three models: logistic regression on the current turn's MiniLM vector (``risk_model.npz``) and on
its character 2-5-gram TF-IDF (``char_model.npz``), trained on single-turn probes only (a
context-dependent turn such as "tonight's the night" is no risk on its own); and MiniLM's upper
layers fine-tuned over the shared lower states of the current turn and the turns before it
(``tuned/``, ``agent.safety.tuned``), trained on every probe, multi-turn ones with their context.
The gate's fusion (``fusion.json``: the recall-oriented model threshold, the models' mix and the
weights of the rules' current and context readings) is chosen by *grouped* 5-fold
cross-validation on the tuning data alone: sentences
written together stay in one fold, a closer stand-in for new wording than random folds; each
candidate is scored as the whole gate (rules with context + out-of-fold model probabilities) on
round4 to round9 and heldout3 to heldout12, the sets the rules were not written on, and the
most sensitive setting whose false alarms on their hard negatives stay within budget wins.
Writes ``agent/artefacts/safety/{risk_model.npz, char_model.npz, tuned/, fusion.json, metrics.json}``
(``--out DIR``: those files in ``DIR``, used by the agent when ``safety.model_dir`` names it).
About 69 minutes on this 2-core CPU (4,111 s; a few when the cached out-of-fold predictions
serve) since the retired held-out sets joined the tuning probes; before that 37 (2,212 s), before
round9 27 (1,639 s), and with ``--esconv-context`` 47 (2,799 s)."""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.safety.charmodel import CHAR_ARTEFACT, CharRiskModel, char_ngrams
from agent.safety.gate import MODEL_NAMES, CrisisGate, _guard_factor
from agent.safety.model import ARTEFACT, FUSION, RiskModel
from agent.safety.signals import CATEGORIES
from agent.safety.tuned import CONTEXT_TURNS, EPOCHS, TUNED_DIR
from agent.safety.tuning_data import PROBES, TUNING_PROBES, Example, TuningData, tuning_data

RULE_WEIGHTS = (1.0, 0.85, 0.7, 0.6, 0.5)
"""Scales of the current turn's rule scores tried in the fusion: below 1 a weak rule needs the
models' support; at 0.5 even the strongest rule reading only reaches the gate's threshold."""
CONTEXT_WEIGHTS = (1.0, 0.75, 0.5)
"""Scales of what the rules read in earlier turns, tried in the fusion (the fine-tuned model reads
the context too)."""


def fit_embedding(X, y, w, C):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=3000).fit(X, y, sample_weight=w)


def fit_char(texts, y, w, C, max_features):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, min_df=2, max_features=max_features, dtype=np.float32)
    Xc = vec.fit_transform(texts)
    return vec, LogisticRegression(C=C, max_iter=3000).fit(Xc, y, sample_weight=w)


def rule_table(examples: list[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per example and category: the rules' score of the current turn, what the context adds
    (``CrisisGate.rule_parts``), and the guard factor on the model."""
    rules = CrisisGate(model=None, char_model=None)
    current = np.zeros((len(examples), len(CATEGORIES)))
    context = np.zeros((len(examples), len(CATEGORIES)))
    guards = np.ones((len(examples), len(CATEGORIES)))
    for i, e in enumerate(examples):
        cur, ctx, _ = rules.rule_parts(e.dialogue())
        current[i] = [cur[c] for c in CATEGORIES]
        context[i] = [ctx[c] for c in CATEGORIES]
        guards[i] = [_guard_factor(e.text, c) for c in CATEGORIES]
    return current, context, guards


def weighted_rules(current: np.ndarray, context: np.ndarray, rule_weight: float,
                   context_weight: float = 1.0) -> np.ndarray:
    """The rule scores as ``CrisisGate.assess`` uses them: the current turn's and the context's,
    each scaled by its weight, joined by noisy-or."""
    return 1.0 - (1.0 - rule_weight * current) * (1.0 - context_weight * context)


def gate_scores(rules: np.ndarray, guards: np.ndarray, probs: np.ndarray, classes: list[str], threshold: float) -> np.ndarray:
    """Whole-gate score of each example, as ``CrisisGate.assess`` computes it: the rules
    (``weighted_rules`` at the gate's rule weight) noisy-or the calibrated, guard-damped models in
    the models' risk category (vectorised)."""
    risk_cols = [classes.index(c) for c in CATEGORIES]
    p_risk = 1.0 - probs[:, classes.index("none")]
    cat = probs[:, risk_cols].argmax(axis=1)
    rows = np.arange(len(probs))
    damped = p_risk * guards[rows, cat]
    model = np.where(damped < threshold, 0.5 * damped / threshold, 0.5 + 0.5 * (damped - threshold) / (1 - threshold))
    fused = rules.copy()
    fused[rows, cat] = 1.0 - (1.0 - fused[rows, cat]) * (1.0 - model)
    return fused.max(axis=1)


def out_of_fold_models(data: TuningData, C: float, char_C: float, char_features: int,
                       tuned: dict | None = None) -> dict[str, np.ndarray]:
    """Out-of-fold class probabilities of each model (``MODEL_NAMES``) for every example; the
    fine-tuned model only when ``tuned`` gives its training options (``fit_tuned`` keywords)."""
    oof = {name: np.zeros((len(data.y), len(data.classes))) for name in MODEL_NAMES[:3 if tuned is not None else 2]}
    X, y, w, texts = data.X, data.y, data.weights, data.texts
    dialogues = data.dialogues if tuned is not None else []
    yi = np.array([data.classes.index(c) for c in y])
    for k, (all_train, test_idx) in enumerate(data.folds()):
        train_idx = all_train[data.single_turn[all_train]]  # the regressions read one turn
        oof["embedding"][test_idx] = fit_embedding(X[train_idx], y[train_idx], w[train_idx], C).predict_proba(X[test_idx])
        vec, chr_ = fit_char([texts[i] for i in train_idx], y[train_idx], w[train_idx], char_C, char_features)
        oof["char"][test_idx] = chr_.predict_proba(vec.transform([texts[i] for i in test_idx]))
        if tuned is not None:
            from agent.safety.tuned import fit_tuned

            model = fit_tuned([dialogues[i] for i in all_train], yi[all_train], w[all_train], data.classes, **tuned)
            oof["tuned"][test_idx] = model.predict_many([dialogues[i] for i in test_idx])
        print(f"  fold {k + 1}/5", flush=True)
    return oof


def cached_out_of_fold_models(data: TuningData, C: float, char_C: float, char_features: int,
                              tuned: dict | None = None, cache_dir: Path = Path(".cache/safety")) -> dict[str, np.ndarray]:
    """``out_of_fold_models``, kept on disk under a key of the data and options: choosing the
    fusion again (another budget or rule weight) then takes seconds instead of minutes."""
    import hashlib

    key = hashlib.sha256(json.dumps([[[*e.context, e.text] for e in data.examples], data.y.tolist(), data.groups.tolist(),
                                     C, char_C, char_features, tuned]).encode("utf-8")).hexdigest()[:16]
    path = cache_dir / f"oof-{key}.npz"
    if path.exists():
        with np.load(path) as cached:
            return {name: cached[name] for name in cached.files}
    oof = out_of_fold_models(data, C, char_C, char_features, tuned)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **oof)
    return oof


def share_grid(models: Sequence[str], step: float = 0.25) -> list[dict[str, float]]:
    """Every mix of ``models`` with shares on a ``step`` grid summing to 1."""
    n = round(1 / step)
    return [dict(zip(models, (i * step for i in combo)))
            for combo in itertools.product(range(n + 1), repeat=len(models)) if sum(combo) == n]


def threshold_grid(data: TuningData, rules: np.ndarray, guards: np.ndarray, probs: np.ndarray,
                   on: np.ndarray | None = None) -> list[dict]:
    """The whole gate's recall and false alarms for each model threshold, given the models'
    out-of-fold ``probs`` and the ``rule_table``; counted on the examples ``on`` (default all)."""
    on = np.ones(len(data.y), bool) if on is None else on
    grid = []
    for t in np.round(np.arange(0.10, 0.96, 0.025), 3):
        s = gate_scores(rules, guards, probs, data.classes, float(t)) >= 0.5
        grid.append({"model_threshold": float(t), "recall": round(float(s[data.is_risk & on].mean()), 4),
                     "false_alarm_hard": round(float(s[data.hard & on].mean()), 4),
                     "false_alarm_corpus": round(float(s[data.corpus].mean()), 4)})
    return grid


def most_sensitive(grid: list[dict], false_alarm_budget: float) -> dict:
    """The row with the best recall whose hard-negative false alarms stay within budget (ties:
    fewer false alarms); the best recall overall if none does."""
    ok = [g for g in grid if g["false_alarm_hard"] <= false_alarm_budget] or grid
    return max(ok, key=lambda g: (g["recall"], -g["false_alarm_hard"], -g["false_alarm_corpus"]))


def choose_fusion(data: TuningData, args: argparse.Namespace, tuned_options: dict | None) -> tuple[dict, dict, list]:
    """The fusion (model threshold, rule weights, models' mix) chosen by grouped 5-fold CV of the
    whole gate, with the CV figures of the chosen gate and its grid row."""
    oof = cached_out_of_fold_models(data, args.C, args.char_C, args.char_features, tuned=tuned_options)

    # Fusion choice on the whole gate (rules + out-of-fold models), counted on the tuning sets the
    # rules were not written on: for each pair of rule weights and mix of models, the most
    # sensitive model threshold whose false alarms on their hard negatives stay within budget; the
    # best recall wins (ties: fewer false alarms).
    current, context, guards = rule_table(data.examples)
    select = data.rules_unseen if args.select_on == "rules-unseen" else None
    grid = [{"rule_weight": rw, "context_weight": cw, "shares": shares, **row}
            for rw in RULE_WEIGHTS for cw in CONTEXT_WEIGHTS for shares in share_grid(list(oof))
            for row in threshold_grid(data, weighted_rules(current, context, rw, cw), guards,
                                      sum(s * oof[m] for m, s in shares.items()), on=select)]
    best = most_sensitive(grid, args.false_alarm_budget)
    fusion = {"model_threshold": best["model_threshold"], "rule_weight": best["rule_weight"],
              "context_weight": best["context_weight"], "shares": {m: s for m, s in best["shares"].items() if s > 0}}
    chosen = gate_scores(weighted_rules(current, context, best["rule_weight"], best["context_weight"]), guards,
                         sum(s * oof[m] for m, s in fusion["shares"].items()), data.classes, best["model_threshold"]) >= 0.5

    def rates(mask: np.ndarray) -> dict:
        return {"recall": round(float(chosen[data.is_risk & mask].mean()), 4),
                "false_alarm_hard": round(float(chosen[data.hard & mask].mean()), 4)}

    cv = {"rules_unseen_sets": rates(data.rules_unseen), "all_tuning_data": rates(np.ones_like(chosen)),
          "false_alarm_corpus": round(float(chosen[data.corpus].mean()), 4)}
    return fusion, cv, [g for g in grid if g["shares"] == best["shares"] and g["rule_weight"] == best["rule_weight"]
                        and g["context_weight"] == best["context_weight"]]


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
    parser.add_argument("--out", type=Path, default=ARTEFACT.parent,
                        help="folder for the gate's artefacts (default: the shipped ones); a gate trained elsewhere "
                             "is used by setting safety.model_dir to it")
    parser.add_argument("--probe-files", type=Path, nargs="*", default=[PROBES / f"{n}.jsonl" for n in TUNING_PROBES],
                        help="tuning probes added to the training texts (never a held-out file)")
    parser.add_argument("--no-tuned", action="store_true", help="skip the fine-tuned model (the two regressions only; removes an older tuned/)")
    parser.add_argument("--tuned-epochs", type=int, default=EPOCHS)
    parser.add_argument("--tuned-lr", type=float, default=2e-4)
    parser.add_argument("--tuned-context", type=int, default=CONTEXT_TURNS,
                        help="earlier utterances the fine-tuned model reads with the current turn (0: the turn alone)")
    parser.add_argument("--select-on", choices=["rules-unseen", "all"], default="rules-unseen",
                        help="tuning examples the fusion is chosen on: the sets the rules were not written on, or all")
    parser.add_argument("--esconv-context", action="store_true",
                        help="ESConv negatives with the conversation before them (experiment of 2026-12-02, "
                             "not the shipped gate; see eval/benchmarks/results_safety.md)")
    parser.add_argument("--keep-fusion", type=Path, default=None,
                        help="use this fusion.json instead of choosing one by cross-validation (retrains the models "
                             "only: about a fifth of the time)")
    args = parser.parse_args(argv)

    t0 = time.time()
    data = tuning_data(args.data_dir, args.split, args.negatives_per_corpus, args.seed, args.probe_files,
                       args.esconv_context)
    X, y, w, texts, single = data.X, data.y, data.weights, data.texts, data.single_turn
    tuned_options = None if args.no_tuned else {"epochs": args.tuned_epochs, "lr": args.tuned_lr, "seed": args.seed,
                                                 "context_turns": args.tuned_context}
    cv, grid = None, []
    if args.keep_fusion is not None:
        fusion = json.loads(args.keep_fusion.read_text(encoding="utf-8"))
    else:
        fusion, cv, grid = choose_fusion(data, args, tuned_options)

    # Final models on all examples (the regressions on the single turns).
    args.out.mkdir(parents=True, exist_ok=True)
    emb = fit_embedding(X[single], y[single], w[single], args.C)
    RiskModel(emb.coef_, emb.intercept_, tuple(str(c) for c in emb.classes_)).save(args.out / ARTEFACT.name)
    vec, chr_ = fit_char([t for t, k in zip(texts, single) if k], y[single], w[single], args.char_C, args.char_features)
    vocab = [g for g, _ in sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])]
    char_out = args.out / CHAR_ARTEFACT.name
    CharRiskModel(vocab, vec.idf_, chr_.coef_, chr_.intercept_, tuple(str(c) for c in chr_.classes_)).save(char_out)
    tuned_dir = args.out / TUNED_DIR.name
    if tuned_options is not None:
        from agent.safety.tuned import fit_tuned

        yi = np.array([data.classes.index(c) for c in y])
        fit_tuned(data.dialogues, yi, w, data.classes, **tuned_options).save(
            tuned_dir, **tuned_options, base="all-MiniLM-L6-v2 upper layers")
    elif tuned_dir.exists():
        # An older fine-tuned model left beside this fusion would still be loaded by the gate.
        shutil.rmtree(tuned_dir)
    (args.out / FUSION.name).write_text(json.dumps(fusion, indent=2) + "\n")

    metrics = {
        "seed": args.seed, "C": args.C, "char_C": args.char_C, "char_features": len(vocab), "data_split": args.split,
        "command": " ".join(["python -m agent.safety.train", *(argv if argv is not None else sys.argv[1:])]),
        "models": {"embedding": "LR on the all-MiniLM-L6-v2 vector of the current user turn (384-d)",
                   "char": "LR on char 2-5-gram TF-IDF (char_wb)",
                   "tuned": f"MiniLM upper layers fine-tuned over the shared lower states of the turn and "
                            f"its context ({tuned_options})"},
        "n_risk": int(data.is_risk.sum()), "n_negative": int((~data.is_risk).sum()),
        "n_hard_negative": int(data.hard.sum()), "n_multi_turn": int((~single).sum()),
        "fusion": fusion, "false_alarm_budget": args.false_alarm_budget, "selected_on": args.select_on,
        "cv5_grouped_gate": cv, "cv5_grouped_grid": grid,
        "note": ("Grouped 5-fold CV (blocks of sentences written together) on tuning data only; whole gate = rules "
                 "with context + out-of-fold model probabilities. Held-out figures come from `python -m eval.safety`."
                 + (f" The fusion was kept from {args.keep_fusion} (no CV in this run)." if args.keep_fusion else "")),
        "seconds": round(time.time() - t0, 1),
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if k != "cv5_grouped_grid"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
