"""LLM backends behind one interface (``ChatModel``): embedded SmolLM2, OpenAI-compatible (vLLM),
and an adapter for any LangChain chat model. ``make_chat_model(settings)`` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.llm.base import ChatModel, GenerationOptions, LLMError, LLMUnavailable, MalformedOutput

if TYPE_CHECKING:
    from agent.settings import Settings

__all__ = ["ChatModel", "GenerationOptions", "LLMError", "LLMUnavailable", "MalformedOutput",
           "make_chat_model"]


def make_chat_model(settings: Settings) -> ChatModel:
    """The backend named by ``settings.llm.backend``, built from the settings."""
    if settings.llm.backend == "openai":
        from agent.llm.openai_compat import OpenAIChatModel

        return OpenAIChatModel.from_settings(settings)
    from agent.llm.embedded import EmbeddedChatModel

    return EmbeddedChatModel.from_settings(settings)
