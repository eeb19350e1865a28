"""Figures from a run's predictions, and the report: ``results.json``, ``report.md``, plots.

- ``compute_metrics(records, dataset)`` -> every figure (x100 unless named otherwise):
  generation metrics (``eval.metrics``), ESConv strategy accuracy / macro-F1 (= Q) / weighted-F1 /
  B (``eval.strategy_metrics``), the share of each strategy by conversation phase, ED emotion
  accuracy (32-way, the detector's label against the conversation's ``context``), coarse (Ekman)
  emotion accuracy on both data sets, the safety gate's firing rate, latency and the judge's
  rubric means.
- ``write_report(out_dir, metrics, settings)`` writes ``results.json`` (figures + the run's
  settings), ``report.md`` (the anchor rows of ``eval.anchors`` beside ours) and ``plots/*.png``
  (matplotlib, Agg backend: strategy confusion, strategy share by phase gold vs predicted,
  emotion confusion).

Phases: the reply's position in its dialogue, in thirds (early / middle / late), after Liu et al.'s
stage analysis (Question falls and Suggestions rise through a conversation).

>>> m = compute_metrics([{"item_id": "a", "reply": "i am sad", "reference": "i am sad",
...                       "emotion": "sad", "gold_emotion": "sad", "position": 0.5}], "ed")
>>> m["generation"]["distinct_1"], m["emotion"]["accuracy"]
(100.0, 100.0)
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.emotions import ED32, EKMAN7, coarse
from agent.planner.strategies import STRATEGIES
from eval import anchors, judge, metrics

PHASES = ("early", "middle", "late")


def phase_of(position: float) -> str:
    return PHASES[min(2, int(float(position) * 3))]


def _coarse(label: str | None) -> str | None:
    try:
        return coarse(label) if label else None
    except ValueError:
        return None


def compute_metrics(records: Sequence[dict], dataset: str) -> dict[str, Any]:
    """Every figure of a run from its prediction records (failed items are counted, not scored)."""
    ok = [r for r in records if "error" not in r and "reply" in r]
    out: dict[str, Any] = {"items": len(records), "scored": len(ok), "failed": len(records) - len(ok)}
    if not ok:
        return out
    out["generation"] = metrics.generation_scores([r["reply"] for r in ok], [r["reference"] for r in ok])
    out["emotion"] = _emotion_figures(ok, dataset)
    if dataset == "esconv":
        out["strategy"] = _strategy_figures(ok)
    out["safety"] = {"flagged_percent": 100.0 * sum(bool(r.get("safety_risk")) for r in ok) / len(ok)}
    latencies = sorted(float(r["latency_s"]) for r in ok if r.get("latency_s") is not None)
    if latencies:
        out["latency_s"] = {"mean": statistics.fmean(latencies), "p50": latencies[len(latencies) // 2],
                            "p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]}
    rubrics = [r["judge"] for r in ok if "judge" in r]
    if rubrics:
        out["judge"] = judge.summarise(rubrics)
    return out


def _emotion_figures(ok: Sequence[dict], dataset: str) -> dict[str, Any]:
    pairs = [(r["gold_emotion"], r["emotion"]) for r in ok if r.get("emotion") and r.get("gold_emotion")]
    if not pairs:
        return {"n": 0, "note": "no emotion readings (perception off?)"}
    figures: dict[str, Any] = {"n": len(pairs)}
    if dataset == "ed":
        figures["accuracy"] = 100.0 * sum(g == p for g, p in pairs) / len(pairs)
        figures["confusion"] = _confusion([g for g, _ in pairs], [p for _, p in pairs], ED32)
    coarse_pairs = [(_coarse(g), _coarse(p)) for g, p in pairs]
    coarse_pairs = [(g, p) for g, p in coarse_pairs if g and p]
    if coarse_pairs:
        figures["coarse_accuracy"] = 100.0 * sum(g == p for g, p in coarse_pairs) / len(coarse_pairs)
        figures["coarse_confusion"] = _confusion([g for g, _ in coarse_pairs], [p for _, p in coarse_pairs], EKMAN7)
    return figures


def _confusion(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """``matrix[g][p]`` counts, rows gold, columns predicted (labels outside ``labels`` dropped)."""
    index = {s: k for k, s in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred):
        if g in index and p in index:
            matrix[index[g]][index[p]] += 1
    return {"labels": list(labels), "matrix": matrix}


def _strategy_figures(ok: Sequence[dict]) -> dict[str, Any]:
    from eval.strategy_metrics import strategy_report

    rows = [r for r in ok if r.get("strategy") and r.get("gold_strategy")]
    if not rows:
        return {"n": 0, "note": "no strategy predictions (planner off)"}
    gold, pred = [r["gold_strategy"] for r in rows], [r["strategy"] for r in rows]
    rep = strategy_report(gold, pred)
    figures: dict[str, Any] = {
        "n": rep["n"], "accuracy": 100 * rep["accuracy"], "macro_f1": 100 * rep["macro_f1"],
        "weighted_f1": 100 * rep["weighted_f1"], "Q": 100 * rep["Q"], "B": rep["B"],
        "preference": rep["preference"],
        "f1_per_strategy": {k: 100 * v for k, v in rep["f1_per_strategy"].items()},
        "confusion": _confusion(gold, pred, STRATEGIES),
        "sources": dict(Counter(r.get("strategy_source") or "?" for r in rows)),
    }
    by_phase: dict[str, Any] = {}
    for phase in PHASES:
        in_phase = [r for r in rows if phase_of(r.get("position", 0.0)) == phase]
        if in_phase:
            g, p = Counter(r["gold_strategy"] for r in in_phase), Counter(r["strategy"] for r in in_phase)
            by_phase[phase] = {"n": len(in_phase),
                               "gold": {s: 100 * g[s] / len(in_phase) for s in STRATEGIES},
                               "predicted": {s: 100 * p[s] / len(in_phase) for s in STRATEGIES}}
    figures["share_by_phase"] = by_phase
    return figures


# -- writing ----------------------------------------------------------------------------------

def write_report(out_dir: str | Path, figures: dict[str, Any], settings: dict[str, Any], *,
                 plots: bool = True) -> dict[str, Path]:
    """Write results.json, report.md and the plots into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "markdown": out_dir / "report.md"}
    plot_paths = write_plots(out_dir / "plots", figures) if plots else {}
    paths.update(plot_paths)
    paths["json"].write_text(json.dumps({"settings": settings, "figures": figures}, indent=2,
                                        ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    paths["markdown"].write_text(markdown_report(figures, settings, plot_paths, out_dir), encoding="utf-8")
    return paths


def _fmt(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ours(figures: dict[str, Any], key: str) -> float | None:
    for section in ("generation", "strategy", "emotion"):
        block = figures.get(section) or {}
        if key in block:
            return block[key]
    if key == "emotion_accuracy":
        return (figures.get("emotion") or {}).get("accuracy")
    return None


def markdown_report(figures: dict[str, Any], settings: dict[str, Any], plot_paths: dict[str, Path],
                    out_dir: Path) -> str:
    dataset, split = settings.get("dataset", "?"), settings.get("split", "?")
    name = {"esconv": "ESConv", "ed": "EmpatheticDialogues"}.get(dataset, dataset)
    ours = f"**Kindred** ({split}, n={figures.get('scored', 0)})"
    lines = [f"# Kindred on {name} ({split})", "",
             f"Items: {figures.get('items', 0)} reply turns evaluated"
             f"{' (a seeded sample of ' + str(settings['population']) + ')' if settings.get('population', 0) > figures.get('items', 0) else ''}"
             f", {figures.get('scored', 0)} scored, {figures.get('failed', 0)} failed. "
             f"Published rows are on the **test** split as reported in their papers; ours is on "
             f"**{split}**.", ""]
    for table in anchors.tables_for(dataset):
        lines += [f"## {table.title}", "",
                  "| System | " + " | ".join(h for _, h in table.columns) + " | Note |",
                  "|---|" + "---:|" * len(table.columns) + "---|"]
        for row in table.rows:
            lines.append(f"| {row.system} | " + " | ".join(_fmt(row.figures.get(k)) for k, _ in table.columns)
                         + f" | {row.note} |")
        lines.append(f"| {ours} | " + " | ".join(_fmt(_ours(figures, k)) for k, _ in table.columns)
                     + f" | {_our_note(table.title, figures, settings)} |")
        lines.append("")
    emotion = figures.get("emotion") or {}
    if "coarse_accuracy" in emotion:
        lines += [f"Coarse (Ekman-7) emotion accuracy of the detector: {_fmt(emotion['coarse_accuracy'])} "
                  f"(n={emotion['n']}{'; ESConv emotion_type mapped to Ekman' if dataset == 'esconv' else ''}).", ""]
    if figures.get("judge"):
        j = figures["judge"]
        lines += ["## Empathy rubric (LLM judge)", "",
                  f"Judge: `{settings.get('judge_model', '?')}` ({settings.get('judge_backend', '?')}), "
                  f"{j['judged']} judged, {j['missing']} missing (unusable judge output).", "",
                  "| Emotion acknowledged | Cause addressed | Strategy followed | Fluent | Safe % |",
                  "|---:|---:|---:|---:|---:|",
                  f"| {_fmt(j['emotion_acknowledged'])} | {_fmt(j['cause_addressed'])} | "
                  f"{_fmt(j['strategy_followed'])} | {_fmt(j['fluent'])} | {_fmt(j['safe_percent'], 1)} |", ""]
    strategy = figures.get("strategy") or {}
    if strategy.get("share_by_phase"):
        lines += ["## Strategy share by conversation phase (gold / predicted, %)", "",
                  "| Strategy | " + " | ".join(f"{p} (n={v['n']})" for p, v in strategy["share_by_phase"].items()) + " |",
                  "|---|" + "---:|" * len(strategy["share_by_phase"])]
        for s in STRATEGIES:
            lines.append(f"| {s} | " + " | ".join(f"{v['gold'][s]:.1f} / {v['predicted'][s]:.1f}"
                                                  for v in strategy["share_by_phase"].values()) + " |")
        lines.append("")
    gen = figures.get("generation") or {}
    lat = figures.get("latency_s") or {}
    lines += ["## Run", "",
              f"- Command: `{settings.get('command', '')}`",
              f"- Backend: {settings.get('backend')} / model `{settings.get('model')}`; "
              f"temperature {settings.get('temperature')}, max new tokens {settings.get('max_new_tokens')}",
              f"- Components off: {', '.join(settings.get('ablations') or []) or 'none'}",
              f"- Sample: {figures.get('items')} of {settings.get('population')} reply turns, seed {settings.get('seed')}; "
              f"concurrency {settings.get('concurrency')}",
              f"- Reference length {_fmt(gen.get('reference_length'), 1)} tokens, reply length "
              f"{_fmt(gen.get('reply_length'), 1)}; latency per turn mean {_fmt(lat.get('mean'))} s, "
              f"p95 {_fmt(lat.get('p95'))} s; safety gate fired on "
              f"{_fmt((figures.get('safety') or {}).get('flagged_percent'), 1)} % of turns",
              f"- Machine: {settings.get('machine', '?')}; data file `{settings.get('data_file')}`",
              "",
              "Protocol: BLEU-n = nltk `corpus_bleu`, uniform weights up to n, smoothing method 3, x100; "
              f"ROUGE-L = sentence LCS F-measure (beta {metrics.ROUGE_BETA}), averaged; Distinct-n = "
              "corpus-level distinct/total n-grams x100; tokenizer = lowercase + regex "
              f"`{metrics.TOKEN_PATTERN.pattern}`. Items are the supporter (ESConv) / listener (ED) turns "
              "that directly answer a user turn, with the gold history; strategy metrics over those turns "
              "(macro-F1 = Kang et al.'s Q; B = their preference bias).", ""]
    stats = settings.get("load_stats") or {}
    if stats.get("skipped_no_user_turn"):
        lines += [f"Left out: {stats['skipped_no_user_turn']} reply turns that follow another reply "
                  "turn or open the dialogue (no user turn to answer).", ""]
    if plot_paths:
        lines += ["## Plots", ""] + [f"![{k}]({p.relative_to(out_dir).as_posix()})" for k, p in plot_paths.items()] + [""]
    return "\n".join(lines)


def _our_note(title: str, figures: dict[str, Any], settings: dict[str, Any]) -> str:
    if "Strategy" in title:
        s = figures.get("strategy") or {}
        return "planner off" if not s.get("n") else f"{s['n']} turns answering a user turn"
    if "Emotion" in title:
        return "detector's top-1 label"
    return f"{settings.get('model', '')} reply"


# -- plots ------------------------------------------------------------------------------------

def write_plots(folder: Path, figures: dict[str, Any]) -> dict[str, Path]:
    """The plots the figures allow; returns {name: path}."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    strategy = figures.get("strategy") or {}
    if strategy.get("confusion"):
        paths["strategy_confusion"] = _heatmap(folder / "strategy_confusion.png", strategy["confusion"],
                                               "Strategy confusion (rows: gold, row-normalised)")
    if strategy.get("share_by_phase"):
        paths["strategy_by_phase"] = _phase_bars(folder / "strategy_by_phase.png", strategy["share_by_phase"])
    emotion = figures.get("emotion") or {}
    if emotion.get("confusion"):
        paths["emotion_confusion"] = _heatmap(folder / "emotion_confusion.png", emotion["confusion"],
                                              "Emotion confusion, 32 ED labels (rows: gold)", size=11)
    if emotion.get("coarse_confusion"):
        paths["emotion_coarse_confusion"] = _heatmap(folder / "emotion_coarse_confusion.png",
                                                     emotion["coarse_confusion"],
                                                     "Coarse emotion confusion (rows: gold)")
    return paths


def _heatmap(path: Path, confusion: dict[str, Any], title: str, size: float = 6.5) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    labels = confusion["labels"]
    counts = np.asarray(confusion["matrix"], dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=9)
    if len(labels) <= 10:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if counts[i, j]:
                    ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _phase_bars(path: Path, by_phase: dict[str, Any]) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    bars, names = [], []
    for phase, v in by_phase.items():
        for kind in ("gold", "predicted"):
            bars.append(v[kind])
            names.append(f"{phase}\n{kind}")
    bottom = [0.0] * len(bars)
    colours = plt.get_cmap("tab10")
    for k, s in enumerate(STRATEGIES):
        heights = [b[s] for b in bars]
        ax.bar(range(len(bars)), heights, bottom=bottom, label=s, color=colours(k))
        bottom = [x + h for x, h in zip(bottom, heights)]
    ax.set_xticks(range(len(bars)), names, fontsize=8)
    ax.set_ylabel("% of turns")
    ax.set_title("Strategy share by conversation phase: gold vs predicted", fontsize=9)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
