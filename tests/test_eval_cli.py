"""The ``python -m eval`` command line: ablation switches, a whole run over a fake agent, resume guard."""

from __future__ import annotations

import json

import pytest

import eval.__main__ as cli
from tests.test_eval_datasets import THU, write_jsonl
from tests.test_eval_runner import FakeAgent


def test_ablations_map_onto_settings(tmp_path):
    args = cli.parser().parse_args(["--no-planner", "--no-cause", "--no-memory", "--no-transition",
                                    "--backend", "openai", "--base-url", "http://x:1/v1", "--model", "m"])
    s = cli.agent_settings(args, tmp_path)
    assert s.planner.kind == "off" and s.perception.cause is False and s.memory.enabled is False
    assert s.transition.kind == "off" and s.perception.enabled is True and s.safety.enabled is True
    assert (s.llm.backend, s.llm.base_url, s.llm.model) == ("openai", "http://x:1/v1", "m")
    assert s.store_url.startswith("sqlite:///") and str(tmp_path) in s.store_url
    off = cli.agent_settings(cli.parser().parse_args(["--no-perception", "--no-safety"]), tmp_path)
    assert off.perception.enabled is False and off.safety.enabled is False
    judge = cli.agent_settings(cli.parser().parse_args(["--judge-backend", "openai", "--judge-model", "big"]),
                               tmp_path, judge=True)
    assert (judge.llm.backend, judge.llm.model) == ("openai", "big")


def test_whole_run_then_resume_guard_and_report_only(tmp_path, monkeypatch, capsys):
    data = tmp_path / "test.txt"
    write_jsonl(data, THU * 2)
    out = tmp_path / "out"

    class FakeSDK:
        @staticmethod
        def from_settings(settings):
            agent = FakeAgent()
            agent.close = lambda: None
            return agent

    import agent as agent_pkg

    monkeypatch.setattr(agent_pkg, "Agent", FakeSDK, raising=False)
    argv = ["--dataset", "esconv", "--split", "test", "--file", str(data), "--out", str(out),
            "--no-progress", "--no-plots"]
    assert cli.main(argv) == 0
    report = (out / "report.md").read_text()
    assert "**Kindred** (test, n=4)" in report
    figures = json.loads((out / "results.json").read_text())["figures"]
    assert figures["strategy"]["n"] == 4 and figures["scored"] == 4
    with pytest.raises(SystemExit, match="already holds a run"):
        cli.main(argv)
    with pytest.raises(SystemExit, match="different settings"):
        cli.main([*argv, "--resume", "--limit", "2"])
    assert cli.main([*argv, "--resume"]) == 0  # nothing left to do
    assert cli.main([*argv, "--report-only"]) == 0
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 4


def test_component_dispatch_names_missing_modules():
    with pytest.raises(SystemExit, match="usage"):
        cli.main(["component", "nope"])


def test_kindred_eval_passes_its_arguments_to_python_m_eval(monkeypatch):
    from agent.cli import main as kindred

    seen = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(argv) or 0)
    assert kindred(["eval", "--dataset", "ed", "--limit", "3"]) == 0
    assert seen == [["--dataset", "ed", "--limit", "3"]]
