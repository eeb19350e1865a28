"""The demo's logic without a browser: renderers, the page's handlers over the fakes, app.py."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent import Agent, Character, Settings, Traits
from agent.demo import DemoController, build_demo
from agent.demo_panels import (cause_highlights, cause_note, emotion_confidences, format_experiences,
                               memories_html, parse_experiences, safety_html, session_choices,
                               strategy_html)
from agent.demo_plots import trajectory, trajectory_figure
from agent.llm.base import LLMUnavailable
from agent.records import (VAD, CauseReading, EmotionReading, MemoryUnit, RecalledMemory, SafetyVerdict,
                           SessionInfo, StrategyChoice, TurnResult)
from tests.fakes import (ContagionTransition, EchoChatModel, FirstAllowedPlanner, KeywordDetector,
                         LastTurnCause, WordGate)

REPO = Path(__file__).resolve().parents[1]


# -- renderers --------------------------------------------------------------------------------------

def test_cause_words_are_highlighted_case_insensitively_and_merged():
    # hand-checked: "exam" and "failed my" overlap nothing; "My exam" overlaps "exam" -> one mark
    text = "I failed my exam. My exam was hard."
    pieces = cause_highlights(text, CauseReading(spans=("failed my", "exam", "my EXAM")))
    assert "".join(p for p, _ in pieces) == text
    assert [p for p, label in pieces if label == "cause"] == ["failed my exam", "My exam"]


def test_cause_outside_the_message_is_named_not_highlighted():
    cause = CauseReading(utterance_indices=(0,), spans=("lost my job",))
    assert cause_highlights("I can't sleep", cause) == [("I can't sleep", None)]
    assert "lost my job" in cause_note("I can't sleep", cause)
    assert cause_highlights("", cause) == [] and cause_highlights("hi", None) == [("hi", None)]


def test_emotion_confidences_include_the_label():
    reading = EmotionReading("sad", 0.7, top_k=(("lonely", 0.2),))
    assert emotion_confidences(reading) == {"lonely": 0.2, "sad": 0.7}
    assert emotion_confidences(None) is None


def test_panels_escape_text_and_show_crisis():
    memory = RecalledMemory(id="1", kind="experience", text="<script>x</script>", emotion="sad", score=0.5)
    assert "&lt;script&gt;" in memories_html([memory]) and "<script>" not in memories_html([memory])
    assert "switched off" in memories_html([], enabled=False)
    crisis = safety_html(SafetyVerdict(risk=True, category="suicide", score=0.9, resource="Call 988"))
    assert "Crisis detected: suicide" in crisis and "Call 988" in crisis and "role='alert'" in crisis
    assert "no crisis" in safety_html(SafetyVerdict())
    html = strategy_html(StrategyChoice("Question", "exploration", distribution=(("Question", 0.75),)))
    assert "Question" in html and "exploration" in html and "width:75%" in html
    assert "—" in strategy_html(None)


def test_experiences_round_trip():
    text = "proud: I won the regatta\n\n- I moved to Oslo\nsad: the boat sank: all of it"
    assert parse_experiences(text) == [
        {"text": "I won the regatta", "emotion": "proud"},
        {"text": "I moved to Oslo", "emotion": None},
        {"text": "the boat sank: all of it", "emotion": "sad"}]
    units = [MemoryUnit("c", "experience", "I won", emotion="proud"), MemoryUnit("c", "profile", "A sailor.")]
    assert format_experiences(units) == "proud: I won"


def test_session_choices_label_turns():
    [(label, sid)] = session_choices([SessionInfo("s1", "c", "u", title="Exams", updated_at=1e9, turn_count=1)])
    assert sid == "s1" and label.startswith("Exams · 1 turn ·")


def test_trajectory_starts_at_baseline_and_leaves_gaps():
    turns = [TurnResult("s", 0, "a", "b", agent_vad=VAD(0.1, 0.2, 0.3),
                        emotion=EmotionReading("sad", 0.9, valence=-0.5)),
             TurnResult("s", 1, "c", "d", safety=SafetyVerdict(risk=True))]
    points = trajectory(turns, VAD(0.2, 0.0, 0.1))
    assert points.turns == [0, 1, 2] and points.valence[:2] == [0.2, 0.1]
    assert math.isnan(points.valence[2]) and math.isnan(points.user_valence[0])
    assert points.user_valence[1] == -0.5 and points.crisis_turns == [2]
    fig = trajectory_figure(points)
    assert len(fig.axes[0].lines) == 5  # zero line + V, A, D + the user's valence
    import matplotlib.pyplot as plt

    plt.close(fig)
    plt.close(trajectory_figure(trajectory([])))  # an empty session draws too


# -- the handlers over the fakes ---------------------------------------------------------------------

def make_agent(tmp_path, chat_model=None) -> Agent:
    settings = Settings.load(config_file=None, home=tmp_path)
    return Agent.from_settings(settings, chat_model=chat_model or EchoChatModel(), encoder=None,
                               detector=KeywordDetector(), cause_finder=LastTurnCause(), memory=None,
                               transition=ContagionTransition(), planner=FirstAllowedPlanner(),
                               safety=WordGate())


@pytest.fixture
def page(tmp_path):
    agent = make_agent(tmp_path)
    agent.create_character(Character("Ada", traits=Traits(agreeableness=0.9)))

    def factory(settings):
        if settings.llm.backend == "openai":
            class Down(EchoChatModel):
                def _stream(self, messages, options):
                    raise LLMUnavailable("connection refused")
            return Down()
        return EchoChatModel()

    demo = build_demo(agent, chat_model_factory=factory)
    ctl: DemoController = demo.controller
    yield ctl
    agent.close()


def values(ctl: DemoController, updates: dict) -> dict:
    """Updates keyed by component name."""
    names = {id(component): name for name, component in ctl.ui.items()}
    return {names[id(component)]: value for component, value in updates.items() if id(component) in names}


def run_turn(ctl, text, session_id=""):
    character = ctl.agent.list_characters()[0].id
    steps = [values(ctl, u) for u in ctl.send(text, [], session_id, character)]
    return steps


def test_send_streams_tokens_and_annotations_then_stores_the_turn(page):
    steps = run_turn(page, "I feel sad today")
    session_id = steps[0]["session_id"]
    streamed = [s["chatbot"][-1]["content"] for s in steps if "chatbot" in s]
    assert streamed[-1] == "I hear you: I feel sad today" and len(streamed) > 3  # token by token
    assert any((s.get("emotion") or {}).get("sad") == 0.8 for s in steps)
    final = steps[-1]
    assert "Question" in final["strategy"] and "no crisis" in final["safety"]
    assert ("I feel sad today", "cause") in final["cause"]
    assert final["plot"] is not None and final["sessions"]["value"] == session_id
    # a second turn continues the session; a reload (on_load with ?session=) restores both
    run_turn(page, "still sad", session_id)
    request = SimpleNamespace(query_params={"session": session_id})
    restored = values(page, page.on_load("", request))
    assert [m["content"] for m in restored["chatbot"]][::2] == ["I feel sad today", "still sad"]
    assert restored["session_id"] == session_id and "Turn 2" in restored["mind_caption"]
    # local storage is the fallback when the URL has no session
    assert values(page, page.on_load(session_id, SimpleNamespace(query_params={})))["session_id"] == session_id


def test_bad_messages_and_unknown_sessions_are_shown_not_raised(page):
    [step] = run_turn(page, "   ")
    assert "empty" in step["status"] and "role='alert'" in step["status"]
    [step] = run_turn(page, "x" * 5000)
    assert "too long" in step["status"]
    [step] = run_turn(page, "hello", session_id="no-such-session")
    assert "no session" in step["status"]
    gone = values(page, page.on_load("", SimpleNamespace(query_params={"session": "gone"})))
    assert "no longer exists" in gone["status"] and gone["session_id"] == ""
    assert page.agent.list_sessions() == []


def test_llm_down_mid_turn_is_reported_and_nothing_is_stored(tmp_path):
    agent = make_agent(tmp_path, chat_model=EchoChatModel(fail_after=1))
    agent.create_character(Character("Ada"))
    ctl = build_demo(agent).controller
    steps = run_turn(ctl, "hello there friend")
    assert "unreachable" in steps[-1]["status"] and steps[-1]["chatbot"] == []
    assert steps[-1]["message"] == "hello there friend"  # given back to retry
    assert all(agent.history(s.id) == [] for s in agent.list_sessions())


def test_crisis_turn_is_flagged(page):
    final = run_turn(page, "KILL_SWITCH")[-1]
    assert "Crisis detected" in final["safety"] and "988" in final["chatbot"][-1]["content"]
    assert "skipped" in final["strategy"]


def test_backend_switch_reports_unreachable_and_keeps_the_old_one(page):
    old = page.agent
    status = values(page, page.connect("openai", "http://127.0.0.1:9/v1", "m"))["backend_status"]
    assert "Unreachable" in status and "127.0.0.1:9" in status and page.agent is old
    assert "must start with http" in values(page, page.connect("openai", "localhost:8000", ""))["backend_status"]
    status = values(page, page.connect("embedded", "", ""))["backend_status"]
    assert "Connected" in status and page.agent is not old
    assert page.agent.store is old.store and page.agent.list_characters()  # same store, same characters


def test_character_editor_creates_and_updates(page):
    traits = [0.1, 0.2, 0.3, 0.4, 0.5]
    out = values(page, page.save_character("", "Bo", "A baker.", *traits, "proud: I won"))
    assert "Saved Bo" in out["ed_status"]
    bo = page.agent.get_character("Bo")
    assert bo.traits.extraversion == 0.3 and bo.profile == "A baker."
    out = values(page, page.save_character(bo.id, "Bo", "A master baker.", *traits, ""))
    assert page.agent.get_character("Bo").profile == "A master baker." and len(page.agent.list_characters()) == 2
    assert "exists already" in values(page, page.save_character("", "ada", "", *traits, ""))["ed_status"]
    assert "needs a name" in values(page, page.save_character("", " ", "", *traits, ""))["ed_status"]
    assert "Not saved" in values(page, page.save_character("", "Cy", "", 2.0, *traits[1:], ""))["ed_status"]


def test_selecting_a_message_shows_its_turn(page):
    session_id = run_turn(page, "I am sad")[0]["session_id"]
    run_turn(page, "I am fine", session_id)
    first = values(page, page.show_turn(session_id, 1))  # the reply of turn 1
    assert "Turn 1" in first["mind_caption"] and "sad" in first["emotion"]
    assert page.show_turn(session_id, 99) == {} and page.show_turn("", 0) == {}


# -- app.py --------------------------------------------------------------------------------------------

def test_app_help():
    out = subprocess.run([sys.executable, "app.py", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    for flag in ("--host", "--port", "--config", "--backend", "--base-url"):
        assert flag in out.stdout


def test_example_cards_are_seeded_once(tmp_path):
    import app

    agent = make_agent(tmp_path)
    cards = sorted(p for p in (REPO / "memory" / "cards").iterdir() if p.suffix in {".yaml", ".json"})
    if not cards:
        pytest.skip("no example cards in memory/cards")
    added = app.seed_characters(agent)
    assert len(added) == len(cards) and len(agent.list_characters()) == len(cards)
    assert app.seed_characters(agent) == [] and len(agent.list_characters()) == len(cards)
    args = app.parse_args(["--backend", "openai", "--base-url", "http://h:1/v1", "--home", str(tmp_path)])
    settings = app.settings_from(args)
    assert settings.llm.backend == "openai" and settings.llm.base_url == "http://h:1/v1"
    assert args.port == 7860
    agent.close()
