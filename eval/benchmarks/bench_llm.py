"""LLM backend throughput: the embedded SmolLM2 in-process, and vLLM (CPU build) through
``OpenAIChatModel``, one stream and many concurrent requests.

A "typical turn" is the generator's real prompt (system prompt for a character, four messages
of history, the user's message), answered with up to ``--max-new-tokens`` tokens. Tokens are
counted with the model's own tokenizer on the returned text.

    python -m eval.benchmarks.bench_llm                                   # embedded only
    .ci/vllm.sh start .cache/smollm2-hf 8011
    python -m eval.benchmarks.bench_llm --vllm-url http://127.0.0.1:8011/v1 --out eval/benchmarks/results_llm.md

Prints a Markdown table; ``--out`` also writes it with the machine and load named.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from agent.llm.base import ChatModel, Message
from agent.settings import Settings

USER_TURNS = [
    "I failed my driving test again today. Third time.",
    "I studied so hard and I still froze at the roundabout.",
    "Everyone else in my family passed the first time.",
    "I don't know if I should even try again.",
    "My instructor says I'm ready but I don't believe him.",
]


def typical_turn(turn: int = 0) -> list[Message]:
    """The generator's prompt for a turn of a supportive conversation."""
    from agent.generator import ResponseGenerator
    from agent.records import Character, Utterance

    history = [Utterance("user", "Hi Ada, can I talk to you about something?"),
               Utterance("assistant", "Of course, I'm here. What's on your mind?"),
               Utterance("user", "It's about my driving test."),
               Utterance("assistant", "I remember you were nervous about it. How did it go?")]
    state: Any = {"character": Character("Ada", "A retired nurse who is warm and patient."),
                  "history": history, "user_text": USER_TURNS[turn % len(USER_TURNS)]}
    return ResponseGenerator(None).messages(state)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu}), no GPU; load average "
            f"{load:.1f} at the start (the machine is shared)")


def count_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def time_stream(model: ChatModel, messages: list[Message], tokenizer: Any, **options: Any) -> dict[str, float]:
    """Time to first piece, and tokens per second over the whole call and after the first piece."""
    started = time.perf_counter()
    first = None
    pieces = []
    for piece in model.stream(messages, **options):
        if first is None:
            first = time.perf_counter() - started
        pieces.append(piece)
    total = time.perf_counter() - started
    tokens = count_tokens(tokenizer, "".join(pieces))
    first = first if first is not None else total
    return {"ttft_s": first, "tokens": tokens, "total_s": total,
            "tok_s": tokens / total if total else 0.0,
            "decode_tok_s": (tokens - 1) / (total - first) if tokens > 1 and total > first else 0.0}


def bench_streams(model: ChatModel, tokenizer: Any, turns: int, **options: Any) -> dict[str, float]:
    time_stream(model, typical_turn(0), tokenizer, **{**options, "max_new_tokens": 8})  # warm-up
    runs = [time_stream(model, typical_turn(i), tokenizer, **options) for i in range(turns)]
    return {"ttft_s": statistics.median(r["ttft_s"] for r in runs),
            "tok_s": sum(r["tokens"] for r in runs) / sum(r["total_s"] for r in runs),
            "decode_tok_s": statistics.median(r["decode_tok_s"] for r in runs),
            "tokens": statistics.mean(r["tokens"] for r in runs)}


async def bench_concurrent(model: ChatModel, tokenizer: Any, n: int, **options: Any) -> dict[str, float]:
    """``n`` conversations' turns in flight at once through the async API."""
    started = time.perf_counter()
    replies = await asyncio.gather(*(model.acomplete(typical_turn(i), **options) for i in range(n)))
    wall = time.perf_counter() - started
    tokens = sum(count_tokens(tokenizer, r) for r in replies)
    return {"requests": n, "tokens": tokens, "wall_s": wall, "tok_s": tokens / wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vllm-url", default=os.environ.get("KINDRED_TEST_VLLM_URL"),
                        help="OpenAI-compatible base URL of a vLLM server (skip vLLM rows if unset)")
    parser.add_argument("--vllm-model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--turns", type=int, default=3, help="timed turns per single-stream figure")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the embedded model")
    parser.add_argument("--out", type=Path, help="write the table to this Markdown file")
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from agent.llm.embedded import EmbeddedChatModel
    from agent.llm.weights import ensure_model_folder

    settings = Settings.load(config_file=None, llm={"threads": args.threads,
                                                    "max_new_tokens": args.max_new_tokens})
    tokenizer = AutoTokenizer.from_pretrained(ensure_model_folder(settings.model_dir))
    where = machine()
    options = {"max_new_tokens": args.max_new_tokens, "temperature": 0.7}
    prompt_tokens = count_tokens(tokenizer, tokenizer.apply_chat_template(
        typical_turn(0), tokenize=False, add_generation_prompt=True))
    rows: list[tuple[str, str, str, str]] = []
    single_vllm = None

    if not args.skip_embedded:
        model = EmbeddedChatModel.from_settings(settings).load()
        r = bench_streams(model, tokenizer, args.turns, **options)
        rows.append((f"embedded SmolLM2-135M, transformers fp32, {args.threads} threads, 1 stream",
                     f"{r['ttft_s']:.2f}", f"{r['tok_s']:.1f} ({r['decode_tok_s']:.1f} after the first)",
                     f"{r['tokens']:.0f} tokens/turn"))

    if args.vllm_url:
        from agent.llm.openai_compat import OpenAIChatModel

        client = OpenAIChatModel(args.vllm_url, args.vllm_model, timeout_s=600, max_retries=0)
        r = bench_streams(client, tokenizer, args.turns, **options)
        single_vllm = r["tok_s"]
        rows.append(("vLLM CPU build (bf16, eager) via OpenAIChatModel.stream, 1 conversation",
                     f"{r['ttft_s']:.2f}", f"{r['tok_s']:.1f} ({r['decode_tok_s']:.1f} after the first)",
                     f"{r['tokens']:.0f} tokens/turn"))
        c = asyncio.run(bench_concurrent(client, tokenizer, args.concurrency, **options))
        speedup = c["tok_s"] / single_vllm if single_vllm else float("nan")
        rows.append((f"vLLM CPU build via OpenAIChatModel.acomplete, {args.concurrency} concurrent",
                     "-", f"{c['tok_s']:.1f} aggregate ({speedup:.1f}x one stream)",
                     f"{c['tokens']} tokens in {c['wall_s']:.1f} s"))

    table = ["| backend | time to first token (s, median) | tokens/s | notes |",
             "|---|---|---|---|",
             *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)]
    text = "\n".join(table)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            "# LLM backends: throughput\n\n"
            f"Machine: {where}.\n\n"
            f"Command: `python -m eval.benchmarks.bench_llm {' '.join(sys.argv[1:] if argv is None else argv)}`".rstrip()
            + f"\n\nA typical turn: the generator's prompt ({prompt_tokens} tokens: system prompt, four "
            f"history messages, the user's message), up to {args.max_new_tokens} new tokens, "
            f"temperature 0.7; {args.turns} timed turns after a warm-up. No data split is involved "
            "(fixed hand-written turns).\n\n" + text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
