"""Serve the demo over the fakes of tests/fakes.py (fast and deterministic), for the browser tests.

    python -m tests.browser.fake_demo --port 7861 --home /tmp/kd

Prints ``READY <url>`` on stdout once the server answers. The chat model fails for any
"openai" backend, so the page's "unreachable server" message can be tested without a server.
"""

from __future__ import annotations

import argparse
import sys

from agent import Agent, Settings
from agent.demo import build_demo, page_style
from agent.llm.base import LLMUnavailable
from tests.fakes import (ContagionTransition, EchoChatModel, FirstAllowedPlanner, KeywordDetector,
                         LastTurnCause, WordGate, WordOverlapMemory)

CHARACTER = {
    "name": "Ada", "profile": "A retired nurse who listens more than she talks.",
    "traits": {"openness": 0.6, "conscientiousness": 0.8, "extraversion": 0.4,
               "agreeableness": 0.9, "neuroticism": 0.2},
    "experiences": [{"text": "I was sad for a year after my sister moved to Canada.", "emotion": "sad"},
                    {"text": "I passed my nursing exam on the third try.", "emotion": "proud"}],
}


class DownChatModel(EchoChatModel):
    """An OpenAI-compatible backend whose server is not there."""

    def _stream(self, messages, options):
        raise LLMUnavailable("connection refused")
        yield  # pragma: no cover


def fake_agent(home: str) -> Agent:
    settings = Settings.load(config_file=None, home=home)
    from agent.store import open_store

    store = open_store(settings.store_url)
    memory = WordOverlapMemory(store)
    return Agent.from_settings(settings, chat_model=EchoChatModel(delay_s=0.0), store=store,
                               encoder=None, detector=KeywordDetector(), cause_finder=LastTurnCause(),
                               memory=memory, transition=ContagionTransition(),
                               planner=FirstAllowedPlanner(), safety=WordGate())


def chat_model_factory(settings: Settings):
    return DownChatModel() if settings.llm.backend == "openai" else EchoChatModel()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--home", required=True)
    args = parser.parse_args(argv)
    agent = fake_agent(args.home)
    if not agent.list_characters():
        agent.create_character(CHARACTER)
    demo = build_demo(agent, chat_model_factory=chat_model_factory)
    demo.queue().launch(server_name="127.0.0.1", server_port=args.port, share=False, ssr_mode=False,
                        quiet=True, prevent_thread_lock=True, **page_style())
    print(f"READY http://127.0.0.1:{args.port}/", flush=True)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
