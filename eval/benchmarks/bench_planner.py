"""Planner latency per turn on this CPU. Prints a Markdown table.

    python -m eval.benchmarks.bench_planner [--data-dir ../shared/data] [--turns 200] [--llm 20]

Scenarios (dialogues from ESConv valid, cut at supporter turns):
- ``trained, vectors given``: the graph's case - the turn encoder already holds the MiniLM vectors
  (``TurnEncoding``) and the store passes ``previous_strategies``: the MLP and decoding only;
- ``trained, warm encoder``: the planner encodes the utterances itself, all but the newest cached
  (a live conversation without the shared turn encoder);
- ``trained, cold, tagged history``: nothing cached, no ``previous_strategies``: every utterance
  in the window is encoded and the assistant ones tagged (first call on an imported dialogue);
- ``prior``: the positional prior;
- ``llm`` (``--llm N``): the zero-shot LLM planner with the embedded SmolLM2 backend.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path


def _row(name: str, seconds: list[float]) -> str:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"| {name} | {len(ms)} | {statistics.mean(ms):.2f} | {statistics.median(ms):.2f} | {p95:.2f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--llm", type=int, default=0, help="also time the LLM planner on N turns")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from agent.perception.encoder import MiniLMTurnEncoder, TurnEncoding
    from agent.planner import load_planner
    from agent.planner.data import load_examples
    from agent.planner.model import TrainedPlanner

    examples = [e for e in load_examples(args.data_dir, "valid") if e.context]
    sample = random.Random(0).sample(examples, min(args.turns, len(examples)))
    encoder = MiniLMTurnEncoder()
    encoder.encode_texts(["warm-up"])
    rows = []

    planner = TrainedPlanner.load(encoder=encoder)
    times = []
    for ex in sample:
        enc = TurnEncoding(sentence=None, utterances=encoder.encode_texts([u.text for u in ex.context[-8:]]))
        t0 = time.perf_counter()
        planner.plan(ex.context, encoding=enc, previous_strategies=ex.previous_strategies)
        times.append(time.perf_counter() - t0)
    rows.append(_row("trained, vectors given (graph)", times))

    times = []
    for ex in sample:  # a fresh cache holding everything but the newest utterance
        warm = MiniLMTurnEncoder(embedder=encoder.embedder)
        warm.encode_texts([u.text for u in ex.context[:-1]])
        live = TrainedPlanner.load(encoder=warm)
        t0 = time.perf_counter()
        live.plan(ex.context, previous_strategies=ex.previous_strategies)
        times.append(time.perf_counter() - t0)
    rows.append(_row("trained, warm encoder (1 new utterance)", times))

    times = []
    for ex in sample[: max(1, len(sample) // 10)]:
        cold = TrainedPlanner.load(encoder=MiniLMTurnEncoder(embedder=encoder.embedder))
        t0 = time.perf_counter()
        cold.plan(ex.context)
        times.append(time.perf_counter() - t0)
    rows.append(_row("trained, cold, tagged history", times))

    prior = load_planner("prior")
    times = []
    for ex in sample:
        t0 = time.perf_counter()
        prior.plan(ex.context)
        times.append(time.perf_counter() - t0)
    rows.append(_row("prior", times))

    if args.llm:
        from eval.planner import build_planner

        llm = build_planner("llm")
        llm.plan(sample[0].context)  # load the model outside the timing
        times = []
        for ex in sample[: args.llm]:
            t0 = time.perf_counter()
            llm.plan(ex.context, previous_strategies=ex.previous_strategies)
            times.append(time.perf_counter() - t0)
        rows.append(_row("llm (embedded SmolLM2-135M, 8 scored choices)", times))

    print(f"Planner latency per turn, ESConv valid turns, this 2-core CPU (torch threads={args.threads}):\n")
    print("| scenario | turns | mean ms | median ms | p95 ms |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
