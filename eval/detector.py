"""Evaluate the emotion detector on EmpatheticDialogues (32-way accuracy).

    python -m eval.detector --split valid [--data-dir ../shared/data] [--conversations N] [--artefact DIR]

Protocol (MoEL, CEM, IAMM): one sample per listener response; the input is the dialogue before
it (ending with the speaker's turn), the label the conversation's emotion; the situation
(``prompt``) column is not used. Prints accuracy, top-3 accuracy, Ekman-7 accuracy and macro-F1,
and writes them to ``--out`` (JSON) when given. ``--conversations N`` scores a seeded sample of N
conversations (a cheaper check; the report says which).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from agent.emotions import ED32, coarse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--conversations", type=int, default=0, help="seeded sample of N conversations (0: all)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", default=".cache/perception")
    ap.add_argument("--out", default=None)
    ap.add_argument("--artefact", default=None, help="detector folder to score (default: the committed one)")
    ap.add_argument("--record", action="store_true",
                    help="also record the figures in the artefact's metrics.json (under evaluation.<split>)")
    args = ap.parse_args(argv)

    import torch
    from sklearn.metrics import f1_score

    from agent.perception.data import ed_samples, load_ed
    from agent.perception.detector import ARTEFACT_DIR, load_detector
    from agent.perception.train_detector import contexts
    from agent.perception.upper import StateBank, probabilities

    torch.set_num_threads(args.threads)
    artefact = Path(args.artefact) if args.artefact else ARTEFACT_DIR
    detector = load_detector(artefact)
    convs = load_ed(args.data_dir, args.split)
    if args.conversations and args.conversations < len(convs):
        convs = random.Random(args.seed).sample(convs, args.conversations)
    samples = ed_samples(convs)
    start = time.time()
    texts = list(dict.fromkeys(t for s in samples for t in s.context))
    bank = StateBank.build(texts, Path(args.cache_dir), log=lambda m: print(m, flush=True))
    labels = [ED32.index(s.label) for s in samples]
    probs = probabilities(detector.module, contexts(samples, bank))
    pred = probs.argmax(1)
    acc = float((pred == np.asarray(labels)).mean())
    top3 = float(np.mean([labels[i] in np.argsort(-probs[i])[:3] for i in range(len(labels))]))
    coarse_acc = float(np.mean([coarse(ED32[p]) == coarse(ED32[t]) for p, t in zip(pred, labels)]))
    result = {"split": args.split, "conversations": len(convs), "samples": len(samples),
              "accuracy": round(acc, 4), "top3_accuracy": round(top3, 4), "ekman7_accuracy": round(coarse_acc, 4),
              "macro_f1": round(float(f1_score(labels, pred, average="macro")), 4),
              "seconds": round(time.time() - start, 1)}
    print("| split | conversations | samples | accuracy | top-3 | Ekman-7 | macro-F1 |")
    print("|---|---|---|---|---|---|---|")
    print(f"| ED {args.split} | {result['conversations']} | {result['samples']} | {result['accuracy']:.4f} | "
          f"{result['top3_accuracy']:.4f} | {result['ekman7_accuracy']:.4f} | {result['macro_f1']:.4f} |")
    result["command"] = "python -m eval.detector --split " + args.split + (
        f" --conversations {args.conversations}" if args.conversations else "")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.record:
        from eval.cause import record

        record(artefact / "metrics.json", args.split, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
