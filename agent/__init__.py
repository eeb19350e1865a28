"""Kindred: an empathetic dialogue agent.

>>> from agent import Agent  # doctest: +SKIP
>>> bot = Agent.from_settings()  # doctest: +SKIP
>>> result = bot.chat(session_id, "I failed my driving test again.")  # doctest: +SKIP
"""

from agent.records import (VAD, CauseReading, Character, EmotionReading, MemoryUnit,
                           RecalledMemory, SafetyVerdict, SessionInfo, StrategyChoice, Traits,
                           TurnResult, Utterance)
from agent.settings import Settings

__all__ = ["Agent", "Settings", "Character", "Traits", "TurnResult", "EmotionReading",
           "CauseReading", "RecalledMemory", "StrategyChoice", "SafetyVerdict", "VAD",
           "MemoryUnit", "SessionInfo", "Utterance"]


def __getattr__(name: str):
    # The SDK pulls in LangGraph and the components; importing records alone stays light.
    if name == "Agent":
        from agent.sdk import Agent

        return Agent
    raise AttributeError(name)
