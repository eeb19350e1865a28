"""ESConv's eight support strategies and the three stages of Hill's helping model.

>>> stage_of("Question"), stage_of("Affirmation and Reassurance"), stage_of("Information")
('exploration', 'comforting', 'action')
"""

from __future__ import annotations

STRATEGIES: tuple[str, ...] = (
    "Question",
    "Restatement or Paraphrasing",
    "Reflection of feelings",
    "Self-disclosure",
    "Affirmation and Reassurance",
    "Providing Suggestions",
    "Information",
    "Others",
)

STAGES: tuple[str, ...] = ("exploration", "comforting", "action")

_STAGE = {
    "Question": "exploration",
    "Restatement or Paraphrasing": "exploration",
    "Reflection of feelings": "comforting",
    "Self-disclosure": "comforting",
    "Affirmation and Reassurance": "comforting",
    "Providing Suggestions": "action",
    "Information": "action",
    # "Others" (greetings, small talk) belongs to no stage; the conversation's position decides.
}

# Spellings found in the original ESConv.json layout and in LLM answers.
_ALIASES = {
    "questions": "Question",
    "restatement": "Restatement or Paraphrasing",
    "paraphrasing": "Restatement or Paraphrasing",
    "reflection": "Reflection of feelings",
    "affirmation": "Affirmation and Reassurance",
    "reassurance": "Affirmation and Reassurance",
    "suggestions": "Providing Suggestions",
    "providing suggestion": "Providing Suggestions",
    "other": "Others",
}


def normalise_strategy(name: str) -> str:
    """The canonical strategy name for ``name`` (brackets, case and ESConv.json variants accepted).

    Raises ``ValueError`` for anything that is not one of the eight strategies.
    """
    key = name.strip().strip("[]").strip()
    for strategy in STRATEGIES:
        if key.lower() == strategy.lower():
            return strategy
    if key.lower() in _ALIASES:
        return _ALIASES[key.lower()]
    raise ValueError(f"unknown strategy {name!r}; expected one of {list(STRATEGIES)}")


def stage_of(strategy: str, *, position: float | None = None) -> str:
    """The helping stage a strategy belongs to. For "Others", ``position`` (0..1 through the
    conversation) decides; without it, exploration."""
    strategy = normalise_strategy(strategy)
    if strategy in _STAGE:
        return _STAGE[strategy]
    if position is None:
        return "exploration"
    return STAGES[min(2, int(position * 3))]
