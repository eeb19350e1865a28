"""Loaders for the perception data sets: EmpatheticDialogues (emotion) and RECCON (emotion cause).

- ``load_ed(data_dir, split)`` reads ED's official CSV layout into ``EDConversation`` records
  (``_comma_`` restored; the ``prompt``/situation column kept in ``situation``, a training
  signal only, never an evaluation input).
- ``ed_samples(conversations)`` gives the standard ED emotion-accuracy samples (MoEL, CEM, IAMM):
  one per listener response, whose input is the dialogue before it (so it ends with a speaker
  turn) and whose label is the conversation's emotion.
- ``load_reccon(data_dir, split)`` reads RECCON's original annotation (DailyDialog) into
  ``RecconDialogue`` records, with emotion typos normalised ("happines" -> "happiness").
- ``reccon_pairs(dialogues)`` derives causal-emotion-entailment pairs as in the RECCON paper: for
  every non-neutral target utterance, every utterance of its history (itself included) is a
  candidate; positives are the "expanded emotion cause evidence".

>>> s = ed_samples([EDConversation("c1", "afraid", ("My car caught fire!", "Oh no!", "I got out."))])
>>> [(len(x.context), x.label) for x in s]
[(1, 'afraid')]
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.emotions import ED32

RECCON_EMOTIONS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
_RECCON_FIXES = {"happines": "happiness", "happy": "happiness", "surprised": "surprise",
                 "angry": "anger", "sad": "sadness", "excited": "happiness", "disgusted": "disgust",
                 "fearful": "fear"}


@dataclass(frozen=True)
class EDConversation:
    conv_id: str
    emotion: str
    utterances: tuple[str, ...]
    """Oldest first; even indices (0, 2, ...) are the speaker who felt the emotion."""
    situation: str = ""
    """The speaker's written situation (the ``prompt`` column): a training signal only, never an
    input when a model is evaluated."""


@dataclass(frozen=True)
class EDSample:
    conv_id: str
    context: tuple[str, ...]
    """The dialogue before a listener response, oldest first, ending with a speaker turn."""
    label: str


def _split_file(folder: Path, split: str, suffix: str) -> Path:
    path = folder / f"{split}{suffix}"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (expected the {split!r} split in {folder})")
    return path


def load_ed(data_dir: str | Path, split: str) -> list[EDConversation]:
    """ED conversations of ``split`` (train/valid/test) from ``data_dir/empathetic_dialogues``."""
    path = _split_file(Path(data_dir) / "empathetic_dialogues", split, ".csv")
    rows: dict[str, list[tuple[int, str]]] = {}
    labels: dict[str, str] = {}
    situations: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = {name: i for i, name in enumerate(header)}
        for row in reader:
            if len(row) < len(header) - 2:  # a broken line (some official lines carry extra commas)
                continue
            conv, emotion = row[col["conv_id"]], row[col["context"]].strip().lower()
            if emotion not in ED32:
                continue
            try:
                idx = int(row[col["utterance_idx"]])
            except ValueError:
                continue
            text = row[col["utterance"]].replace("_comma_", ",").strip()
            rows.setdefault(conv, []).append((idx, text))
            labels[conv] = emotion
            if "prompt" in col:
                situations[conv] = row[col["prompt"]].replace("_comma_", ",").strip()
    return [EDConversation(c, labels[c], tuple(t for _, t in sorted(u)), situations.get(c, ""))
            for c, u in rows.items()]


def ed_samples(conversations: Iterable[EDConversation]) -> list[EDSample]:
    """One sample per listener response (odd index): the context before it and the emotion."""
    out = []
    for conv in conversations:
        for i in range(1, len(conv.utterances), 2):
            out.append(EDSample(conv.conv_id, conv.utterances[:i], conv.emotion))
    return out


@dataclass(frozen=True)
class RecconUtterance:
    turn: int
    speaker: str
    text: str
    emotion: str
    cause_turns: tuple[int, ...] = ()
    """1-based turns of the "expanded emotion cause evidence" (non-neutral utterances only)."""
    cause_spans: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecconDialogue:
    id: str
    utterances: tuple[RecconUtterance, ...]


@dataclass(frozen=True)
class CausePair:
    dialogue_id: str
    target: int
    """0-based index of the target utterance."""
    candidate: int
    """0-based index of the candidate cause (``<= target``)."""
    emotion: str
    label: int


def normalise_reccon_emotion(label: str) -> str:
    key = label.strip().lower()
    key = _RECCON_FIXES.get(key, key)
    if key not in RECCON_EMOTIONS:
        raise ValueError(f"unknown RECCON emotion {label!r}")
    return key


def load_reccon(data_dir: str | Path, split: str) -> list[RecconDialogue]:
    """RECCON DailyDialog dialogues of ``split`` from ``data_dir/reccon/original_annotation``."""
    folder = Path(data_dir) / "reccon" / "original_annotation"
    path = _split_file(folder, f"dailydialog_{split}", ".json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for dial_id, turns in raw.items():
        utts = []
        for u in turns[0]:
            evidence = u.get("expanded emotion cause evidence") or ()
            # "b" marks a cause outside the dialogue; only in-dialogue turns can be candidates.
            cause_turns = tuple(int(t) for t in evidence if isinstance(t, int) or str(t).isdigit())
            utts.append(RecconUtterance(int(u["turn"]), u["speaker"], u["utterance"],
                                        normalise_reccon_emotion(u["emotion"]), cause_turns,
                                        tuple(u.get("expanded emotion cause span") or ())))
        out.append(RecconDialogue(dial_id, tuple(utts)))
    return out


def reccon_pairs(dialogues: Sequence[RecconDialogue]) -> list[CausePair]:
    """Causal-emotion-entailment pairs (RECCON subtask 2), in the order of the released CSVs."""
    pairs = []
    for d in dialogues:
        for t, u in enumerate(d.utterances):
            if u.emotion == "neutral":
                continue
            for c in range(t + 1):
                label = int(d.utterances[c].turn in u.cause_turns)
                pairs.append(CausePair(d.id, t, c, u.emotion, label))
    return pairs


def load_cee_csv(path: str | Path) -> list[tuple[str, int]]:
    """The released subtask-2 CSV as (id, label) rows, e.g. ``dailydialog_va_922_utt_6_..._utt_1``."""
    with Path(path).open(encoding="utf-8", newline="") as f:
        return [(row["id"], int(row["labels"])) for row in csv.DictReader(f)]


def load_span_squad(path: str | Path) -> list[dict]:
    """The released subtask-1 SQuAD-style file as flat question records."""
    out = []
    for item in json.loads(Path(path).read_text(encoding="utf-8")):
        for qa in item["qas"]:
            out.append({"id": qa["id"], "context": item["context"], "question": qa["question"],
                        "impossible": bool(qa.get("is_impossible")),
                        "answers": [a["text"] for a in qa["answers"]]})
    return out
