"""Evaluation throughput through an OpenAI-compatible server (vLLM): turns/s at concurrency 1 vs 32.

Runs the evaluation runner (``eval.runner.run_items``) over the same seeded sample of ESConv reply
turns at each concurrency and prints a Markdown table: wall time, turns/s, prompt and generated
tokens (read from vLLM's Prometheus ``/metrics`` counters before and after each pass, so they are
the server's own counts), generated tokens/s, and the extrapolated time for the whole split.

By default the agent is the LLM alone (``--no-perception --no-planner --no-memory --no-transition
--no-safety``): on a 2-core CPU the in-process MiniLM components would compete with the vLLM
server for the same cores and hide what batching buys. ``--full-agent`` measures the whole agent.

    .ci/vllm.sh start .cache/smollm2-hf 8011        # or any running server
    python eval/benchmarks/bench_eval_throughput.py --base-url http://127.0.0.1:8011/v1 --n 64

The server's counters are global: another client using the same server during a pass inflates
the token figures (the script warns when requests were already running at the start).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from eval.datasets import load_items, sample_items, split_file  # noqa: E402
from eval.runner import run_items  # noqa: E402

_METRIC = re.compile(r'^(vllm:(?:prompt_tokens_total|generation_tokens_total|num_requests_running))\{[^}]*\}\s+([0-9.eE+-]+)$')


def server_counters(base_url: str) -> dict[str, float]:
    """vLLM's token counters and running requests (empty if the server exposes no /metrics)."""
    url = base_url.rstrip("/").removesuffix("/v1") + "/metrics"
    try:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _METRIC.match(line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    return out


def build_agent(args: argparse.Namespace, home: Path):
    from agent import Agent
    from agent.settings import Settings

    overrides: dict = {"llm": {"backend": "openai", "base_url": args.base_url, "model": args.model,
                               "max_new_tokens": args.max_new_tokens, "timeout_s": 600},
                       "store": {"url": f"sqlite:///{home / 'bench.db'}"}}
    if not args.full_agent:
        overrides.update(planner={"kind": "off"}, memory={"enabled": False}, transition={"kind": "off"},
                         perception={"enabled": False, "cause": False}, safety={"enabled": False})
    return Agent.from_settings(Settings.load(config_file=None, **overrides))


async def one_pass(agent, items, concurrency: int, folder: Path) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    records = await run_items(agent, items, folder / f"c{concurrency}.jsonl", concurrency=concurrency,
                              progress=False)
    return time.perf_counter() - t0, records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-url", default="http://127.0.0.1:8011/v1")
    p.add_argument("--model", default="SmolLM2-135M-Instruct")
    p.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--split", default="valid")
    p.add_argument("--n", type=int, default=64, help="reply turns per pass (a seeded sample)")
    p.add_argument("--n-serial", type=int, help="turns for the concurrency-1 pass (default --n): the "
                   "first ones of the same sample, since a serial pass over many turns takes long")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--full-agent", action="store_true", help="all components on (default: LLM only)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)

    items, _ = load_items("esconv", split_file(args.data_dir, "esconv", args.split), split=args.split)
    sample = sample_items(items, args.n, args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kindred-bench-") as tmp:
        agent = build_agent(args, Path(tmp))
        # One warm-up request, so that neither pass pays for connection set-up.
        asyncio.run(one_pass(agent, sample[:1], 1, Path(tmp) / "warm"))
        for c in args.concurrency:
            before = server_counters(args.base_url)
            if before.get("vllm:num_requests_running", 0) > 0:
                print(f"warning: {before['vllm:num_requests_running']:.0f} requests already running on "
                      "the server; token figures include them", file=sys.stderr)
            turns = sample[: args.n_serial] if c == 1 and args.n_serial else sample
            wall, records = asyncio.run(one_pass(agent, turns, c, Path(tmp)))
            after = server_counters(args.base_url)
            failed = sum("error" in r for r in records)
            prompt = after.get("vllm:prompt_tokens_total", 0) - before.get("vllm:prompt_tokens_total", 0)
            gen = after.get("vllm:generation_tokens_total", 0) - before.get("vllm:generation_tokens_total", 0)
            n = len(turns)
            rows.append({"concurrency": c, "turns": n, "failed": failed, "wall_s": wall,
                         "turns_per_s": n / wall, "prompt_tokens": prompt,
                         "generated_tokens": gen, "generated_tokens_per_s": gen / wall,
                         "prompt_tokens_per_turn": prompt / n, "generated_tokens_per_turn": gen / n,
                         "full_split_turns": len(items), "full_split_s": len(items) * wall / n})
            print(f"concurrency {c}: {wall:.1f} s, {failed} failed", file=sys.stderr)
        agent.close()

    what = "whole agent" if args.full_agent else "LLM only (components off)"
    print(f"ESConv {args.split}, a seeded sample of {len(sample)} of {len(items)} reply turns (seed {args.seed}), {what}, "
          f"max {args.max_new_tokens} new tokens, server {args.base_url} ({args.model})\n")
    print("| Concurrency | Turns | Wall (s) | Turns/s | Gen. tokens/s | Prompt tok/turn | Gen. tok/turn | "
          f"Full {args.split} ({len(items)} turns), extrapolated |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['turns']} | {r['wall_s']:.1f} | {r['turns_per_s']:.3f} | {r['generated_tokens_per_s']:.1f} | "
              f"{r['prompt_tokens_per_turn']:.0f} | {r['generated_tokens_per_turn']:.1f} | "
              f"{r['full_split_s'] / 60:.1f} min |")
    if len(rows) > 1:
        print(f"\nSpeed-up, concurrency {rows[-1]['concurrency']} over {rows[0]['concurrency']}: "
              f"{rows[-1]['turns_per_s'] / rows[0]['turns_per_s']:.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
