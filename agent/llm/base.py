"""The one small interface every LLM backend implements.

A backend turns chat messages (``[{"role": "system"|"user"|"assistant", "content": str}]``) into
text, in four flavours (sync, async, sync stream, async stream), and can be constrained to one of
a fixed set of choices or to a JSON schema (structured output, which the planner, the judge and
the detector's LLM reading use).

Subclasses implement ``_complete`` and ``_stream``; the async twins default to running the sync
ones in a worker thread, which is right for in-process models, and network backends override them.

>>> class Parrot(ChatModel):
...     name = "parrot"
...     def _complete(self, messages, options): return messages[-1]["content"]
...     def _stream(self, messages, options): yield from messages[-1]["content"].split()
>>> Parrot().complete([{"role": "user", "content": "hello there"}])
'hello there'
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

Message = dict[str, str]


class LLMError(RuntimeError):
    """The LLM backend failed; the message says which backend and why."""


class LLMUnavailable(LLMError):
    """The backend cannot be reached (server down, refused, or timed out after retries)."""


class MalformedOutput(LLMError):
    """The model answered, but not in the requested structure."""


@dataclass(frozen=True)
class GenerationOptions:
    """Per-call decoding options; ``None`` fields fall back to the backend's settings."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    """> 1 discourages tokens already in the prompt or the reply (CTRL-style, as in transformers
    and vLLM); small models otherwise tend to repeat their previous turn word for word."""
    stop: tuple[str, ...] = ()
    choices: tuple[str, ...] | None = None
    json_schema: dict[str, Any] | None = None


class ChatModel(ABC):
    """Base class of the LLM backends (embedded, OpenAI-compatible, LangChain adapter)."""

    name: str = "chat-model"

    # -- what subclasses implement -------------------------------------------------------------
    @abstractmethod
    def _complete(self, messages: Sequence[Message], options: GenerationOptions) -> str: ...

    @abstractmethod
    def _stream(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]: ...

    async def _acomplete(self, messages: Sequence[Message], options: GenerationOptions) -> str:
        return await asyncio.to_thread(self._complete, messages, options)

    async def _astream(self, messages: Sequence[Message], options: GenerationOptions) -> AsyncIterator[str]:
        # Run the sync generator in a thread and hand its pieces over through a queue, so that
        # an in-process model does not block the event loop while it decodes.
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def pump() -> None:
            try:
                for piece in self._stream(messages, options):
                    loop.call_soon_threadsafe(queue.put_nowait, ("piece", piece))
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
            except BaseException as exc:  # forwarded to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        task = loop.run_in_executor(None, pump)
        while True:
            kind, value = await queue.get()
            if kind == "piece":
                yield value
            elif kind == "error":
                await task
                raise value
            else:
                break
        await task

    # -- the public API ------------------------------------------------------------------------
    def complete(self, messages: Sequence[Message], **options: Any) -> str:
        return self._complete(messages, GenerationOptions(**options))

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> str:
        return await self._acomplete(messages, GenerationOptions(**options))

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        return self._stream(messages, GenerationOptions(**options))

    def astream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]:
        return self._astream(messages, GenerationOptions(**options))

    def choose(self, messages: Sequence[Message], choices: Sequence[str], **options: Any) -> str:
        """One of ``choices``, exactly; raises ``MalformedOutput`` if the model gives anything else."""
        opts = replace(GenerationOptions(**options), choices=tuple(choices))
        return _check_choice(self._complete(messages, opts), choices, self.name)

    async def achoose(self, messages: Sequence[Message], choices: Sequence[str], **options: Any) -> str:
        opts = replace(GenerationOptions(**options), choices=tuple(choices))
        return _check_choice(await self._acomplete(messages, opts), choices, self.name)

    def complete_json(self, messages: Sequence[Message], schema: dict[str, Any], **options: Any) -> dict[str, Any]:
        """A JSON object following ``schema``; raises ``MalformedOutput`` if it does not parse."""
        opts = replace(GenerationOptions(**options), json_schema=schema)
        return _parse_json(self._complete(messages, opts), schema, self.name)

    async def acomplete_json(self, messages: Sequence[Message], schema: dict[str, Any], **options: Any) -> dict[str, Any]:
        opts = replace(GenerationOptions(**options), json_schema=schema)
        return _parse_json(await self._acomplete(messages, opts), schema, self.name)


def _check_choice(text: str, choices: Sequence[str], backend: str) -> str:
    answer = text.strip()
    if answer in choices:
        return answer
    # Small models sometimes wrap the choice in punctuation or a sentence; accept a unique match.
    found = [c for c in choices if c.lower() in answer.lower()]
    if len(found) == 1:
        return found[0]
    raise MalformedOutput(f"{backend} answered {answer[:80]!r}, which is not one of {list(choices)}")


def _parse_json(text: str, schema: dict[str, Any], backend: str) -> dict[str, Any]:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise MalformedOutput(f"{backend} returned no JSON object: {text[:80]!r}")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise MalformedOutput(f"{backend} returned invalid JSON ({exc}): {text[:80]!r}") from exc
    missing = [k for k in schema.get("required", []) if k not in data]
    if missing:
        raise MalformedOutput(f"{backend} JSON lacks required field(s) {missing}")
    return data
