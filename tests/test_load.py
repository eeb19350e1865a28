"""Load: 50 concurrent sessions x 10 turns through the async SDK against a real vLLM server.
No turn is lost or crosses into another session. (Latency figures: eval/benchmarks/bench_agent.py --load.)"""

from __future__ import annotations

import asyncio
import os

import pytest

from agent import Agent, Character, Settings

VLLM_URL = os.environ.get("KINDRED_TEST_VLLM_URL")
pytestmark = [pytest.mark.vllm, pytest.mark.skipif(
    not VLLM_URL, reason="needs a vLLM server: set KINDRED_TEST_VLLM_URL (make test starts one)")]


async def test_fifty_sessions_ten_turns(tmp_path):
    from agent.llm.openai_compat import OpenAIChatModel

    settings = Settings.load(config_file=None, home=tmp_path, llm={"max_new_tokens": 16})
    llm = OpenAIChatModel(VLLM_URL, "SmolLM2-135M-Instruct", timeout_s=300, max_retries=2)
    bot = Agent.from_settings(settings, chat_model=llm, encoder=None, detector=None, cause_finder=None,
                              memory=None, transition=None, planner=None, safety=None)
    bot.create_character(Character("Ada"))
    sessions = [bot.start_session("Ada", user_id=f"user-{i}") for i in range(50)]

    async def converse(i: int, session_id: str) -> None:
        for t in range(10):
            result = await bot.achat(session_id, f"[s{i} t{t}] Today was hard.")
            assert result.session_id == session_id and result.turn_index == t and result.reply

    await asyncio.gather(*(converse(i, s.id) for i, s in enumerate(sessions)))
    for i, session in enumerate(sessions):
        turns = bot.history(session.id)
        assert [t.user_text for t in turns] == [f"[s{i} t{t}] Today was hard." for t in range(10)]
        assert all(t.reply for t in turns)
    bot.close()
