"""Fuzzing the SDK's inputs: whatever a user sends, the agent answers or refuses clearly."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agent import Agent, Character, Settings
from agent.messages import InvalidMessage, clean_message
from agent.store.base import NotFound
from tests.fakes import EchoChatModel, FirstAllowedPlanner, KeywordDetector, LastTurnCause, WordGate


@pytest.fixture(scope="module")
def fuzz_bot(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    bot = Agent.from_settings(Settings.load(config_file=None, home=home), chat_model=EchoChatModel(),
                              encoder=None, detector=KeywordDetector(), cause_finder=LastTurnCause(),
                              memory=None, transition=None, planner=FirstAllowedPlanner(), safety=WordGate())
    bot.create_character(Character("Ada"))
    yield bot, bot.start_session("Ada")
    bot.close()


messages = st.one_of(st.text(max_size=300), st.binary(max_size=300),
                     st.text(alphabet=st.characters(codec="utf-8"), min_size=3990, max_size=4100),
                     st.none(), st.integers(), st.lists(st.text(max_size=5), max_size=3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(text=messages)
def test_chat_answers_or_refuses_clearly(fuzz_bot, text):
    bot, session = fuzz_bot
    before = bot.get_session(session.id).turn_count
    try:
        result = bot.chat(session.id, text)
    except InvalidMessage:
        assert bot.get_session(session.id).turn_count == before  # nothing stored
        return
    assert result.user_text == clean_message(text)
    assert bot.get_session(session.id).turn_count == before + 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(session_id=st.one_of(st.text(max_size=50), st.none(), st.integers()),
       strategy=st.one_of(st.none(), st.text(max_size=20)))
def test_bad_session_and_strategy_arguments(fuzz_bot, session_id, strategy):
    bot, _ = fuzz_bot
    with pytest.raises((NotFound, ValueError)):
        bot.chat(session_id, "hello", strategy=strategy or "not a strategy")


@given(st.text())
def test_clean_message_is_idempotent(text):
    try:
        once = clean_message(text)
    except InvalidMessage:
        return
    assert clean_message(once) == once
