"""Emotional-support strategy planning over ESConv's eight strategies.

``load_planner(kind)`` builds a ``StrategyPlanner`` (``agent.protocols``):

- ``"trained"``: the MLPs and the n-gram reader trained on ESConv (``agent.planner.model.TrainedPlanner``);
- ``"llm"``: the zero-shot LLM planner (``agent.planner.llm.LLMPlanner``) over ``chat_model``,
  falling back to the trained planner when the model answers outside the eight strategies;
- ``"prior"``: the positional prior (ESConv's strategy shares by supporter-turn index).

Every planner accepts, beyond the protocol, ``previous_strategies=`` (the strategies of the
earlier supporter turns, oldest first, e.g. from the store); without it the trained planner tags
them from the assistant utterances. ``forbidden`` strategies are never returned.

>>> planner = load_planner("trained")                                     # doctest: +SKIP
>>> planner.plan([Utterance("user", "I can't sleep since the divorce.")]).stage  # doctest: +SKIP
'exploration'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from agent.planner.strategies import STAGES, STRATEGIES, normalise_strategy, stage_of

if TYPE_CHECKING:
    from agent.llm.base import ChatModel
    from agent.settings import Settings

__all__ = ["STAGES", "STRATEGIES", "load_planner", "normalise_strategy", "stage_of"]


def load_planner(kind: Literal["trained", "llm", "prior"] = "trained", chat_model: ChatModel | None = None,
                 settings: Settings | None = None) -> Any:
    """A strategy planner of ``kind``.

    Precedence for the recency penalty: a value set explicitly in ``settings.planner`` (file,
    environment or argument) > the value chosen in training (on out-of-fold predictions for ESConv
    train) and stored with the weights.
    ``kind="llm"`` needs ``chat_model``.
    """
    from agent.planner.model import TrainedPlanner
    from agent.planner.prior import PriorPlanner

    if kind == "prior":
        return PriorPlanner.load()
    kwargs: dict[str, Any] = {}
    if settings is not None and "recency_penalty" in settings.planner.model_fields_set:
        kwargs["recency_penalty"] = settings.planner.recency_penalty
    trained = TrainedPlanner.load(**kwargs)
    if kind == "trained":
        return trained
    if kind == "llm":
        if chat_model is None:
            raise ValueError("load_planner('llm') needs a chat_model (agent.llm)")
        from agent.planner.llm import LLMPlanner

        return LLMPlanner(chat_model, fallback=trained)
    raise ValueError(f"unknown planner kind {kind!r}; expected 'trained', 'llm' or 'prior'")
