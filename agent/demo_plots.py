"""The demo's plot: the character's feelings (VAD) and the user's detected valence over the turns.

Rendered with matplotlib's Agg backend into a figure that ``gr.Plot`` sends to the page as an
image, so the page needs no JavaScript charting library and no network.

Turn 0 is the character's resting state (its personality baseline) when known; turn ``i`` is the
state after the user's ``i``-th message. A turn without a reading (the crisis gate skipped the
pipeline, or a component is switched off) leaves a gap; crisis turns get a red band.

>>> from agent.records import VAD, TurnResult
>>> points = trajectory([TurnResult("s", 0, "hi", "hello", agent_vad=VAD(0.1, 0.2, 0.3))], VAD())
>>> points.turns, points.valence
([0, 1], [0.0, 0.1])
>>> fig = trajectory_figure(points)  # a matplotlib Figure; close it with plt.close(fig)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.records import VAD, TurnResult

NAN = float("nan")

# Colour-blind-safe (Okabe-Ito) colours, matched by the page's legend text.
COLOURS = {"valence": "#0072B2", "arousal": "#E69F00", "dominance": "#009E73", "user": "#CC79A7"}


@dataclass
class Trajectory:
    """Per-turn series; ``nan`` where a turn has no reading."""

    turns: list[int] = field(default_factory=list)
    valence: list[float] = field(default_factory=list)
    arousal: list[float] = field(default_factory=list)
    dominance: list[float] = field(default_factory=list)
    user_valence: list[float] = field(default_factory=list)
    crisis_turns: list[int] = field(default_factory=list)


def trajectory(turns: Sequence[TurnResult], baseline: VAD | None = None) -> Trajectory:
    """The series to plot, from a session's stored turns (oldest first)."""
    points = Trajectory()
    if baseline is not None:
        points.turns.append(0)
        points.valence.append(baseline.valence)
        points.arousal.append(baseline.arousal)
        points.dominance.append(baseline.dominance)
        points.user_valence.append(NAN)
    for i, turn in enumerate(turns, start=1):
        vad = turn.agent_vad
        points.turns.append(i)
        points.valence.append(vad.valence if vad else NAN)
        points.arousal.append(vad.arousal if vad else NAN)
        points.dominance.append(vad.dominance if vad else NAN)
        points.user_valence.append(turn.emotion.valence if turn.emotion else NAN)
        if turn.safety is not None and turn.safety.risk:
            points.crisis_turns.append(i)
    return points


def trajectory_figure(points: Trajectory, *, title: str = "How the conversation feels"):
    """A matplotlib figure of ``points``; the caller closes it (``plt.close(fig)``)."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display here; the page gets an image
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100, layout="constrained")
    ax.axhline(0.0, color="#9ca3af", linewidth=0.8, zorder=0)
    for turn in points.crisis_turns:
        ax.axvspan(turn - 0.4, turn + 0.4, color="#fecaca", zorder=0, label=None)
    series = (("valence", points.valence, "-", "o"), ("arousal", points.arousal, "-", "s"),
              ("dominance", points.dominance, "-", "^"))
    for name, values, style, marker in series:
        ax.plot(points.turns, values, style, marker=marker, markersize=4, linewidth=2,
                color=COLOURS[name], label=f"character {name}")
    ax.plot(points.turns, points.user_valence, "--", marker="D", markersize=5, linewidth=1.6,
            color=COLOURS["user"], label="user valence (detected)")
    ax.set_ylim(-1.05, 1.05)
    last = max(points.turns, default=0)
    ax.set_xlim(-0.3, max(last, 3) + 0.3)
    ax.set_xticks(range(0, max(last, 3) + 1))
    ax.set_xlabel("turn (0 = the character at rest)")
    ax.set_ylabel("−1 … +1")
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(alpha=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    readings = [v for s in (points.valence, points.user_valence) for v in s if v == v]  # not nan
    if not readings:
        message = ("the plot fills in as you talk" if not points.turns else
                   "no readings: the transition model and the detector are switched off")
        ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="#6b7280")
    else:
        ax.legend(loc="lower left", fontsize=8, ncols=2, frameon=False)
    return fig
