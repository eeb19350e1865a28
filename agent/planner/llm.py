"""The zero-shot LLM planner: the chat model reads the conversation and the eight strategy
descriptions (``prompts/planner.j2``) and picks one through structured output
(``ChatModel.choose``: scored choices in the embedded backend, ``structured_outputs`` choice in
vLLM). An answer outside the allowed strategies (``MalformedOutput``) or a backend failure
(``LLMError``) falls back to ``fallback`` (the trained planner, or the positional prior), and the
returned ``StrategyChoice.source`` says which one answered ("llm" or "llm-fallback:<source>").

History rule: only the last ``max_messages`` (12) utterances go into the prompt.

>>> from agent.llm.base import ChatModel
>>> class Always(ChatModel):
...     def _complete(self, messages, options): return "Information"
...     def _stream(self, messages, options): yield "Information"
>>> LLMPlanner(Always()).plan([Utterance("user", "How do I apply for benefits?")]).strategy
'Information'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from agent.llm.base import ChatModel, LLMError
from agent.planner.model import check_dialogue, check_forbidden, position_stage
from agent.planner.strategies import STRATEGIES, stage_of
from agent.records import CauseReading, EmotionReading, StrategyChoice, Utterance

log = logging.getLogger(__name__)


class LLMPlanner:
    """``StrategyPlanner`` asking ``chat_model`` to choose; ``fallback`` is any StrategyPlanner."""

    source = "llm"

    def __init__(self, chat_model: ChatModel, fallback: Any = None, *, max_messages: int = 12) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.chat_model = chat_model
        self.fallback = fallback
        self.max_messages = max_messages
        self.fallbacks = 0
        """How many plans the fallback answered (malformed output or backend failure)."""

    def messages(self, dialogue: Sequence[Utterance], *, emotion: EmotionReading | None = None,
                 forbidden: Sequence[str] = (), previous_strategies: Sequence[str] | None = None) -> list[dict[str, str]]:
        """The chat messages sent to the model (one user message rendered from planner.j2)."""
        from prompts import load_yaml, render

        descriptions = load_yaml("strategies.yaml")
        n_sys = len(previous_strategies) if previous_strategies is not None else sum(u.role == "assistant" for u in dialogue)
        content = render("planner.j2",
                         strategies={s: " ".join(str(descriptions.get(s, "")).split()) for s in STRATEGIES if s not in forbidden},
                         emotion=emotion.label if emotion is not None else None,
                         previous_strategies=list(previous_strategies or [])[-3:],
                         stage=position_stage(n_sys), forbidden=list(forbidden),
                         dialogue=list(dialogue[-self.max_messages:]))
        return [{"role": "user", "content": content}]

    def plan(self, dialogue: Sequence[Utterance], *, emotion: EmotionReading | None = None,
             cause: CauseReading | None = None, encoding: Any = None, forbidden: Sequence[str] = (),
             previous_strategies: Sequence[str] | None = None) -> StrategyChoice:
        check_dialogue(dialogue)
        banned = check_forbidden(forbidden)
        allowed = [s for s in STRATEGIES if s not in banned]
        try:
            answer = self.chat_model.choose(self.messages(dialogue, emotion=emotion, forbidden=sorted(banned),
                                                          previous_strategies=previous_strategies), allowed)
            if answer not in allowed:  # a backend that does not enforce the choice itself
                raise LLMError(f"LLM planner answered {answer!r}, not one of {allowed}")
        except LLMError as exc:  # MalformedOutput is an LLMError
            self.fallbacks += 1
            log.warning("LLM planner fell back: %s", exc)
            if self.fallback is None:
                raise
            choice = self.fallback.plan(dialogue, emotion=emotion, cause=cause, encoding=encoding,
                                        forbidden=tuple(banned), previous_strategies=previous_strategies)
            return StrategyChoice(choice.strategy, choice.stage, choice.distribution, f"llm-fallback:{choice.source}")
        n_sys = len(previous_strategies) if previous_strategies is not None else sum(u.role == "assistant" for u in dialogue)
        stage = position_stage(n_sys) if answer == "Others" else stage_of(answer)
        return StrategyChoice(answer, stage, ((answer, 1.0),), self.source)
