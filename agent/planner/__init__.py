"""Emotional-support strategy planning over ESConv's eight strategies."""

from agent.planner.strategies import STAGES, STRATEGIES, normalise_strategy, stage_of

__all__ = ["STAGES", "STRATEGIES", "normalise_strategy", "stage_of"]
