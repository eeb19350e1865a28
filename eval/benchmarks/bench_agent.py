"""Benchmark of the agent itself (issue 2): per-turn overhead of the graph and the store, and
reply throughput through the SDK's async API against an OpenAI-compatible (vLLM) server.

    python -m eval.benchmarks.bench_agent                       # overhead only
    python -m eval.benchmarks.bench_agent --vllm http://127.0.0.1:8765/v1 --tokenizer .cache/vllm-model

Overhead: turns through ``Agent.chat`` with an instant LLM (so the LLM costs nothing), on a
SQLite file, (a) with every component off — the graph and the store alone — and (b) with the real
components (safety gate, shared encoder, detector, cause finder, memory, transition, planner).
Throughput: replies per second and generated tokens per second, one conversation at a time vs
``--concurrency`` conversations at once through ``Agent.achat``; components off, so the figure
is about the SDK not serialising requests. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator

from agent import Agent, Character, Settings
from agent.llm.base import ChatModel

_OFF = dict(encoder=None, detector=None, cause_finder=None, memory=None, transition=None,
            planner=None, safety=None)


class InstantChatModel(ChatModel):
    """Answers at once with a fixed reply: isolates everything but the LLM."""

    name = "instant"

    def _complete(self, messages, options):
        return options.choices[0] if options.choices else "I hear you, and I am here."

    def _stream(self, messages, options) -> Iterator[str]:
        yield from ("I hear", " you,", " and I", " am here.")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_overhead(turns: int, full: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.load(config_file=None, home=home)
        bot = Agent.from_settings(settings, chat_model=InstantChatModel(), **({} if full else _OFF))
        bot.create_character(Character("Ada", "A retired nurse who loves the sea."))
        session = bot.start_session("Ada", user_id="bench")
        texts = ["I lost my job today and I don't know what to tell my family.",
                 "My sister said it wasn't my fault, but I still feel ashamed.",
                 "I have an interview next week. I'm scared I'll mess it up again."]
        for text in texts:  # warm-up: model loading and first-call costs are not per-turn costs
            bot.chat(session.id, text)
        times = []
        for i in range(turns):
            t0 = time.perf_counter()
            bot.chat(session.id, texts[i % len(texts)])
            times.append((time.perf_counter() - t0) * 1000)
        bot.close()
    return {"median_ms": statistics.median(times), "p95_ms": _percentile(times, 0.95), "turns": turns}


async def _conversation(bot: Agent, session_id: str, turns: int, count_tokens) -> tuple[int, int]:
    replies = tokens = 0
    for t in range(turns):
        result = await bot.achat(session_id, f"Turn {t}: I keep thinking about my exam results.")
        replies += 1
        tokens += count_tokens(result.reply)
    return replies, tokens


def bench_throughput(base_url: str, model: str, tokenizer: str, concurrency: int, turns: int,
                     max_new_tokens: int) -> list[dict[str, float]]:
    from transformers import AutoTokenizer

    from agent.llm.openai_compat import OpenAIChatModel

    tok = AutoTokenizer.from_pretrained(tokenizer)

    def count_tokens(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False))

    rows = []
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.load(config_file=None, home=home,
                                 llm={"max_new_tokens": max_new_tokens, "temperature": 0.7})
        llm = OpenAIChatModel(base_url, model, timeout_s=600, max_retries=0)
        bot = Agent.from_settings(settings, chat_model=llm, **_OFF)
        bot.create_character(Character("Ada"))
        for n in (1, concurrency):
            sessions = [bot.start_session("Ada", user_id=f"u{i}") for i in range(n)]

            async def run_all(sessions):
                return await asyncio.gather(*(_conversation(bot, s.id, turns, count_tokens) for s in sessions))

            t0 = time.perf_counter()
            results = asyncio.run(run_all(sessions))
            elapsed = time.perf_counter() - t0
            replies = sum(r for r, _ in results)
            tokens = sum(t for _, t in results)
            rows.append({"conversations": n, "replies": replies, "tokens": tokens, "seconds": elapsed,
                         "replies_per_s": replies / elapsed, "tokens_per_s": tokens / elapsed})
        bot.close()
    return rows


def bench_load(base_url: str, model: str, sessions: int, turns: int, max_new_tokens: int) -> dict[str, float]:
    """``sessions`` conversations of ``turns`` turns at once; latency of each ``achat`` call."""
    from agent.llm.openai_compat import OpenAIChatModel

    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.load(config_file=None, home=home, llm={"max_new_tokens": max_new_tokens})
        bot = Agent.from_settings(settings, chat_model=OpenAIChatModel(base_url, model, timeout_s=600),
                                  **_OFF)
        bot.create_character(Character("Ada"))
        ids = [bot.start_session("Ada", user_id=f"u{i}").id for i in range(sessions)]

        async def converse(session_id: str) -> None:
            for t in range(turns):
                t0 = time.perf_counter()
                await bot.achat(session_id, f"Turn {t}: today was hard.")
                latencies.append((time.perf_counter() - t0) * 1000)

        async def run_all():
            await asyncio.gather(*(converse(s) for s in ids))

        t0 = time.perf_counter()
        asyncio.run(run_all())
        elapsed = time.perf_counter() - t0
        stored = sum(len(bot.history(s)) for s in ids)
        bot.close()
    return {"turns": len(latencies), "stored": stored, "seconds": elapsed,
            "p50_ms": statistics.median(latencies), "p95_ms": _percentile(latencies, 0.95)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--no-full", action="store_true", help="skip the run with real components")
    parser.add_argument("--vllm", help="base URL of an OpenAI-compatible server")
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--tokenizer", default=".cache/vllm-model", help="folder to count tokens with")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--vllm-turns", type=int, default=2, help="turns per conversation")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--load", action="store_true", help="also 50 sessions x 10 turns at once (--vllm)")
    args = parser.parse_args(argv)

    print("### Per-turn overhead of graph and store (instant LLM, SQLite file)\n")
    print("| configuration | turns | median ms | p95 ms |\n|---|---|---|---|")
    configs = [("graph + store, components off", False)] + ([] if args.no_full else [("all components on", True)])
    for label, full in configs:
        r = bench_overhead(args.turns, full)
        print(f"| {label} | {r['turns']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} |", flush=True)

    if args.vllm:
        print(f"\n### Replies through Agent.achat against {args.vllm} (components off, "
              f"max_new_tokens={args.max_new_tokens})\n")
        print("| conversations at once | replies | tokens | seconds | replies/s | tokens/s |\n|---|---|---|---|---|---|")
        rows = bench_throughput(args.vllm, args.model, args.tokenizer, args.concurrency,
                                args.vllm_turns, args.max_new_tokens)
        for r in rows:
            print(f"| {r['conversations']} | {r['replies']} | {r['tokens']} | {r['seconds']:.1f} | "
                  f"{r['replies_per_s']:.2f} | {r['tokens_per_s']:.1f} |")
        print(f"\nAggregate speed-up at {args.concurrency} conversations: "
              f"{rows[1]['tokens_per_s'] / rows[0]['tokens_per_s']:.1f}x tokens/s")
    if args.vllm and args.load:
        r = bench_load(args.vllm, args.model, 50, 10, 16)
        print("\n### Load: 50 sessions x 10 turns at once through Agent.achat (max_new_tokens=16)\n")
        print("| turns | stored | seconds | p50 ms | p95 ms |\n|---|---|---|---|---|")
        print(f"| {r['turns']} | {r['stored']} | {r['seconds']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} |")


if __name__ == "__main__":
    main()
