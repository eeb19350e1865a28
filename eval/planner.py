"""Evaluate strategy planners on ESConv: every supporter turn, given the gold dialogue before it.

    python -m eval.planner --split valid [--planner trained|llm|prior|trained,llm] [--limit N]
                           [--history gold|tagged] [--data-dir ../shared/data] [--json out.json]
                           [--backend openai --base-url http://127.0.0.1:8000/v1]  # LLM planner on vLLM

Protocol: for each supporter turn the planner gets the gold preceding dialogue (usr -> "user",
sys -> "assistant"), the seeker's ESConv emotion type (dialogue level), and the strategy history:
``gold`` (the annotated strategies of the earlier supporter turns, as in the published ESConv
planners) or ``tagged`` (none given: the planner reads them from the text, as the agent does
without a store). Supporter turns that open a dialogue (no context) use ``plan_opening`` of the
trained planner for every planner. ``--limit N`` evaluates a random sample of N turns (seed 0),
the same sample for every planner listed. Prints a Markdown table: accuracy, macro-F1 (= Q),
weighted-F1 (x100) and the preference bias B (Kang et al.); the MiniLM vectors come from the
corpus cache, so latency here excludes sentence encoding (see eval/benchmarks/bench_planner.py).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from agent.planner.data import esconv_path, examples_from_dialogue, read_dialogues, split_texts
from agent.records import EmotionReading
from eval.strategy_metrics import strategy_report


def build_planner(kind: str, settings=None):
    """``kind``'s planner; the LLM planner's model is the settings' backend (embedded by default,
    or an OpenAI-compatible server such as vLLM with ``--backend openai --base-url URL``)."""
    from agent.planner import load_planner

    if kind != "llm":
        return load_planner(kind)
    from agent.llm import make_chat_model
    from agent.settings import Settings

    settings = settings or Settings.load()
    # The choice is constrained to the eight strategies (scored or by structured output): no sampling.
    return load_planner("llm", chat_model=make_chat_model(settings))


def turns(data_dir: Path, split: str) -> list[tuple]:
    """(example, vectors of its context) for every supporter turn of ``split``."""
    from agent.perception.embedder import encode_cached

    records = list(read_dialogues(esconv_path(data_dir, split)))
    vectors = encode_cached(split_texts(data_dir, split))
    out, offset = [], 0
    for d, record in enumerate(records):
        for ex in examples_from_dialogue(record, d):
            out.append((ex, vectors[offset: offset + ex.turn_index]))
        offset += len(record["dialog"])
    return out


def evaluate(planner, sample: list[tuple], history: str, opener) -> dict:
    from agent.perception.encoder import TurnEncoding

    gold, pred, stages, seconds = [], [], {}, []
    for ex, vecs in sample:
        emotion = EmotionReading(label=ex.emotion or "unknown", confidence=1.0)
        t0 = time.perf_counter()
        if not ex.context:
            choice = opener.plan_opening(emotion=emotion)
        else:
            encoding = TurnEncoding(sentence=vecs[-1], utterances=vecs)
            choice = planner.plan(ex.context, emotion=emotion, encoding=encoding,
                                  previous_strategies=ex.previous_strategies if history == "gold" else None)
        seconds.append(time.perf_counter() - t0)
        gold.append(ex.strategy)
        pred.append(choice.strategy)
        stages[choice.stage] = stages.get(choice.stage, 0) + 1
    report = strategy_report(gold, pred)
    report["stage_share"] = {k: v / len(sample) for k, v in sorted(stages.items())}
    report["ms_per_turn"] = 1000 * float(np.mean(seconds))
    report["fallbacks"] = getattr(planner, "fallbacks", 0)
    return report


def markdown(rows: list[tuple[str, dict]], split: str, history: str) -> str:
    lines = [f"| planner (ESConv {split}, {history} history) | turns | accuracy | macro-F1 (Q) | weighted-F1 | B | ms/turn |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows:
        lines.append(f"| {name} | {r['n']} | {100 * r['accuracy']:.2f} | {100 * r['macro_f1']:.2f} | "
                     f"{100 * r['weighted_f1']:.2f} | {r['B']:.3f} | {r['ms_per_turn']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Strategy-planner evaluation on ESConv")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--split", default="valid", choices=("train", "valid", "test"))
    parser.add_argument("--planner", default="trained", help="comma list of trained, llm, prior")
    parser.add_argument("--history", default="gold", choices=("gold", "tagged"))
    parser.add_argument("--limit", type=int, default=None, help="random sample of N supporter turns (seed 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the full reports here")
    parser.add_argument("--backend", choices=("embedded", "openai"), default=None,
                        help="the LLM planner's backend (default: the settings')")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", default=None, help="model name on that server")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")

    from agent.planner.model import TrainedPlanner

    sample = turns(args.data_dir, args.split)
    if args.limit is not None and args.limit < len(sample):
        sample = random.Random(args.seed).sample(sample, args.limit)
    opener = TrainedPlanner.load()
    from agent.settings import Settings

    llm = {k: v for k, v in (("backend", args.backend), ("base_url", args.base_url), ("model", args.model)) if v}
    settings = Settings.load(config_file=None, llm=llm) if llm else None
    rows = []
    for kind in [k.strip() for k in args.planner.split(",") if k.strip()]:
        report = evaluate(build_planner(kind, settings), sample, args.history, opener)
        rows.append((kind, report))
        print(f"{kind}: " + json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "weighted_f1", "B", "fallbacks")}),
              file=sys.stderr, flush=True)
    print(markdown(rows, args.split, args.history))
    if args.json:
        args.json.write_text(json.dumps({"split": args.split, "history": args.history, "limit": args.limit,
                                         "reports": dict(rows)}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
