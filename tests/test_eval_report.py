"""Figures, the Markdown report beside the anchors, plots, and the judge's malformed answers."""

from __future__ import annotations

import asyncio
import json

import pytest

from agent.llm.base import ChatModel
from agent.records import Utterance
from eval.judge import EmpathyJudge, judge_messages, summarise, validate_rubric
from eval.report import compute_metrics, phase_of, write_report


def esconv_records():
    rows = []
    gold = ["Question", "Question", "Reflection of feelings", "Providing Suggestions"]
    pred = ["Question", "Reflection of feelings", "Reflection of feelings", "Question"]
    for k, (g, p) in enumerate(zip(gold, pred)):
        rows.append({"item_id": f"esconv:valid:0:{k}", "reply": "i am here for you", "reference": "i am here",
                     "gold_strategy": g, "strategy": p, "strategy_source": "planner", "position": k / 3,
                     "gold_emotion": "anxiety", "emotion": "anxious", "latency_s": 0.5,
                     "judge": {"emotion_acknowledged": 4, "cause_addressed": 2, "strategy_followed": 3,
                               "safe": "yes", "fluent": 5} if k else {"missing": "bad json"}})
    rows.append({"item_id": "esconv:valid:0:9", "error": "LLMUnavailable: down"})
    return rows


def test_esconv_figures():
    figures = compute_metrics(esconv_records(), "esconv")
    assert figures["items"] == 5 and figures["scored"] == 4 and figures["failed"] == 1
    assert figures["strategy"]["accuracy"] == pytest.approx(50.0)
    assert figures["strategy"]["confusion"]["matrix"][0][:3] == [1, 0, 1]  # gold Question: 1 right, 1 as Reflection
    assert figures["generation"]["distinct_1"] == pytest.approx(100 * 5 / 20)
    assert figures["emotion"]["coarse_accuracy"] == 100.0  # anxiety and anxious are both fear
    assert figures["judge"]["judged"] == 3 and figures["judge"]["missing"] == 1
    assert figures["judge"]["cause_addressed"] == 2.0
    assert set(figures["strategy"]["share_by_phase"]) == {"early", "middle", "late"}
    assert phase_of(0.0) == "early" and phase_of(0.5) == "middle" and phase_of(1.0) == "late"


def test_ed_emotion_accuracy_and_planner_off():
    rows = [{"item_id": str(k), "reply": "oh no", "reference": "oh no, why?", "gold_emotion": "afraid",
             "emotion": e, "strategy": None, "position": 0.2} for k, e in enumerate(["afraid", "terrified", "sad", "afraid"])]
    figures = compute_metrics(rows, "ed")
    assert figures["emotion"]["accuracy"] == 50.0
    assert figures["emotion"]["coarse_accuracy"] == 75.0  # terrified is fear too
    assert "strategy" not in figures
    assert compute_metrics([{"item_id": "x", "error": "boom"}], "ed") == {"items": 1, "scored": 0, "failed": 1}


def test_report_files(tmp_path):
    figures = compute_metrics(esconv_records(), "esconv")
    settings = {"dataset": "esconv", "split": "valid", "population": 2156, "seed": 13, "backend": "embedded",
                "model": "SmolLM2-135M-Instruct", "judge_model": "judge-x", "ablations": ["memory"],
                "command": "python -m eval --limit 5"}
    paths = write_report(tmp_path, figures, settings)
    data = json.loads(paths["json"].read_text())
    assert data["settings"]["seed"] == 13 and data["figures"]["strategy"]["n"] == 4
    md = paths["markdown"].read_text()
    assert "| SAGE | – | 11.87 | – | 20.51 | – | 39.86 | – |" in md
    assert "**Kindred** (valid, n=4)" in md and "judge-x" in md and "a seeded sample of 2156" in md
    assert "Components off: memory" in md
    for name in ("strategy_confusion", "strategy_by_phase", "emotion_coarse_confusion"):
        assert paths[name].stat().st_size > 1000
        assert f"plots/{name}.png" in md


class Scripted(ChatModel):
    name = "scripted"

    def __init__(self, answer):
        self.answer = answer
        self.schemas = []

    def _complete(self, messages, options):
        self.schemas.append(options.json_schema)
        return self.answer

    def _stream(self, messages, options):
        yield self.answer


@pytest.mark.parametrize("answer, reason", [
    ("not json at all", "MalformedOutput"),
    ('{"emotion_acknowledged": 9, "cause_addressed": 1, "strategy_followed": 1, "safe": "yes", "fluent": 1}', "outside 1-5"),
    ('{"emotion_acknowledged": 3}', "MalformedOutput"),
    ('{"emotion_acknowledged": 3, "cause_addressed": 1, "strategy_followed": 1, "safe": "maybe", "fluent": 1}', "yes or no"),
])
def test_malformed_judge_output_is_missing_not_a_crash(answer, reason):
    judge = EmpathyJudge(Scripted(answer), "scripted")
    out = asyncio.run(judge.ajudge([Utterance("user", "I lost my dog.")], "So sorry.", strategy="Question"))
    assert "missing" in out and reason in out["missing"]


def test_judge_uses_the_schema_and_prompt():
    model = Scripted('{"emotion_acknowledged": 5, "cause_addressed": 4, "strategy_followed": 3, "safe": "no", "fluent": 2}')
    out = asyncio.run(EmpathyJudge(model, "scripted").ajudge([Utterance("user", "I lost my dog.")], "So sorry.",
                                                             strategy="Question", emotion="sad"))
    assert out == {"emotion_acknowledged": 5, "cause_addressed": 4, "strategy_followed": 3, "fluent": 2, "safe": "no"}
    assert model.schemas[0]["required"] == ["emotion_acknowledged", "cause_addressed", "strategy_followed", "safe", "fluent"]
    text = judge_messages([Utterance("user", "I lost my dog.")], "So sorry.", strategy="Question", emotion="sad")[0]["content"]
    assert "Person: I lost my dog." in text and "Supporter: So sorry." in text and '"Question"' in text
    assert "{{" not in text and "sad" in text
    assert summarise([out])["safe_percent"] == 0.0
    assert validate_rubric({**out, "safe": True})["safe"] == "yes"
