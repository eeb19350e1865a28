"""Adapters in both directions between our ``ChatModel`` and LangChain's ``BaseChatModel``.

- ``LangChainChatModel(lc_model)``: any LangChain chat model (ChatOpenAI, ChatOllama, a fake in
  tests, ...) used as the agent's LLM backend. Structured output goes through the model's
  ``with_structured_output`` when it has one, else through an instruction in the prompt, and is
  validated either way by ``ChatModel.choose`` / ``complete_json``.
- ``as_langchain(chat_model)``: the agent's backend (embedded SmolLM2, vLLM) as a LangChain chat
  model, with ``invoke``/``stream``/``ainvoke``/``astream``, so it can sit inside existing
  LangChain or LangGraph applications.

Exceptions raised by a wrapped LangChain model become ``LLMError`` (the SDK handles those).

>>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
>>> LangChainChatModel(FakeListChatModel(responses=["hi!"])).complete([{"role": "user", "content": "hello"}])
'hi!'
>>> as_langchain(LangChainChatModel(FakeListChatModel(responses=["ok"]))).invoke("hello").content
'ok'
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from agent.llm.base import ChatModel, GenerationOptions, LLMError, Message

try:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import (AIMessage, AIMessageChunk, BaseMessage, HumanMessage,
                                         SystemMessage)
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
except ImportError as exc:  # pragma: no cover - langchain-core is a core dependency
    raise ImportError("the LangChain adapters need langchain-core: pip install langchain-core") from exc

_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant",
          "system": "system"}


# -- message conversion ------------------------------------------------------------------------

def to_langchain_messages(messages: Sequence[Message]) -> list[BaseMessage]:
    """``[{"role", "content"}]`` -> LangChain messages."""
    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    out = []
    for i, m in enumerate(messages):
        kind = kinds.get(m.get("role")) if isinstance(m, dict) else None
        if kind is None:
            raise ValueError(f"message {i} needs role system/user/assistant, got {m!r:.80}")
        out.append(kind(content=m["content"]))
    return out


def from_langchain_messages(messages: Sequence[BaseMessage]) -> list[Message]:
    """LangChain messages -> ``[{"role", "content"}]``; tool messages are refused (our backends
    have no tools)."""
    out = []
    for m in messages:
        role = _ROLES.get(getattr(m, "role", None) or m.type)
        if role is None:
            raise ValueError(f"cannot pass a {m.type!r} message to a kindred chat model; "
                             "only system, human and ai messages are supported")
        out.append({"role": role, "content": _text_of(m.content)})
    return out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    # Multimodal content: keep the text parts.
    parts = [p if isinstance(p, str) else p.get("text", "") for p in content
             if isinstance(p, str) or (isinstance(p, dict) and p.get("type") == "text")]
    return "".join(parts)


# -- LangChain model -> our ChatModel ------------------------------------------------------------

class LangChainChatModel(ChatModel):
    """Any LangChain ``BaseChatModel`` behind our interface."""

    name = "langchain"

    def __init__(self, model: BaseChatModel) -> None:
        if not isinstance(model, BaseChatModel):
            raise TypeError(f"expected a langchain_core BaseChatModel, got {type(model).__name__}")
        self.model = model
        self.name = f"langchain:{type(model).__name__}"

    def _call_kwargs(self, options: GenerationOptions) -> dict[str, Any]:
        # Only ``stop`` is part of every chat model's interface; decoding settings belong to the
        # wrapped model's own constructor (ChatOpenAI(temperature=...), ...).
        return {"stop": list(options.stop)} if options.stop else {}

    def _prepare(self, messages: Sequence[Message], options: GenerationOptions) -> list[BaseMessage]:
        msgs = list(messages)
        if options.choices is not None:
            msgs.append({"role": "system", "content": "Answer with exactly one of the following, "
                         "and nothing else: " + "; ".join(options.choices)})
        return to_langchain_messages(msgs)

    def _structured(self, options: GenerationOptions) -> Any:
        """The model bound to the JSON schema, or None when it cannot bind one."""
        if options.json_schema is None:
            return None
        try:
            return self.model.with_structured_output(options.json_schema)
        except NotImplementedError:
            return None

    def _json_fallback(self, messages: list[BaseMessage], schema: dict[str, Any]) -> list[BaseMessage]:
        return [*messages, SystemMessage(content="Answer with a single JSON object that follows "
                                         "this JSON schema, and nothing else:\n" + json.dumps(schema))]

    def _complete(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        lc_messages = self._prepare(messages, options)
        try:
            structured = self._structured(options)
            if structured is not None:
                return json.dumps(_as_dict(structured.invoke(lc_messages)))
            if options.json_schema is not None:
                lc_messages = self._json_fallback(lc_messages, options.json_schema)
            return _text_of(self.model.invoke(lc_messages, **self._call_kwargs(options)).content)
        except LLMError:
            raise
        except Exception as exc:  # any provider's error type
            raise LLMError(f"{self.name} failed: {type(exc).__name__}: {exc}") from exc

    async def _acomplete(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        lc_messages = self._prepare(messages, options)
        try:
            structured = self._structured(options)
            if structured is not None:
                return json.dumps(_as_dict(await structured.ainvoke(lc_messages)))
            if options.json_schema is not None:
                lc_messages = self._json_fallback(lc_messages, options.json_schema)
            reply = await self.model.ainvoke(lc_messages, **self._call_kwargs(options))
            return _text_of(reply.content)
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(f"{self.name} failed: {type(exc).__name__}: {exc}") from exc

    def _stream(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]:
        if options.choices is not None or options.json_schema is not None:
            yield self._complete(messages, options)
            return
        try:
            for chunk in self.model.stream(self._prepare(messages, options), **self._call_kwargs(options)):
                piece = _text_of(chunk.content)
                if piece:
                    yield piece
        except Exception as exc:
            raise LLMError(f"{self.name} failed mid-stream: {type(exc).__name__}: {exc}") from exc

    async def _astream(self, messages: Sequence[Message], options: GenerationOptions) -> AsyncIterator[str]:
        if options.choices is not None or options.json_schema is not None:
            yield await self._acomplete(messages, options)
            return
        try:
            async for chunk in self.model.astream(self._prepare(messages, options),
                                                  **self._call_kwargs(options)):
                piece = _text_of(chunk.content)
                if piece:
                    yield piece
        except Exception as exc:
            raise LLMError(f"{self.name} failed mid-stream: {type(exc).__name__}: {exc}") from exc


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump()
    raise LLMError(f"structured output returned {type(value).__name__}, not a JSON object")


# -- our ChatModel -> LangChain model ------------------------------------------------------------

_OPTION_KWARGS = {"max_tokens": "max_new_tokens", "max_new_tokens": "max_new_tokens",
                  "temperature": "temperature", "top_p": "top_p"}


class KindredLangChainModel(BaseChatModel):
    """A LangChain chat model that delegates to one of our ``ChatModel`` backends.

    Call-time keyword arguments ``max_tokens``/``max_new_tokens``, ``temperature`` and ``top_p``
    are passed on; others are refused with a ``ValueError`` rather than silently ignored.
    """

    chat_model: Any
    """The wrapped ``agent.llm.base.ChatModel``."""

    @property
    def _llm_type(self) -> str:
        return f"kindred-{getattr(self.chat_model, 'name', 'chat-model')}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"backend": getattr(self.chat_model, "name", "chat-model")}

    @staticmethod
    def _options(stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = {"stop": tuple(stop or ())}
        for key, value in kwargs.items():
            if key not in _OPTION_KWARGS:
                raise ValueError(f"unsupported option {key!r} for a kindred chat model; "
                                 f"use one of {sorted(_OPTION_KWARGS)}")
            options[_OPTION_KWARGS[key]] = value
        return options

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = self.chat_model.complete(from_langchain_messages(messages), **self._options(stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:
        text = await self.chat_model.acomplete(from_langchain_messages(messages),
                                               **self._options(stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in self.chat_model.stream(from_langchain_messages(messages), **self._options(stop, kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        async for piece in self.chat_model.astream(from_langchain_messages(messages),
                                                   **self._options(stop, kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                await run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


def as_langchain(chat_model: ChatModel) -> BaseChatModel:
    """Our backend as a LangChain chat model (``invoke``, ``stream``, ``ainvoke``, ``astream``)."""
    if not isinstance(chat_model, ChatModel):
        raise TypeError(f"expected an agent.llm ChatModel, got {type(chat_model).__name__}")
    if isinstance(chat_model, LangChainChatModel):
        return chat_model.model  # no need to wrap twice
    return KindredLangChainModel(chat_model=chat_model)
