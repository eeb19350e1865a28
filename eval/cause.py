"""Evaluate the emotion-cause finder on RECCON (DailyDialog, fold 1).

    python -m eval.cause --split valid [--data-dir ../shared/data]

- **Causal emotion entailment** (subtask 2): every row of the released
  ``subtask2/fold1/dailydialog_classification_{split}_with_context.csv`` is scored by the pair
  model (emotion, target, candidate, with the dialogue as context); macro-F1 is the mean of the
  positive and negative F1, as in RECCON (RoBERTa-large with history: 77.06). Rows repeat a pair
  once per annotated span, as in the release; the unique-pair figure is printed too.
- **Cause span** (subtask 1): every question of ``subtask1/fold1/dailydialog_qa_{split}_with_context.json``.
  The evidence utterance is named in the question; the finder answers "impossible" (empty) when
  its pair model says the evidence is not causal, else the clause span it picks. SQuAD-2 token F1
  over all questions (an impossible question scores 1 when the answer is empty), plus F1 and
  exact match over the causal (possible) questions alone with the pair decision replaced by the
  gold one ("oracle evidence").
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import string
from pathlib import Path

import numpy as np

_ID = re.compile(r"dailydialog_(\w\w_\d+)_utt_(\d+)_\w+?_cause_utt_(\d+)")


def normalize(text: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation or articles, split on space."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction), normalize(gold)
    if not p or not g:
        return float(p == g)
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def record(path: Path, split: str, result: dict) -> None:
    """Merge evaluation figures into an artefact's metrics.json under ``evaluation.<split>``."""
    metrics = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    metrics.setdefault("evaluation", {})[split] = result
    path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--fold", default="fold1")
    ap.add_argument("--out", default=None)
    ap.add_argument("--record", action="store_true",
                    help="also record the figures in the artefact's metrics.json (under evaluation.<split>)")
    args = ap.parse_args(argv)

    from sklearn.metrics import f1_score

    from agent.perception.cause import load_cause_finder
    from agent.perception.data import load_cee_csv, load_reccon, load_span_squad

    data = Path(args.data_dir) / "reccon"
    finder = load_cause_finder()
    dialogues = {d.id: d for d in load_reccon(args.data_dir, args.split)}
    memo: dict[tuple[str, int, int], float] = {}

    def score(dial_id: str, target: int, candidate: int) -> float:
        key = (dial_id, target, candidate)
        if key not in memo:
            d = dialogues[dial_id]
            memo[key] = float(finder.pair_scores([u.text for u in d.utterances], [u.speaker for u in d.utterances], target,
                                                 d.utterances[target].emotion, [candidate])[0])
        return memo[key]

    rows = load_cee_csv(data / "subtask2" / args.fold / f"dailydialog_classification_{args.split}_with_context.csv")
    y, p, rule, seen = [], [], [], {}
    for row_id, label in rows:
        m = _ID.match(row_id)
        key = (m[1], int(m[2]) - 1, int(m[3]) - 1)
        y.append(label)
        p.append(int(score(*key) >= finder.threshold))
        rule.append(int(key[1] - key[2] <= 1))  # baseline: the target itself or the turn before
        seen[key] = (label, p[-1])
    cee = {"rows": len(y), "macro_f1": f1_score(y, p, average="macro"),
           "rule_macro_f1": f1_score(y, rule, average="macro"),
           "pos_f1": f1_score(y, p, pos_label=1), "neg_f1": f1_score(y, p, pos_label=0),
           "unique_pairs": len(seen),
           "unique_macro_f1": f1_score([a for a, _ in seen.values()], [b for _, b in seen.values()], average="macro")}

    qas = load_span_squad(data / "subtask1" / args.fold / f"dailydialog_qa_{args.split}_with_context.json")
    all_f1, pos_f1, pos_em, whole_f1 = [], [], [], []
    for qa in qas:
        m = _ID.match(qa["id"])
        dial_id, target, candidate = m[1], int(m[2]) - 1, int(m[3]) - 1
        d = dialogues[dial_id]
        emotion = d.utterances[target].emotion
        span = finder.span(d.utterances[candidate].text, emotion, candidate == target)
        causal = score(dial_id, target, candidate) >= finder.threshold
        answer = span if causal else ""
        if qa["impossible"]:
            all_f1.append(float(answer == ""))
            continue
        all_f1.append(max(token_f1(answer, g) for g in qa["answers"]))
        pos_f1.append(max(token_f1(span, g) for g in qa["answers"]))
        whole_f1.append(max(token_f1(d.utterances[candidate].text, g) for g in qa["answers"]))
        pos_em.append(float(any(normalize(span) == normalize(g) for g in qa["answers"])))
    spans = {"questions": len(qas), "squad2_f1": float(np.mean(all_f1)), "causal_questions": len(pos_f1),
             "oracle_evidence_f1": float(np.mean(pos_f1)), "oracle_evidence_em": float(np.mean(pos_em)),
             "whole_utterance_f1": float(np.mean(whole_f1))}

    print(f"| RECCON {args.fold} {args.split} | figure | value | reference |")
    print("|---|---|---|---|")
    print(f"| causal emotion entailment ({cee['rows']} rows) | macro-F1 | {cee['macro_f1']:.4f} | 0.7706 (RoBERTa-large, with history) |")
    print(f"| | positive F1 / negative F1 | {cee['pos_f1']:.4f} / {cee['neg_f1']:.4f} | |")
    print(f"| | baseline 'the target or the turn before', macro-F1 | {cee['rule_macro_f1']:.4f} | |")
    print(f"| | macro-F1 on {cee['unique_pairs']} unique pairs | {cee['unique_macro_f1']:.4f} | |")
    print(f"| cause span ({spans['questions']} questions) | SQuAD-2 F1, all questions | {spans['squad2_f1']:.4f} | 0.7571 |")
    print(f"| | F1 / EM, causal questions, oracle evidence | {spans['oracle_evidence_f1']:.4f} / {spans['oracle_evidence_em']:.4f} | |")
    print(f"| | baseline 'whole evidence utterance', F1, causal questions | {spans['whole_utterance_f1']:.4f} | |")
    result = {"split": args.split, "fold": args.fold, "cee": cee, "span": spans,
              "command": f"python -m eval.cause --split {args.split}"}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.record:
        from agent.perception.cause import ARTEFACT_DIR

        record(ARTEFACT_DIR / "metrics.json", args.split, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
