"""Runs the agent over evaluation items: concurrent, resumable, one JSONL line per finished item.

- **Concurrent.** Every item is an ``agent.arespond(dialogue)`` call; at most ``concurrency`` run
  at once (an ``asyncio.Semaphore``), so an OpenAI-compatible server (vLLM) sees up to that many
  requests together and batches them. With the embedded model, extra concurrency only queues on
  the model's lock.
- **Resumable.** Each finished item is appended to ``predictions.jsonl`` and flushed at once. With
  ``resume=True`` the items already there are skipped (a crashed run continues where it stopped;
  a half-written last line is ignored); without it an existing non-empty file is an error rather
  than silently overwritten. Items that failed (``"error"`` in the record) are retried on resume,
  and so are items that lack a judgement when the judge is on.
- **Fails fast** when the backend is plainly down: ``max_consecutive_errors`` failures in a row
  stop the run with the last error (what was finished stays in the file).

>>> import asyncio, tempfile, pathlib
>>> class Parrot:
...     async def arespond(self, dialogue, character=None):
...         from agent.records import TurnResult
...         return TurnResult("s", 0, dialogue[-1].text, reply="I hear you.")
>>> from eval.datasets import esconv_items_from_records
>>> items, _ = esconv_items_from_records([{"dialog": [{"speaker": "usr", "text": "Hi"},
...                                                   {"speaker": "sys", "text": "Hey", "strategy": "Question"}]}])
>>> out = pathlib.Path(tempfile.mkdtemp()) / "predictions.jsonl"
>>> [r["reply"] for r in asyncio.run(run_items(Parrot(), items, out, progress=False))]
['I hear you.']
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from agent.records import Character, TurnResult, Utterance
from eval.datasets import EvalItem


class RespondingAgent(Protocol):
    """What the runner needs of the agent: ``agent.sdk.Agent`` fits, and so does a test fake."""

    async def arespond(self, dialogue: Sequence[Utterance], *, character: Character | None = None) -> TurnResult: ...


class BackendDown(RuntimeError):
    """Too many items failed in a row; the message carries the last error."""


def read_predictions(path: str | Path) -> dict[str, dict]:
    """The records of a predictions file by ``item_id`` (the last record of an id wins; a
    half-written or corrupt line, as a crash leaves, is skipped with a note on stderr)."""
    path = Path(path)
    records: dict[str, dict] = {}
    if not path.exists():
        return records
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                records[record["item_id"]] = record
            except (json.JSONDecodeError, KeyError, TypeError):
                print(f"eval: {path}:{line_no}: skipping an unreadable line (an interrupted write?)",
                      file=sys.stderr)
    return records


def is_done(record: dict, *, judged: bool) -> bool:
    return "error" not in record and "reply" in record and (not judged or "judge" in record)


def prediction_record(item: EvalItem, result: TurnResult, latency_s: float) -> dict[str, Any]:
    """The JSONL record of one finished item: gold fields, the reply and the agent's annotations."""
    emotion, strategy = result.emotion, result.strategy
    return {
        "item_id": item.item_id, "dataset": item.dataset, "dialogue_id": item.dialogue_id,
        "turn_index": item.turn_index, "position": item.position, "reference": item.reference,
        "gold_strategy": item.strategy, "gold_emotion": item.emotion, "problem": item.problem,
        "reply": result.reply,
        "strategy": strategy.strategy if strategy else None,
        "stage": strategy.stage if strategy else None,
        "strategy_source": strategy.source if strategy else None,
        "emotion": emotion.label if emotion else None,
        "emotion_confidence": emotion.confidence if emotion else None,
        "emotion_top_k": [list(p) for p in emotion.top_k] if emotion else [],
        "emotion_coarse": emotion.coarse if emotion else None,
        "cause_spans": list(result.cause.spans) if result.cause else [],
        "reply_emotion": result.reply_emotion,
        "safety_risk": result.safety.risk, "safety_category": result.safety.category,
        "timings_ms": dict(result.timings_ms), "latency_s": round(latency_s, 4),
    }


async def run_items(agent: RespondingAgent, items: Sequence[EvalItem], out_path: str | Path, *,
                    concurrency: int = 8, resume: bool = False, judge: Any = None,
                    character: Character | None = None, progress: bool = True,
                    max_consecutive_errors: int = 25) -> list[dict]:
    """Run ``agent`` on every item not yet done; return the records of all ``items`` in order
    (items that still failed carry ``"error"``). ``judge`` is an ``eval.judge.EmpathyJudge``."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.exists() and out_path.stat().st_size > 0 and not resume:
        raise FileExistsError(f"{out_path} already holds predictions; pass --resume to continue "
                              "that run, or choose another --out")
    records = read_predictions(out_path) if resume else {}
    judged = judge is not None
    todo = [item for item in items if not is_done(records.get(item.item_id, {}), judged=judged)]

    semaphore = asyncio.Semaphore(concurrency)
    bar = _progress_bar(len(items), len(items) - len(todo), enabled=progress)
    errors_in_row = 0
    last_error = ""

    async def one(item: EvalItem) -> dict:
        async with semaphore:
            previous = records.get(item.item_id, {})
            t0 = time.perf_counter()
            try:
                if "reply" in previous and "error" not in previous:
                    record = dict(previous)  # only the judgement is missing
                else:
                    result = await agent.arespond(list(item.dialogue), character=character)
                    record = prediction_record(item, result, time.perf_counter() - t0)
                if judge is not None:
                    record["judge"] = await judge.ajudge(
                        item.dialogue, record["reply"], emotion=item.emotion,
                        strategy=record.get("strategy") or item.strategy)
                return record
            except Exception as exc:  # recorded per item; the run goes on
                return {"item_id": item.item_id, "error": f"{type(exc).__name__}: {exc}"[:500]}

    with out_path.open("a", encoding="utf-8") as sink:
        tasks = [asyncio.ensure_future(one(item)) for item in todo]
        try:
            for finished in asyncio.as_completed(tasks):
                record = await finished
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()  # one line per item on disk as soon as it is done
                records[record["item_id"]] = record
                if "error" in record:
                    errors_in_row, last_error = errors_in_row + 1, record["error"]
                    if errors_in_row >= max_consecutive_errors:
                        raise BackendDown(f"{errors_in_row} items failed in a row; last error: {last_error}")
                else:
                    errors_in_row = 0
                bar.update(1)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            bar.close()
    return [records.get(item.item_id, {"item_id": item.item_id, "error": "not run"}) for item in items]


def _progress_bar(total: int, done: int, *, enabled: bool):
    """A tqdm bar counting turns, with throughput (turns/s) and ETA of this run's pace."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="turn", dynamic_ncols=True, disable=not enabled,
                desc="eval", smoothing=0.1)
