"""Faults survived: the process killed mid-turn, again and again, loses no completed turn and
leaves no partial one; the conversation resumes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.records import Character
from agent.store import open_store

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_kill_mid_turn_twenty_times(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'kindred.db'}")
    ada = store.save_character(Character("Ada"))
    session = store.create_session(ada.id, "sam")
    store.close()
    rng = random.Random(7)
    reported = 0
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, str(REPO / "tests/scripts/chat_forever.py"),
                                 str(tmp_path), session.id], stdout=subprocess.PIPE, text=True,
                                cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout.readline().strip() == "ready"
        proc.stdout.readline()  # one turn done: the process is in its loop
        reported += 1
        time.sleep(rng.uniform(0.0, 0.2))  # lands anywhere in a later turn, commit included
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        reported += len(out.split())

        store = open_store(f"sqlite:///{tmp_path / 'kindred.db'}")
        turns = store.list_turns(session.id)
        info = store.get_session(session.id)
        store.close()
        # Every turn the process reported as done is stored, whole; nothing partial.
        assert [t.turn_index for t in turns] == list(range(len(turns))) == list(range(info.turn_count))
        assert len(turns) >= reported
        for t in turns:
            assert t.user_text == f"message {t.turn_index} I am sad"
            assert t.reply == f"I hear you: {t.user_text}" and t.emotion.label == "sad"
    assert reported >= 20


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_stub(port: int, delay: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(REPO / "tests/scripts/openai_stub_server.py"),
                             str(port), str(delay)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_llm_server_killed_mid_stream(tmp_path):
    from agent import Agent, Settings
    from agent.llm.base import LLMUnavailable
    from agent.llm.openai_compat import OpenAIChatModel
    from tests.fakes import KeywordDetector

    port = _free_port()
    server = _start_stub(port, delay=0.1)
    model = OpenAIChatModel(f"http://127.0.0.1:{port}/v1", "stub", timeout_s=5, max_retries=0)
    bot = Agent.from_settings(Settings.load(config_file=None, home=tmp_path), chat_model=model,
                              encoder=None, detector=KeywordDetector(), cause_finder=None, memory=None,
                              transition=None, planner=None, safety=None)
    bot.create_character(Character("Ada"))
    session = bot.start_session("Ada")
    try:
        first = bot.chat(session.id, "hello")
        assert first.reply.startswith("I am here with you")

        tokens = []
        with pytest.raises(LLMUnavailable):
            for event in bot.stream(session.id, "are you there?"):
                if event["type"] == "token":
                    tokens.append(event["text"])
                    if len(tokens) == 3:
                        server.kill()
                        server.wait()
        assert len(tokens) >= 3
        # The interrupted turn left nothing; the completed one is intact.
        assert [t.user_text for t in bot.history(session.id)] == ["hello"]

        with pytest.raises(LLMUnavailable, match=str(port)):  # still down: a clear error naming the server
            bot.chat(session.id, "anyone?")

        server = _start_stub(port, delay=0.0)  # back up: the conversation resumes
        bot.chat(session.id, "are you back?")
        assert [t.user_text for t in bot.history(session.id)] == ["hello", "are you back?"]
    finally:
        server.kill()
        bot.close()
