"""Published figures the report puts beside ours (from ``../shared/docs/methods.md``).

Each anchor row is a system's published numbers on one table, with the protocol caveat that the
paper or ``methods.md`` attaches to it. ``None`` is "not reported". All figures are x100 and on the
data set's **test** split as published; ours are on whatever split the run names, so the report
always prints the split next to our row.

>>> [row.system for row in ESCONV_GENERATION][:2]
['BlenderBot-Joint', 'MISC']
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Anchor:
    system: str
    figures: dict[str, float | None]
    note: str = ""
    source: str = "methods.md"


# ESConv response generation: B-2 / R-L / D-2.
ESCONV_GENERATION: tuple[Anchor, ...] = (
    Anchor("BlenderBot-Joint", {"bleu_2": 5.35, "rouge_l": 15.46, "distinct_2": None}),
    Anchor("MISC", {"bleu_2": 7.31, "rouge_l": 17.91, "distinct_2": 19.71}),
    Anchor("TransESC", {"bleu_2": 7.64, "rouge_l": 17.51, "distinct_2": 20.48},
           note="utterance-level split (leaky)"),
    Anchor("SAGE", {"bleu_2": 11.87, "rouge_l": 20.51, "distinct_2": 39.86}),
)

# ESConv strategy prediction: accuracy, macro-F1 (= Q), weighted-F1, preference bias B.
ESCONV_STRATEGY: tuple[Anchor, ...] = (
    Anchor("BlenderBot-Joint", {"accuracy": 31.5, "macro_f1": None, "weighted_f1": None, "B": None},
           note="accuracy 'about 31-32'"),
    Anchor("MISC", {"accuracy": 31.63, "macro_f1": None, "weighted_f1": None, "B": None}),
    Anchor("TransESC", {"accuracy": 34.71, "macro_f1": 26.28, "weighted_f1": 31.33, "B": None},
           note="accuracy on a leaky split (31.2 leak-free); F1 from EmoDynamiX"),
    Anchor("MultiESC", {"accuracy": 42.01, "macro_f1": None, "weighted_f1": None, "B": None},
           note="merged strategy labels"),
    Anchor("SAGE", {"accuracy": 46.80, "macro_f1": 38.95, "weighted_f1": None, "B": None}),
    Anchor("ChatGPT (EmoDynamiX)", {"accuracy": None, "macro_f1": 18.14, "weighted_f1": 20.27, "B": None}),
    Anchor("fine-tuned RoBERTa", {"accuracy": None, "macro_f1": 25.04, "weighted_f1": 27.94, "B": None}),
    Anchor("EmoDynamiX", {"accuracy": None, "macro_f1": 27.70, "weighted_f1": 32.71, "B": None}),
    Anchor("ChatGPT zero-shot (Kang et al.)", {"accuracy": None, "macro_f1": 13.50, "weighted_f1": None, "B": 1.38},
           note="Q = macro-F1"),
    Anchor("ChatGPT + fine-tuned planner (Kang et al.)", {"accuracy": None, "macro_f1": 21.09, "weighted_f1": None, "B": 0.36},
           note="Q = macro-F1"),
)

# EmpatheticDialogues generation diversity: D-1 / D-2.
ED_GENERATION: tuple[Anchor, ...] = (
    Anchor("CASE", {"distinct_1": 0.74, "distinct_2": 4.01}),
    Anchor("IAMM", {"distinct_1": 2.09, "distinct_2": 7.03}),
)

# EmpatheticDialogues emotion accuracy (32-way).
ED_EMOTION: tuple[Anchor, ...] = (
    Anchor("EmpDG", {"emotion_accuracy": 34.31}),
    Anchor("CEM", {"emotion_accuracy": 39.11}),
    Anchor("KEMP", {"emotion_accuracy": 39.31}),
    Anchor("CASE", {"emotion_accuracy": 40.2}),
    Anchor("SEEK", {"emotion_accuracy": 41.85}),
    Anchor("GPT-3.5 zero-shot", {"emotion_accuracy": 37.9}),
    Anchor("IAMM", {"emotion_accuracy": 55.92}),
    Anchor("fine-tuned ChatGLM3-7B", {"emotion_accuracy": 62.16}),
)


@dataclass(frozen=True)
class AnchorTable:
    title: str
    columns: tuple[tuple[str, str], ...]
    """(metric key, column header) pairs."""
    rows: tuple[Anchor, ...] = field(default_factory=tuple)


def tables_for(dataset: str) -> tuple[AnchorTable, ...]:
    """The anchor tables the report prints for ``dataset`` ("esconv" or "ed")."""
    if dataset == "esconv":
        return (
            AnchorTable("Response generation (ESConv)",
                        (("bleu_1", "B-1"), ("bleu_2", "B-2"), ("bleu_4", "B-4"), ("rouge_l", "R-L"),
                         ("distinct_1", "D-1"), ("distinct_2", "D-2"), ("reply_length", "Len")),
                        ESCONV_GENERATION),
            AnchorTable("Strategy prediction (ESConv)",
                        (("accuracy", "Acc"), ("macro_f1", "Macro-F1 (Q)"), ("weighted_f1", "Weighted-F1"),
                         ("B", "B (lower is better)")),
                        ESCONV_STRATEGY),
        )
    if dataset == "ed":
        return (
            AnchorTable("Response generation (EmpatheticDialogues)",
                        (("bleu_1", "B-1"), ("bleu_2", "B-2"), ("bleu_4", "B-4"), ("rouge_l", "R-L"),
                         ("distinct_1", "D-1"), ("distinct_2", "D-2"), ("reply_length", "Len")),
                        ED_GENERATION),
            AnchorTable("Emotion accuracy (EmpatheticDialogues, 32-way)",
                        (("emotion_accuracy", "Acc"),), ED_EMOTION),
        )
    raise ValueError(f"no anchor tables for dataset {dataset!r}")
