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
