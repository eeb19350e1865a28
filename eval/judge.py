"""An LLM judge of empathy: a fixed rubric answered through structured output.

The judge model reads the gold dialogue, the agent's reply, the strategy the agent meant to use
(or, with the planner off, the gold strategy) and the annotated emotion, and fills the schema
``RUBRIC_SCHEMA`` through ``ChatModel.acomplete_json`` (vLLM enforces the schema with
``structured_outputs``; the embedded backend decodes only the values). Prompt:
``prompts/judge.j2``.

Scores: ``emotion_acknowledged``, ``cause_addressed``, ``strategy_followed`` and ``fluent`` are
integers 1-5; ``safe`` is "yes"/"no". An answer that does not parse, lacks a key or holds a value
outside its range is recorded as ``{"missing": reason}`` -- never a crash -- and counted apart in
the report, as is a judge backend that fails.

>>> validate_rubric({"emotion_acknowledged": 4, "cause_addressed": "3", "strategy_followed": 5,
...                  "safe": "Yes", "fluent": 5})["safe"]
'yes'
>>> summarise([{"emotion_acknowledged": 4, "cause_addressed": 2, "strategy_followed": 3,
...             "safe": "yes", "fluent": 5}, {"missing": "bad json"}])["emotion_acknowledged"]
4.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.llm.base import ChatModel, LLMError
from agent.records import Utterance

SCALE_KEYS = ("emotion_acknowledged", "cause_addressed", "strategy_followed", "fluent")
RUBRIC_KEYS = (*SCALE_KEYS[:3], "safe", "fluent")

RUBRIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "emotion_acknowledged": {"type": "integer", "minimum": 1, "maximum": 5},
        "cause_addressed": {"type": "integer", "minimum": 1, "maximum": 5},
        "strategy_followed": {"type": "integer", "minimum": 1, "maximum": 5},
        "safe": {"type": "string", "enum": ["yes", "no"]},
        "fluent": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": list(RUBRIC_KEYS),
    "additionalProperties": False,
}

JUDGE_CONTEXT_MESSAGES = 8
"""The judge sees the last few messages only: enough for the cause, short enough for a small window."""


def validate_rubric(data: Any) -> dict[str, Any]:
    """The rubric with values checked and normalised; ``ValueError`` naming the bad field."""
    if not isinstance(data, dict):
        raise ValueError(f"judge answer is not an object: {data!r:.80}")
    out: dict[str, Any] = {}
    for key in SCALE_KEYS:
        value = data.get(key)
        try:
            score = int(str(value).strip())
        except (TypeError, ValueError):
            raise ValueError(f"{key} is not an integer: {value!r:.40}") from None
        if not 1 <= score <= 5:
            raise ValueError(f"{key} = {score} is outside 1-5")
        out[key] = score
    safe = str(data.get("safe", "")).strip().lower()
    if safe in ("true", "1"):
        safe = "yes"
    elif safe in ("false", "0"):
        safe = "no"
    if safe not in ("yes", "no"):
        raise ValueError(f"safe must be yes or no, got {data.get('safe')!r:.40}")
    out["safe"] = safe
    return out


def judge_messages(dialogue: Sequence[Utterance], reply: str, *, strategy: str | None = None,
                   emotion: str | None = None) -> list[dict[str, str]]:
    """The chat messages sent to the judge model."""
    from prompts import load_yaml, render

    description = ""
    if strategy:
        description = " ".join(str(load_yaml("strategies.yaml").get(strategy, "")).split())
    text = render("judge.j2", dialogue=list(dialogue)[-JUDGE_CONTEXT_MESSAGES:], reply=reply,
                  strategy=strategy, strategy_description=description, emotion=emotion)
    return [{"role": "user", "content": text}]


class EmpathyJudge:
    """Rates replies with ``chat_model``; ``model_name`` is what the report names as the judge."""

    def __init__(self, chat_model: ChatModel, model_name: str, *, max_new_tokens: int = 64) -> None:
        self.chat_model = chat_model
        self.model_name = model_name
        self.max_new_tokens = max_new_tokens

    async def ajudge(self, dialogue: Sequence[Utterance], reply: str, *, strategy: str | None = None,
                     emotion: str | None = None) -> dict[str, Any]:
        """The validated rubric, or ``{"missing": reason}`` when the judge's answer is unusable."""
        if not reply.strip():
            return {"missing": "empty reply"}
        messages = judge_messages(dialogue, reply, strategy=strategy, emotion=emotion)
        try:
            raw = await self.chat_model.acomplete_json(messages, RUBRIC_SCHEMA, temperature=0.0,
                                                       max_new_tokens=self.max_new_tokens)
            return validate_rubric(raw)
        except (LLMError, ValueError) as exc:
            return {"missing": f"{type(exc).__name__}: {exc}"[:300]}


def summarise(rubrics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means of the 1-5 scores, the share judged safe (x100), and how many were judged/missing."""
    judged = [r for r in rubrics if "missing" not in r]
    out: dict[str, Any] = {"judged": len(judged), "missing": len(rubrics) - len(judged)}
    for key in SCALE_KEYS:
        out[key] = sum(r[key] for r in judged) / len(judged) if judged else None
    out["safe_percent"] = 100.0 * sum(r["safe"] == "yes" for r in judged) / len(judged) if judged else None
    return out
