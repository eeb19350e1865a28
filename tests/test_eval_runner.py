"""The evaluation runner over a fake agent: concurrency bound, JSONL per item, resume after a crash."""

from __future__ import annotations

import asyncio
import json

import pytest

from agent.records import EmotionReading, StrategyChoice, TurnResult
from eval.datasets import esconv_items_from_records
from eval.runner import BackendDown, read_predictions, run_items


def make_items(n_dialogues=3):
    records = [{"emotion_type": "sadness", "dialog": [
        {"speaker": "usr", "text": f"I feel low {d}"},
        {"speaker": "sys", "text": "Why is that?", "strategy": "Question"},
        {"speaker": "usr", "text": "Work."},
        {"speaker": "sys", "text": "That is hard.", "strategy": "Reflection of feelings"},
    ]} for d in range(n_dialogues)]
    return esconv_items_from_records(records, split="valid")[0]


class FakeAgent:
    """Answers after a short sleep; records how many calls overlap; can crash on one turn."""

    def __init__(self, crash_on: str | None = None, fail_all: bool = False):
        self.calls, self.active, self.peak = [], 0, 0
        self.crash_on, self.fail_all = crash_on, fail_all

    async def arespond(self, dialogue, *, character=None):
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(0.01)
            text = dialogue[-1].text
            self.calls.append(text)
            if self.fail_all:
                raise ConnectionError("server refused")
            if self.crash_on and self.crash_on in text:
                raise KeyboardInterrupt  # the whole run dies, as with a killed process
            return TurnResult("ephemeral", 0, text, reply=f"I hear you: {text}",
                              emotion=EmotionReading("sad", 0.7, (("sad", 0.7),), "sadness"),
                              strategy=StrategyChoice("Question", "exploration"))
        finally:
            self.active -= 1


def test_runs_concurrently_up_to_the_bound(tmp_path):
    agent, items = FakeAgent(), make_items(5)
    out = tmp_path / "predictions.jsonl"
    records = asyncio.run(run_items(agent, items, out, concurrency=3, progress=False))
    assert agent.peak == 3
    assert [r["item_id"] for r in records] == [i.item_id for i in items]
    assert records[0]["reply"] == "I hear you: I feel low 0" and records[0]["strategy"] == "Question"
    assert records[0]["gold_strategy"] == "Question" and records[0]["emotion"] == "sad"
    assert len(out.read_text().splitlines()) == len(items)


def test_resume_skips_finished_items_after_a_crash(tmp_path):
    items, out = make_items(3), tmp_path / "predictions.jsonl"
    crashing = FakeAgent(crash_on="I feel low 2")
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(run_items(crashing, items, out, concurrency=1, progress=False))
    finished = read_predictions(out)
    assert set(finished) == {i.item_id for i in items[:4]}  # dialogues 0 and 1 made it to disk
    with out.open("a") as f:
        f.write('{"item_id": "esconv:valid:2:1", "rep')  # a half-written line, as a crash leaves
    with pytest.raises(FileExistsError):
        asyncio.run(run_items(FakeAgent(), items, out, progress=False))
    again = FakeAgent()
    records = asyncio.run(run_items(again, items, out, concurrency=2, resume=True, progress=False))
    assert sorted(again.calls) == ["I feel low 2", "Work."]  # only the two unfinished items
    assert all("reply" in r for r in records) and len(records) == 6


def test_failures_are_recorded_then_retried(tmp_path):
    items, out = make_items(1), tmp_path / "p.jsonl"
    records = asyncio.run(run_items(FakeAgent(fail_all=True), items, out, progress=False))
    assert all("ConnectionError: server refused" in r["error"] for r in records)
    records = asyncio.run(run_items(FakeAgent(), items, out, resume=True, progress=False))
    assert all("error" not in r for r in records)


def test_stops_when_the_backend_is_down(tmp_path):
    with pytest.raises(BackendDown, match="server refused"):
        asyncio.run(run_items(FakeAgent(fail_all=True), make_items(10), tmp_path / "p.jsonl",
                              concurrency=2, progress=False, max_consecutive_errors=5))


def test_judge_runs_on_resume_for_unjudged_items(tmp_path):
    class Judge:
        def __init__(self):
            self.seen = []

        async def ajudge(self, dialogue, reply, *, strategy=None, emotion=None):
            self.seen.append((reply, strategy, emotion))
            return {"emotion_acknowledged": 4, "cause_addressed": 3, "strategy_followed": 5,
                    "safe": "yes", "fluent": 5}

    items, out = make_items(1), tmp_path / "p.jsonl"
    asyncio.run(run_items(FakeAgent(), items, out, progress=False))
    agent, judge = FakeAgent(), Judge()
    records = asyncio.run(run_items(agent, items, out, resume=True, judge=judge, progress=False))
    assert agent.calls == []  # replies reused, only judged
    assert judge.seen[0][1:] == ("Question", "sadness")
    assert all(r["judge"]["safe"] == "yes" for r in records)
    assert len([json.loads(x) for x in out.read_text().splitlines()]) == 4
