"""The OpenAI-compatible backend: any server that speaks the chat completions API (vLLM here).

Base URL, model name, API key, timeout and retries come from ``settings.llm``. The ``openai``
client retries connection failures, timeouts, 408/409/429 and 5xx answers with exponential
backoff (0.5 s doubling, jittered) ``max_retries`` times before an error reaches us. Failures are
mapped onto the project's errors, each naming the server's URL:

- refused, unreachable or timed out (after the retries), or a stream cut off mid-way
  -> ``LLMUnavailable``;
- an HTTP error answer -> ``LLMError`` with ``status_code`` set;
- an answer that is not a chat completion -> ``LLMError``.

A stream that stalls is bounded too: every read waits at most ``timeout_s``.

Structured output uses vLLM's ``structured_outputs`` request field (``{"choice": [...]}`` or
``{"json": schema}``); the older ``guided_json``/``guided_choice`` fields are silently ignored by
current vLLM, so they are never sent. Async calls share one connection pool per event loop and
are never serialised: 32 concurrent ``acomplete`` calls are 32 requests in flight, which the
server batches.

>>> model = OpenAIChatModel("http://127.0.0.1:8000/v1", "SmolLM2-135M-Instruct")
>>> model.complete([{"role": "user", "content": "Hi"}])  # doctest: +SKIP
'Hello! How can I help you today?'
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from agent.llm.base import ChatModel, GenerationOptions, LLMError, LLMUnavailable, Message

if TYPE_CHECKING:
    from agent.settings import Settings

_CONNECT_TIMEOUT_S = 5.0  # a refused or unroutable server should fail fast, whatever timeout_s is


def _openai() -> Any:
    try:
        return importlib.import_module("openai")
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise LLMError("the openai backend needs the openai package: pip install openai") from exc


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP library's transport errors (a stream broken mid-way surfaces as one of these).
    openai 1.x uses httpx, later majors httpx2: catch whichever are installed."""
    errors: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


class OpenAIChatModel(ChatModel):
    """Chat completions over HTTP, sync and async, streamed or not."""

    name = "openai"

    def __init__(self, base_url: str, model: str, *, api_key: str = "EMPTY", timeout_s: float = 60.0,
                 max_retries: int = 2, max_new_tokens: int = 96, temperature: float = 0.7,
                 top_p: float = 0.9) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if timeout_s <= 0 or max_retries < 0 or max_new_tokens < 1:
            raise ValueError(f"need timeout_s > 0, max_retries >= 0 and max_new_tokens >= 1; got "
                             f"{timeout_s}, {max_retries}, {max_new_tokens}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key or "EMPTY"
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.defaults = GenerationOptions(max_new_tokens=max_new_tokens, temperature=temperature,
                                          top_p=top_p)
        self._client: Any = None
        self._client_lock = threading.Lock()
        # httpx async pools belong to the event loop that opened them: one client per loop.
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary())
        self._transport_errors = _transport_errors()

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIChatModel:
        llm = settings.llm
        return cls(llm.base_url, llm.model, api_key=llm.api_key, timeout_s=llm.timeout_s,
                   max_retries=llm.max_retries, max_new_tokens=llm.max_new_tokens,
                   temperature=llm.temperature, top_p=llm.top_p)

    # -- clients ---------------------------------------------------------------------------------
    def _timeout(self) -> Any:
        openai = _openai()
        return openai.Timeout(self.timeout_s, connect=min(_CONNECT_TIMEOUT_S, self.timeout_s))

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = _openai().OpenAI(base_url=self.base_url, api_key=self.api_key,
                                                timeout=self._timeout(),
                                                max_retries=self.max_retries)
            return self._client

    def async_client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = _openai().AsyncOpenAI(base_url=self.base_url, api_key=self.api_key,
                                           timeout=self._timeout(), max_retries=self.max_retries)
            self._async_clients[loop] = client
        return client

    def close(self) -> None:
        """Close the sync connection pool (async pools close with their event loop)."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- requests --------------------------------------------------------------------------------
    def _request(self, messages: Sequence[Message], options: GenerationOptions) -> dict[str, Any]:
        if not messages:
            raise ValueError("messages must not be empty")
        d = self.defaults
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": options.max_new_tokens or d.max_new_tokens,
            "temperature": d.temperature if options.temperature is None else options.temperature,
            "top_p": d.top_p if options.top_p is None else options.top_p,
        }
        if options.stop:
            body["stop"] = list(options.stop)
        extra: dict[str, Any] = {}
        if options.repetition_penalty and options.repetition_penalty != 1.0:
            extra["repetition_penalty"] = options.repetition_penalty  # vLLM's sampling parameter
        if options.choices is not None:
            if not options.choices:
                raise ValueError("choices must not be empty")
            extra["structured_outputs"] = {"choice": list(options.choices)}
        elif options.json_schema is not None:
            extra["structured_outputs"] = {"json": options.json_schema}
        if extra:
            body["extra_body"] = extra
        return body

    def _error(self, exc: BaseException) -> LLMError:
        """The project's error for an exception raised by the client or the transport."""
        openai = _openai()
        where = f"the OpenAI-compatible server at {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return LLMUnavailable(f"{where} did not answer within {self.timeout_s:g} s "
                                  f"(after {self.max_retries} retries)")
        if isinstance(exc, openai.APIConnectionError):
            return LLMUnavailable(f"cannot reach {where} (after {self.max_retries} retries): "
                                  f"{exc.__cause__ or exc}; is the server running?")
        if isinstance(exc, openai.APIStatusError):
            err = LLMError(f"{where} answered HTTP {exc.status_code}: {_short(exc.message)}")
            err.status_code = exc.status_code  # type: ignore[attr-defined]
            return err
        if isinstance(exc, self._transport_errors):
            return LLMUnavailable(f"the connection to {where} broke: {type(exc).__name__}: {exc}")
        if isinstance(exc, openai.APIError):
            return LLMError(f"{where} gave an unusable answer: {_short(str(exc))}")
        return LLMError(f"{where} gave an unusable answer: {type(exc).__name__}: {_short(str(exc))}")

    def _caught(self) -> tuple[type[BaseException], ...]:
        # ValueError/TypeError/AttributeError/KeyError: a body that is not a chat completion.
        return (_openai().OpenAIError, *self._transport_errors, ValueError, TypeError,
                AttributeError, KeyError, IndexError)

    def _text(self, response: Any) -> str:
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as exc:
            raise LLMError(f"the OpenAI-compatible server at {self.base_url} answered something "
                           f"that is not a chat completion: {_short(repr(response))}") from exc
        return content or ""

    @staticmethod
    def _delta(chunk: Any) -> str:
        choices = getattr(chunk, "choices", None)
        if not choices:
            return ""  # e.g. a final usage-only chunk
        return getattr(choices[0].delta, "content", None) or ""

    def _complete(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        body = self._request(messages, options)
        try:
            response = self.client.chat.completions.create(**body)
        except self._caught() as exc:
            raise self._error(exc) from exc
        return self._text(response)

    async def _acomplete(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        body = self._request(messages, options)
        try:
            response = await self.async_client().chat.completions.create(**body)
        except self._caught() as exc:
            raise self._error(exc) from exc
        return self._text(response)

    def _stream(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]:
        body = self._request(messages, options)
        try:
            stream = self.client.chat.completions.create(**body, stream=True)
        except self._caught() as exc:
            raise self._error(exc) from exc
        try:
            for chunk in stream:
                piece = self._delta(chunk)
                if piece:
                    yield piece
        except self._caught() as exc:
            raise self._mid_stream(exc) from exc
        finally:
            stream.close()  # also when the consumer stops early: free the connection

    async def _astream(self, messages: Sequence[Message], options: GenerationOptions) -> AsyncIterator[str]:
        body = self._request(messages, options)
        try:
            stream = await self.async_client().chat.completions.create(**body, stream=True)
        except self._caught() as exc:
            raise self._error(exc) from exc
        try:
            async for chunk in stream:
                piece = self._delta(chunk)
                if piece:
                    yield piece
        except self._caught() as exc:
            raise self._mid_stream(exc) from exc
        finally:
            await stream.close()

    def _mid_stream(self, exc: BaseException) -> LLMError:
        err = self._error(exc)
        if isinstance(err, LLMUnavailable) or (type(err) is LLMError and not hasattr(err, "status_code")):
            # Pieces were already handed out: no retry, say that the reply is incomplete.
            return LLMUnavailable(f"the stream from the OpenAI-compatible server at {self.base_url} "
                                  f"broke off mid-reply: {err}")
        return err


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."
