"""Integration with a real vLLM server through the OpenAI-compatible backend.

Needs a running server: ``.ci/vllm.sh start MODEL_DIR 8000`` then
``KINDRED_TEST_VLLM_URL=http://127.0.0.1:8000/v1 pytest -m vllm``. Without that variable the tests
that need the server are skipped (the server-down test always runs).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from agent.llm.base import LLMUnavailable
from agent.llm.openai_compat import OpenAIChatModel
from agent.planner.strategies import STRATEGIES

pytestmark = pytest.mark.vllm

VLLM_URL = os.environ.get("KINDRED_TEST_VLLM_URL")
VLLM_MODEL = os.environ.get("KINDRED_TEST_VLLM_MODEL", "SmolLM2-135M-Instruct")
needs_server = pytest.mark.skipif(
    not VLLM_URL, reason="no vLLM server: start one with .ci/vllm.sh start MODEL_DIR PORT and set "
                         "KINDRED_TEST_VLLM_URL=http://127.0.0.1:PORT/v1")

SYSTEM = {"role": "system", "content": "You are Ada, a warm and supportive friend. Reply in one or "
                                       "two short sentences."}


@pytest.fixture(scope="module")
def vllm() -> OpenAIChatModel:
    return OpenAIChatModel(VLLM_URL or "http://127.0.0.1:1/v1", VLLM_MODEL, timeout_s=120,
                           max_retries=1, max_new_tokens=40, temperature=0.7)


@needs_server
def test_multi_turn_conversation_with_streaming(vllm):
    messages = [SYSTEM]
    user_turns = ["Hi Ada, I had a rough day at work.",
                  "My manager criticised my report in front of everyone.",
                  "Thanks. What could I do tomorrow?"]
    # Turn 1 whole, turn 2 streamed (sync), turn 3 streamed (async).
    messages.append({"role": "user", "content": user_turns[0]})
    reply = vllm.complete(messages)
    assert reply.strip()
    messages.append({"role": "assistant", "content": reply})

    messages.append({"role": "user", "content": user_turns[1]})
    pieces = list(vllm.stream(messages))
    assert len(pieces) > 1 and "".join(pieces).strip()
    messages.append({"role": "assistant", "content": "".join(pieces)})

    messages.append({"role": "user", "content": user_turns[2]})

    async def collect():
        return [p async for p in vllm.astream(messages)]

    pieces = asyncio.run(collect())
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]


@needs_server
def test_greedy_stream_equals_complete(vllm):
    messages = [SYSTEM, {"role": "user", "content": "I miss my grandmother."}]
    whole = vllm.complete(messages, temperature=0.0, max_new_tokens=24)
    assert "".join(vllm.stream(messages, temperature=0.0, max_new_tokens=24)) == whole


@needs_server
def test_structured_choice_among_esconv_strategies(vllm):
    messages = [{"role": "system", "content": "Pick the support strategy for the next reply: "
                 + ", ".join(STRATEGIES) + "."},
                {"role": "user", "content": "I lost my job and I don't know what to do."}]
    assert vllm.choose(messages, STRATEGIES) in STRATEGIES
    assert asyncio.run(vllm.achoose(messages, STRATEGIES)) in STRATEGIES


@needs_server
def test_structured_json_schema(vllm):
    schema = {"type": "object", "required": ["emotion", "intensity"],
              "properties": {"emotion": {"type": "string", "enum": ["sad", "angry", "afraid", "joyful"]},
                             "intensity": {"type": "integer", "minimum": 1, "maximum": 5}},
              "additionalProperties": False}
    messages = [{"role": "user", "content": "Classify: 'My dog died yesterday.' Give emotion and "
                 "intensity 1-5 as JSON."}]
    data = vllm.complete_json(messages, schema, temperature=0.0, max_new_tokens=60)
    assert data["emotion"] in schema["properties"]["emotion"]["enum"]
    assert isinstance(data["intensity"], int)


@needs_server
def test_concurrent_async_requests(vllm):
    messages = [SYSTEM, {"role": "user", "content": "Tell me something encouraging."}]

    async def many():
        return await asyncio.gather(*(vllm.acomplete(messages, max_new_tokens=16) for _ in range(8)))

    replies = asyncio.run(many())
    assert len(replies) == 8 and all(r.strip() for r in replies)


def test_server_down_is_unavailable_quickly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = OpenAIChatModel(f"http://127.0.0.1:{port}/v1", VLLM_MODEL, max_retries=2)
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable, match=f"127.0.0.1:{port}"):
        model.complete([{"role": "user", "content": "hello?"}])
    assert time.perf_counter() - started < 10  # two retries with backoff, no hang


@needs_server
def test_agent_sdk_conversation_over_vllm(tmp_path):
    """A persistent multi-turn conversation through the SDK's ``Agent`` with the openai backend:
    chat, a streamed turn and an async turn; the LLM planner's strategy choice also goes through
    vLLM's structured output. Components that need trained artefacts are switched off here, so
    this test exercises the backend, not them."""
    sdk = pytest.importorskip("agent.sdk", reason="agent/sdk.py does not exist yet")
    from agent.llm import make_chat_model
    from agent.planner.llm import LLMPlanner
    from agent.records import Character
    from agent.settings import Settings

    settings = Settings.load(
        config_file=None, home=str(tmp_path),
        llm={"backend": "openai", "base_url": VLLM_URL, "model": VLLM_MODEL, "max_new_tokens": 32,
             "timeout_s": 120},
        perception={"enabled": False}, memory={"enabled": False}, transition={"kind": "off"})
    chat_model = make_chat_model(settings)
    agent = sdk.Agent.from_settings(settings, chat_model=chat_model, planner=LLMPlanner(chat_model))
    try:
        ada = agent.create_character(Character("Ada", "A warm, patient friend."))
        session = agent.start_session(ada.name, user_id="tester")
        first = agent.chat(session.id, "Hi Ada, I had a rough day at work.")
        events = list(agent.stream(session.id, "My manager criticised me in front of everyone."))
        tokens = [e["text"] for e in events if e["type"] == "token"]
        second = events[-1]["result"]
        third = asyncio.run(agent.achat(session.id, "What could I do tomorrow?"))
        assert first.reply.strip() and second.reply.strip() and third.reply.strip()
        assert tokens and "".join(tokens).strip()
        assert second.strategy.strategy in STRATEGIES and second.strategy.source == "llm"
        assert [t.user_text for t in agent.history(session.id)][-3:] == [
            "Hi Ada, I had a rough day at work.", "My manager criticised me in front of everyone.",
            "What could I do tomorrow?"]
    finally:
        agent.close()
