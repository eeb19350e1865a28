"""The SDK end to end over fakes of the models: persistence, streaming, overrides, bad input,
atomic turns, concurrency."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from agent import Agent, Character, Settings, Traits, Utterance
from agent.llm.base import LLMUnavailable
from agent.messages import InvalidMessage
from agent.store.base import NotFound
from tests.fakes import (ContagionTransition, EchoChatModel, FirstAllowedPlanner, KeywordDetector,
                         LastTurnCause, WordGate)


def make_agent(tmp_path, chat_model=None, **overrides) -> Agent:
    settings = Settings.load(config_file=None, home=tmp_path)
    components = dict(encoder=None, detector=KeywordDetector(), cause_finder=LastTurnCause(),
                      memory=None, transition=ContagionTransition(), planner=FirstAllowedPlanner(),
                      safety=WordGate())
    components.update(overrides)
    return Agent.from_settings(settings, chat_model=chat_model or EchoChatModel(), **components)


@pytest.fixture
def bot(tmp_path):
    agent = make_agent(tmp_path)
    agent.create_character(Character("Ada", "A retired nurse.", Traits(agreeableness=0.9)))
    yield agent
    agent.close()


def test_chat_returns_reply_and_annotations(bot):
    session = bot.start_session("Ada", user_id="sam")
    result = bot.chat(session.id, "I feel so sad today")
    assert result.reply == "I hear you: I feel so sad today"
    assert result.emotion.label == "sad"
    assert result.cause.spans == ("I feel so sad today",)
    assert result.strategy.strategy == "Question"
    assert result.agent_vad.valence < 0.2  # moved towards the user's negative valence
    assert result.turn_index == 0 and not result.safety.risk


def test_prompt_carries_history_emotion_and_strategy(bot):
    session = bot.start_session("Ada")
    bot.chat(session.id, "first message")
    bot.chat(session.id, "I am sad about my exam")
    messages = bot.chat_model.calls[-1]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert "Ada" in system and "sad" in system and "Question" in system


def test_conversation_survives_restart(tmp_path):
    first = make_agent(tmp_path)
    first.create_character(Character("Ada"))
    session = first.start_session("Ada", user_id="sam")
    first.chat(session.id, "hello")
    first.chat(session.id, "I am sad")
    first.close()

    second = make_agent(tmp_path)
    history = second.history(session.id)
    assert [t.user_text for t in history] == ["hello", "I am sad"]
    assert history[1].emotion.label == "sad"
    assert second.get_session(session.id).agent_vad is not None
    second.chat(session.id, "still here")
    assert len(second.chat_model.calls[-1]) == 6  # system + 2 past turns x 2 + the new message
    second.close()


def test_stream_yields_annotations_then_tokens_then_done(bot):
    session = bot.start_session("Ada")
    events = list(bot.stream(session.id, "I am sad"))
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "done"
    assert kinds.index("emotion") < kinds.index("token")
    assert {"safety", "emotion", "cause", "strategy", "agent_emotion"} <= set(kinds)
    text = "".join(e["text"] for e in events if e["type"] == "token")
    assert text == events[-1]["result"].reply


def test_planner_gets_the_stored_strategies_of_earlier_turns(tmp_path):
    class RecordingPlanner(FirstAllowedPlanner):
        seen: ClassVar[list] = []

        def plan(self, dialogue, *, previous_strategies=None, **kwargs):
            self.seen.append(previous_strategies)
            return super().plan(dialogue, **kwargs)

    planner = RecordingPlanner()
    agent = make_agent(tmp_path, planner=planner)
    agent.create_character(Character("Ada"))
    session = agent.start_session("Ada", user_id="sam")
    agent.chat(session.id, "hi")
    agent.chat(session.id, "hello again", strategy="Affirmation and Reassurance")
    agent.chat(session.id, "still here")
    assert planner.seen == [[], ["Question", "Affirmation and Reassurance"]]
    agent.chat(session.id, "KILL_SWITCH")  # a crisis turn has no strategy: the planner tags itself
    agent.chat(session.id, "ok")
    assert planner.seen[-1] is None
    agent.close()


def test_strategy_override_and_forbid(bot):
    session = bot.start_session("Ada")
    assert bot.chat(session.id, "hi", strategy="affirmation").strategy.strategy == "Affirmation and Reassurance"
    assert bot.chat(session.id, "hi", forbid=["Question"]).strategy.strategy == "Reflection of feelings"
    with pytest.raises(ValueError, match="unknown strategy"):
        bot.chat(session.id, "hi", strategy="Hugging")


def test_crisis_short_circuits_and_is_flagged(bot):
    session = bot.start_session("Ada")
    result = bot.chat(session.id, "KILL_SWITCH")
    assert result.safety.risk and "988" in result.reply
    assert result.emotion is None and result.strategy is None  # the gate skipped the pipeline
    assert bot.history(session.id)[0].safety.risk


def test_crisis_hooks_are_called_and_cannot_break_the_turn(bot):
    seen = []

    @bot.on_crisis
    def page_a_human(result):
        seen.append(result.user_text)

    bot.on_crisis(lambda result: 1 / 0)  # a broken hook is logged, not raised
    session = bot.start_session("Ada")
    bot.chat(session.id, "hello")
    result = bot.chat(session.id, "KILL_SWITCH now")
    events = list(bot.stream(session.id, "KILL_SWITCH again"))
    assert seen == ["KILL_SWITCH now", "KILL_SWITCH again"]
    assert "988" in result.reply and events[-1]["result"].safety.risk


def test_unsafe_reply_is_replaced(tmp_path):
    bot = make_agent(tmp_path)
    bot.create_character(Character("Ada"))
    session = bot.start_session("Ada")
    result = bot.chat(session.id, "say FORBIDDEN")
    assert "FORBIDDEN" not in result.reply and result.reply


@pytest.mark.parametrize("text, match", [
    ("", "empty"), ("   \n\t ", "empty"), ("x" * 1_000_000, "too long"),
    (b"\xff\xfe broken", "UTF-8"), (None, "must be text"),
])
def test_bad_messages_are_refused_and_store_nothing(bot, text, match):
    session = bot.start_session("Ada")
    with pytest.raises(InvalidMessage, match=match):
        bot.chat(session.id, text)
    assert bot.history(session.id) == []


def test_control_characters_are_removed(bot):
    session = bot.start_session("Ada")
    assert bot.chat(session.id, "hel\x00lo\x1b there").user_text == "hello there"


def test_unknown_session(bot):
    with pytest.raises(NotFound, match="no session"):
        bot.chat("does-not-exist", "hello")


def test_llm_failure_mid_stream_stores_nothing(tmp_path):
    bot = make_agent(tmp_path, chat_model=EchoChatModel(fail_after=2))
    bot.create_character(Character("Ada"))
    session = bot.start_session("Ada")
    with pytest.raises(LLMUnavailable):
        bot.chat(session.id, "hello there friend")
    assert bot.history(session.id) == [] and bot.get_session(session.id).turn_count == 0


def test_respond_is_a_dry_run(bot):
    result = bot.respond([Utterance("user", "I lost my job"), Utterance("assistant", "Oh no."),
                          Utterance("user", "I am sad")])
    assert result.reply.endswith("I am sad") and result.emotion.label == "sad"
    assert bot.list_sessions() == []
    with pytest.raises(ValueError, match="ends with the user"):
        bot.respond([Utterance("assistant", "hello")])


async def test_concurrent_sessions_do_not_cross_talk(tmp_path):
    bot = make_agent(tmp_path, chat_model=EchoChatModel(delay_s=0.001))
    bot.create_character(Character("Ada"))
    sessions = [bot.start_session("Ada", user_id=f"user{i}") for i in range(8)]

    async def converse(i, session):
        for t in range(3):
            result = await bot.achat(session.id, f"user{i} turn{t}")
            assert result.reply == f"I hear you: user{i} turn{t}"

    await asyncio.gather(*(converse(i, s) for i, s in enumerate(sessions)))
    for i, session in enumerate(sessions):
        assert [t.user_text for t in bot.history(session.id)] == [f"user{i} turn{t}" for t in range(3)]


async def test_astream(bot):
    session = bot.start_session("Ada")
    events = [e async for e in bot.astream(session.id, "hello")]
    assert events[-1]["type"] == "done" and events[-1]["result"].reply == "I hear you: hello"
