"""What the crisis gate learns from and is cross-validated on (``agent.safety.train`` uses it).

Positives: the hand-written sentences in ``agent.safety.seeds`` and ``agent.safety.seeds_varied``
(no hub data). Negatives: the seeds' hard negatives plus ordinary support-seeking turns from the
ESConv and EmpatheticDialogues training splits (alone; with ``esconv_context`` the ESConv ones keep
the conversation before them); any of those in which the rules read risk (some ESConv seekers do
talk about suicide) are dropped rather than used as "none" examples. The *tuning* probes
(tests/safety_probes/dev, round2 ... round9 and the retired held-out sets heldout ... heldout12, or
the files ``--probe-files`` names) are added; any other file named ``heldout*`` (heldout13 on) is
refused. Their lines from round4 on carry their writer's ``block`` (sentences written together), kept in
one cross-validation fold.

>>> Example("I can't go on", "suicide_self_harm", "risk", "seeds.0", ["How are you?"]).dialogue()[0].role
'user'
"""

from __future__ import annotations

import csv
import functools
import json
import random
from pathlib import Path

import numpy as np

from agent.records import Utterance
from agent.safety.seeds import (
    HARD_NEGATIVES,
    HARD_NEGATIVES_MORE,
    RISK_SEEDS,
    RISK_SEEDS_MORE,
)
from agent.safety.seeds_varied import VARIED_NEGATIVES, VARIED_RISK
from agent.safety.signals import read_signals
from agent.safety.tuned import CONTEXT_TURNS

PROBES = Path(__file__).resolve().parents[2] / "tests" / "safety_probes"
RETIRED_HELD_OUT = ("heldout", *(f"heldout{i}" for i in range(2, 13)))
"""Sets written as held out, scored for the decisions their rows in the probe README name, and
trained on since 2026-12-03, when a gate trained on them passed a rule fixed before heldout13 and
heldout14 existed (eval/benchmarks/results_safety.md); heldout13 on are the held-out sets now."""
TUNING_PROBES = ("dev", "round2", "round3", "round4", "round5", "round6", "round7", "round8", "round9", *RETIRED_HELD_OUT)
# heldout and heldout2 were written by the project itself, heldout3 on by writers who saw none of its text.
RULES_UNSEEN = ("round4", "round5", "round6", "round7", "round8", "round9", *RETIRED_HELD_OUT[2:])
"""Tuning sets written after the rules and by writers who saw none of the project's text: the
fusion is chosen on their cross-validated figures, since the sets the rules were written on
flatter the rules. (A set counts only when it is trained on.)"""


def is_held_out(probe_set: str) -> bool:
    """Whether a probe set (file stem or name) is held out: named ``heldout*`` and not retired,
    never trained or tuned on, only scored (``eval.safety``).

    >>> is_held_out("heldout13"), is_held_out("heldout12"), is_held_out("round9")
    (True, False, False)
    """
    return probe_set.startswith("heldout") and probe_set not in RETIRED_HELD_OUT


BLOCK = 12
"""Consecutive hand-written sentences kept in one cross-validation fold."""


def esconv_seeker_turns(data_dir: Path, split: str, with_context: bool = False) -> list[tuple[str, list[str]]]:
    """Seeker turns of ESConv ``split`` (four words or more) as ``(text, context)``.

    Without ``with_context`` every such turn, alone (context ``[]``). With it, the turns that
    answer the supporter, each with the conversation before it: up to ``CONTEXT_TURNS`` earlier
    utterances, consecutive ones of one speaker joined, starting with the seeker and ending with
    the supporter (so that roles alternate back from the turn, as the gate's training reads a
    context)."""
    from agent.planner.data import esconv_path, esconv_turns, read_esconv_records

    out = []
    for where, record in read_esconv_records(esconv_path(data_dir, split)):
        runs: list[list] = []  # [role, text] with consecutive utterances of one speaker joined
        for turn in esconv_turns(record, where):
            role, text = turn.role, turn.text.strip()
            wanted = role == "user" and len(text.split()) >= 4
            if wanted and not with_context:
                out.append((text, []))
            elif wanted and runs and runs[-1][0] == "assistant":
                context = [t for _, t in runs[-CONTEXT_TURNS:]]
                out.append((text, context[len(context) % 2:]))
            if with_context and runs and runs[-1][0] == role:
                runs[-1][1] += " " + text
            elif with_context:
                runs.append([role, text])
    return out


def ed_speaker_turns(data_dir: Path, split: str) -> list[str]:
    path = data_dir / "empathetic_dialogues" / f"{split}.csv"
    texts = []
    with open(path, encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = header.index("utterance")
        for row in reader:
            if len(row) > col:
                texts.append(row[col].replace("_comma_", ",").strip())
    return [t for t in texts if len(t.split()) >= 4]


def corpus_negatives(data_dir: Path, split: str, n_each: int, seed: int,
                     esconv_context: bool = False) -> list[tuple[str, list[str]]]:
    """``n_each`` random seeker turns from ESConv (in their conversation with ``esconv_context``)
    and from EmpatheticDialogues (speaker and listener, alone): ``(text, context)`` pairs."""
    rng = random.Random(seed)
    pools = [esconv_seeker_turns(data_dir, split, esconv_context), [(t, []) for t in ed_speaker_turns(data_dir, split)]]
    picked = []
    for pool in pools:
        pool = sorted({t: c for t, c in pool}.items())
        rng.shuffle(pool)
        picked += pool[:n_each]
    return picked


def read_probe_file(path: Path) -> list[dict]:
    if is_held_out(path.stem):
        raise ValueError(f"{path} is a held-out probe set; it must not be trained or tuned on")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class Example:
    """One training or evaluation item: the dialogue, its label, its kind and its CV block."""

    def __init__(self, text: str, label: str, kind: str, block: str, context: list[str] | None = None) -> None:
        self.text, self.label, self.kind, self.block = text, label, kind, block
        self.context = context or []

    def dialogue(self) -> list[Utterance]:
        turns = [Utterance("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(self.context)]
        return [*turns, Utterance("user", self.text)]


def hand_written_examples(probe_files: list[Path]) -> list[Example]:
    out: list[Example] = []
    for name, batch in (("seeds", RISK_SEEDS), ("seeds_more", RISK_SEEDS_MORE), ("varied", VARIED_RISK)):
        for category, texts in batch.items():
            out += [Example(t, category, "risk", f"{name}.{category}.{i // BLOCK}") for i, t in enumerate(texts)]
    for name, texts in (("neg", HARD_NEGATIVES), ("neg_more", HARD_NEGATIVES_MORE), ("neg_varied", VARIED_NEGATIVES)):
        out += [Example(t, "none", "hard", f"{name}.{i // BLOCK}") for i, t in enumerate(texts)]
    for path in probe_files:
        for i, row in enumerate(read_probe_file(path)):
            label = row["category"] if row["label"] == "risk" else "none"
            out.append(Example(row["text"], label, "risk" if row["label"] == "risk" else "hard",
                               f"{path.stem}.{row.get('block') or i // BLOCK}", row.get("context") or []))
    return out


def sample_weights(examples: list[Example]) -> np.ndarray:
    # Hard negatives count 3x (the false alarms we most want to avoid); all risk together weighs
    # half as much as all negatives.
    y = np.array([e.label for e in examples])
    w = np.array([3.0 if e.kind == "hard" else 1.0 for e in examples])
    n_risk = int((y != "none").sum())
    w[y != "none"] = w[y == "none"].sum() / max(n_risk, 1) * 0.5
    return w


class TuningData:
    """Every example the models learn from and the gate is cross-validated on, with its MiniLM
    vector, sample weight and cross-validation group (a block of sentences written together)."""

    def __init__(self, examples: list[Example], X: np.ndarray, groups: np.ndarray) -> None:
        self.examples, self.X, self.groups = examples, X, groups
        self.texts = [e.text for e in examples]
        self.y = np.array([e.label for e in examples])
        self.classes = sorted(set(self.y))
        # What the regressions (one turn) learn from: single-turn probes, and corpus turns, which
        # are ordinary with or without their conversation.
        self.single_turn = np.array([not e.context or e.kind == "corpus" for e in examples])
        self.weights = sample_weights(examples)
        self.is_risk = self.y != "none"
        self.hard = np.array([e.kind == "hard" for e in examples])
        self.corpus = np.array([e.kind == "corpus" for e in examples])
        self.rules_unseen = np.array([e.block.split(".")[0] in RULES_UNSEEN for e in examples])

    @functools.cached_property
    def dialogues(self) -> list[list[np.ndarray]]:
        """MiniLM's lower-layer states of every example's utterances, context first (cached on
        disk under ``.cache/safety``, and here: the CV folds and the final fit share them)."""
        from agent.perception.upper import StateBank

        texts = [t for e in self.examples for t in (*e.context, e.text)]
        bank = StateBank.build(texts, Path(".cache/safety"), log=lambda m: print(m, flush=True))
        return [[bank.get(t) for t in (*e.context, e.text)] for e in self.examples]

    def folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Grouped 5-fold split (train, test indices)."""
        from sklearn.model_selection import GroupKFold

        return list(GroupKFold(5).split(self.X, self.y, self.groups))


def tuning_data(data_dir: Path, split: str, negatives_per_corpus: int, seed: int,
                probe_files: list[Path], esconv_context: bool = False) -> TuningData:
    from agent.perception.embedder import encode_cached

    examples = hand_written_examples(probe_files)
    sample = corpus_negatives(data_dir, split, negatives_per_corpus, seed, esconv_context)
    # Drop turns the rules read as risky (some ESConv seekers do talk about suicide): they may well
    # be risk, so they are not clean negatives. The vectors are cached for the whole sample, so a
    # change of the rules does not re-embed it.
    # With ``esconv_context`` the ESConv turns keep their conversation (the fine-tuned model reads
    # it; without real support conversations among its negatives it learnt to flag ordinary turns
    # that follow one). A turn is dropped when the rules read risk in any of the seeker's words in it.
    keep = np.array([max(read_signals(u).score for u in (t, *c[::2])) < 0.3 for t, c in sample])
    rng = random.Random(seed)
    examples += [Example(t, "none", "corpus", f"corpus.{rng.randrange(50)}", list(c))
                 for (t, c), k in zip(sample, keep) if k]
    n_hand = len(examples) - int(keep.sum())
    # Two cache entries: editing the seeds must not re-embed the few thousand corpus turns.
    X = np.concatenate([encode_cached([e.text for e in examples[:n_hand]]), encode_cached([t for t, _ in sample])[keep]])
    blocks = sorted({e.block for e in examples})
    block_ids = {b: i for i, b in enumerate(rng.sample(blocks, len(blocks)))}
    return TuningData(examples, X, np.array([block_ids[e.block] for e in examples]))
