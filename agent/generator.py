"""The response generator: turns a perceived turn into chat messages for the LLM and streams
the reply.

The prompt (``prompts/system.j2``) asks the LLM, HEF-style, to acknowledge the detected emotion
(the detector's top-k narrowing the choice) and address its cause, to speak in character with the
recalled memories, to let the character's own emotion colour the reply, and to follow the planned
strategy. User text and memories are passed as data: the user's words stay in ``user`` messages
and memories sit in a quoted list that the system prompt declares not to be instructions.

>>> from agent.records import Character, Utterance
>>> gen = ResponseGenerator(chat_model=None, max_context_messages=4)
>>> msgs = gen.messages({"character": Character("Ada"), "history": [], "user_text": "hi"})
>>> [m["role"] for m in msgs]
['system', 'user']
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import prompts
from agent.llm.base import ChatModel, Message
from agent.safety.quoting import quote_untrusted, strip_control_tokens

if TYPE_CHECKING:
    from agent.settings import Settings
    from agent.state import TurnState

_FALLBACK = ("I hear you, and I'm here with you. Would you like to tell me a bit more about "
             "what's on your mind?")


class ResponseGenerator:
    def __init__(self, chat_model: ChatModel | None, *, max_context_messages: int = 12,
                 max_new_tokens: int = 96, temperature: float = 0.7, top_p: float = 0.9,
                 repetition_penalty: float | None = None) -> None:
        self.chat_model = chat_model
        self.max_context_messages = max_context_messages
        self.options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "temperature": temperature,
                                        "top_p": top_p, "repetition_penalty": repetition_penalty}

    @classmethod
    def from_settings(cls, chat_model: ChatModel, settings: Settings) -> ResponseGenerator:
        llm = settings.llm
        return cls(chat_model, max_context_messages=llm.max_context_messages,
                   max_new_tokens=llm.max_new_tokens, temperature=llm.temperature, top_p=llm.top_p,
                   repetition_penalty=llm.repetition_penalty)

    def messages(self, state: TurnState) -> list[Message]:
        """System prompt, the recent conversation, and the current user turn."""
        character = state["character"]
        emotion = state.get("emotion")
        strategy = state.get("strategy")
        cause = state.get("cause")
        system = prompts.render(
            "system.j2",
            character_name=character.name,
            character_profile=character.profile,
            # Memories and cause spans are untrusted text inside the system prompt: one quoted
            # line each, so that a planted "\n\nSYSTEM: ..." cannot open a section of its own.
            memories=[replace(m, text=quote_untrusted(m.text)) for m in state.get("memories") or []],
            emotion=emotion,
            emotion_alternatives=[label for label, _ in (emotion.top_k[1:3] if emotion else ())],
            cause_spans=[quote_untrusted(s) for s in (cause.spans if cause else ()) if s],
            reply_emotion=state.get("reply_emotion"),
            strategy=strategy,
            strategy_instruction=prompts.load_yaml("strategies.yaml").get(strategy.strategy, "")
            if strategy else "",
        )
        history = state.get("history") or []
        recent = history[-self.max_context_messages:] if self.max_context_messages else []
        return [{"role": "system", "content": system},
                *({"role": u.role, "content": strip_control_tokens(u.text)} for u in recent),
                {"role": "user", "content": strip_control_tokens(state["user_text"])}]

    def stream(self, state: TurnState) -> Iterator[str]:
        yield from self._model().stream(self.messages(state), **self.options)

    async def astream(self, state: TurnState) -> AsyncIterator[str]:
        async for piece in self._model().astream(self.messages(state), **self.options):
            yield piece

    def fallback_reply(self, state: TurnState) -> str:
        """A reviewed, always-safe reply for when a generated one fails the output check."""
        return _FALLBACK

    def _model(self) -> ChatModel:
        if self.chat_model is None:
            raise RuntimeError("ResponseGenerator has no chat model")
        return self.chat_model
