"""Test helper process: chats in one session until killed (used by test_faults.py).

usage: python tests/scripts/chat_forever.py HOME SESSION_ID
It prints "ready" once the agent is built, then one line per stored turn.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent import Agent, Settings
from tests.fakes import ContagionTransition, EchoChatModel, KeywordDetector

home, session_id = sys.argv[1], sys.argv[2]
bot = Agent.from_settings(Settings.load(config_file=None, home=home),
                          chat_model=EchoChatModel(delay_s=0.0), encoder=None, detector=KeywordDetector(),
                          cause_finder=None, memory=None, transition=ContagionTransition(), planner=None,
                          safety=None)
print("ready", flush=True)
i = len(bot.history(session_id))
while True:
    bot.chat(session_id, f"message {i} I am sad")
    print(i, flush=True)
    i += 1
