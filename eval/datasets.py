"""Evaluation items from ESConv and EmpatheticDialogues, read from their published formats.

An ``EvalItem`` is one gold reply turn to regenerate: the gold dialogue before it (ending with the
user's turn, as ``Agent.respond`` needs), the gold reply and its annotations.

- **ESConv**, two layouts, told apart by the first character of the file:
  the ``thu-coai/esconv`` JSON lines (``train.txt``/``valid.txt``/``test.txt``; ``speaker``
  ``usr``/``sys``, ``text``, ``strategy``) and the original ``ESConv.json`` array (``speaker``
  ``seeker``/``supporter`` -- ``speaker``/``listener`` in ``FailedESConv.json`` --, ``content``,
  ``annotation.strategy``). Strategy names go through ``normalise_strategy``, plus two spellings
  seen only in the original release (``EXTRA_STRATEGY_ALIASES``).
  Items: every supporter turn that directly answers a seeker turn. Supporter turns that follow
  another supporter turn (about 17 % in valid) or open the dialogue (4 %) have no user turn to
  answer, so the full agent cannot be asked for them; they are counted in ``LoadStats`` and left
  out (the planner's own evaluation, ``eval.planner``, scores every supporter turn).
- **EmpatheticDialogues**, the official CSV (``conv_id,utterance_idx,context,prompt,speaker_idx,
  utterance,selfeval,tags``; ``_comma_`` for commas). Each line is parsed on its own with the csv
  module (quoted fields of this copy and the unquoted official file both read); fields after the
  eighth (the official test file's candidate column) are ignored. Items: every listener turn
  (``speaker_idx`` 2) with the dialogue before it; gold emotion = the conversation's ``context``.

A malformed row raises ``ValueError`` naming the file and line (or dialogue and turn for the JSON
array), unless ``skip_malformed=True``, which counts it in ``LoadStats.malformed`` instead.

>>> items, stats = esconv_items_from_records([{"emotion_type": "anxiety", "dialog": [
...     {"speaker": "usr", "text": "Hi"}, {"speaker": "sys", "text": "Hello!", "strategy": "Question"}]}])
>>> items[0].reference, items[0].strategy, [u.role for u in items[0].dialogue]
('Hello!', 'Question', ['user'])
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.emotions import ED32
from agent.planner.data import esconv_turns, read_esconv_records
from agent.planner.strategies import normalise_strategy
from agent.records import Utterance

DATASETS = ("esconv", "ed")
SPLITS = ("train", "valid", "test")

EXTRA_STRATEGY_ALIASES = {
    # Found in the original ESConv.json release (FailedESConv.json), not in the thu-coai files.
    "direct guidance": "Providing Suggestions",
    "approval and reassurance": "Affirmation and Reassurance",
}

ED_COLUMNS = ("conv_id", "utterance_idx", "context", "prompt", "speaker_idx", "utterance")


@dataclass(frozen=True)
class EvalItem:
    """One gold reply turn to regenerate."""

    item_id: str
    """Stable across runs, e.g. ``esconv:valid:12:7`` (dialogue 12, turn 7): resuming keys on it."""
    dataset: str
    dialogue_id: str
    turn_index: int
    """Index of the gold reply in its dialogue."""
    position: float
    """Where the reply sits in its dialogue, 0 (first turn) .. 1 (last turn); for stage plots."""
    dialogue: tuple[Utterance, ...]
    """The gold dialogue before the reply, oldest first, ending with the user's turn."""
    reference: str
    strategy: str | None = None
    """ESConv's gold strategy of the reply (canonical name); None for ED."""
    emotion: str | None = None
    """ED: the conversation's emotion (32-way). ESConv: the seeker's ``emotion_type``."""
    problem: str | None = None
    """ESConv's ``problem_type``."""

    def to_dict(self) -> dict:
        return {"item_id": self.item_id, "dataset": self.dataset, "dialogue_id": self.dialogue_id,
                "turn_index": self.turn_index, "position": self.position,
                "dialogue": [u.to_dict() for u in self.dialogue], "reference": self.reference,
                "strategy": self.strategy, "emotion": self.emotion, "problem": self.problem}


@dataclass
class LoadStats:
    """What the loader read and what it left out, for the report."""

    dialogues: int = 0
    reply_turns: int = 0
    skipped_no_user_turn: int = 0
    malformed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"dialogues": self.dialogues, "reply_turns": self.reply_turns,
                "skipped_no_user_turn": self.skipped_no_user_turn,
                "malformed": len(self.malformed), "malformed_examples": self.malformed[:5]}


# -- files ------------------------------------------------------------------------------------

def split_file(data_dir: str | Path, dataset: str, split: str) -> Path:
    """The file of ``split``: ``esconv/<split>.txt`` (or ``.json``), ``empathetic_dialogues/<split>.csv``."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folder = Path(data_dir) / ("esconv" if dataset == "esconv" else "empathetic_dialogues")
    candidates = [folder / f"{split}.txt", folder / f"{split}.json"] if dataset == "esconv" else [folder / f"{split}.csv"]
    for path in candidates:
        if path.exists():
            return path
    raise FileNotFoundError(f"no {dataset} {split!r} split at {' or '.join(map(str, candidates))} "
                            "(pass --data-dir, or --file for a file elsewhere)")


def load_items(dataset: str, path: str | Path, *, skip_malformed: bool = False,
               split: str = "file") -> tuple[list[EvalItem], LoadStats]:
    """All items of one data file, in file order."""
    if dataset == "esconv":
        return load_esconv(path, skip_malformed=skip_malformed, split=split)
    if dataset == "ed":
        return load_ed(path, skip_malformed=skip_malformed, split=split)
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")


def sample_items(items: list[EvalItem], limit: int | None, seed: int) -> list[EvalItem]:
    """``limit`` items drawn uniformly with ``seed`` (all when ``limit`` is None), in file order,
    so that the same arguments always give the same sample (which resuming relies on)."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    keep = set(random.Random(seed).sample(range(len(items)), limit))
    return [item for i, item in enumerate(items) if i in keep]


# -- ESConv -----------------------------------------------------------------------------------

def _strategy(raw: str) -> str:
    key = raw.strip().strip("[]").strip().lower()
    if key in EXTRA_STRATEGY_ALIASES:
        return EXTRA_STRATEGY_ALIASES[key]
    return normalise_strategy(raw)


def _esconv_turns(where: str, record: object) -> list[tuple[str, str, str | None]]:
    """``(role, stripped text, normalised strategy)`` per turn of one record (``esconv_turns``);
    ``ValueError`` naming ``where``."""
    turns = []
    for j, turn in enumerate(esconv_turns(record, where)):
        strategy = None
        if turn.role == "assistant":
            try:
                strategy = _strategy(turn.strategy_label) if turn.strategy_label else "Others"
            except ValueError as exc:
                raise ValueError(f"{where} turn {j}: {exc}") from exc
        turns.append((turn.role, turn.text.strip(), strategy))
    return turns


def esconv_items_from_records(records: Iterable[dict | tuple[str, dict]], *, split: str = "file",
                              skip_malformed: bool = False) -> tuple[list[EvalItem], LoadStats]:
    """Items from ESConv dialogue records (or ``(where, record)`` pairs)."""
    items: list[EvalItem] = []
    stats = LoadStats()
    for d, entry in enumerate(records):
        where, record = entry if isinstance(entry, tuple) else (f"dialogue {d}", entry)
        try:
            turns = _esconv_turns(where, record)
        except ValueError as exc:
            if not skip_malformed:
                raise
            stats.malformed.append(str(exc))
            continue
        stats.dialogues += 1
        emotion = str(record.get("emotion_type") or "").strip().lower() or None
        problem = str(record.get("problem_type") or "").strip() or None
        last = max(1, len(turns) - 1)
        for j, (role, text, strategy) in enumerate(turns):
            if role != "assistant":
                continue
            if j == 0 or turns[j - 1][0] != "user":
                stats.skipped_no_user_turn += 1
                continue
            stats.reply_turns += 1
            dialogue = tuple(Utterance(r, t) for r, t, _ in turns[:j])
            items.append(EvalItem(f"esconv:{split}:{d}:{j}", "esconv", str(d), j, j / last,
                                  dialogue, text, strategy=strategy, emotion=emotion, problem=problem))
    return items, stats


def load_esconv(path: str | Path, *, skip_malformed: bool = False,
                split: str = "file") -> tuple[list[EvalItem], LoadStats]:
    """Items of an ESConv file in either layout."""
    return esconv_items_from_records(read_esconv_records(path), split=split, skip_malformed=skip_malformed)


# -- EmpatheticDialogues ----------------------------------------------------------------------

def read_ed_rows(path: str | Path, *, skip_malformed: bool = False,
                 stats: LoadStats | None = None) -> Iterator[dict]:
    """The rows of an ED CSV as dicts (``utterance_idx``/``speaker_idx`` as ints, ``_comma_``
    restored), with ``ValueError("<file>:<line>: ...")`` for a malformed row."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"EmpatheticDialogues file not found: {path}")
    stats = stats if stats is not None else LoadStats()
    with path.open(encoding="utf-8", newline="") as f:
        header_line = f.readline()
        header = next(csv.reader([header_line]), [])
        missing = [c for c in ED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}:1: header lacks column(s) {missing}; expected the official "
                             f"ED layout {','.join(ED_COLUMNS)},selfeval,tags")
        col = {name: header.index(name) for name in ED_COLUMNS}
        width = max(col.values()) + 1
        for line_no, line in enumerate(f, 2):
            if not line.strip():
                continue
            row = next(csv.reader([line.rstrip("\r\n")]), [])
            try:
                yield _ed_row(row, col, width)
            except ValueError as exc:
                message = f"{path}:{line_no}: {exc}"
                if not skip_malformed:
                    raise ValueError(message) from None
                stats.malformed.append(message)


def _ed_row(row: list[str], col: dict[str, int], width: int) -> dict:
    if len(row) < width:
        raise ValueError(f"expected at least {width} comma-separated fields, found {len(row)}")
    try:
        utterance_idx = int(row[col["utterance_idx"]])
        speaker_idx = int(row[col["speaker_idx"]])
    except ValueError:
        raise ValueError(f"utterance_idx/speaker_idx are not integers: "
                         f"{row[col['utterance_idx']]!r}, {row[col['speaker_idx']]!r}") from None
    if speaker_idx not in (1, 2):
        raise ValueError(f"speaker_idx must be 1 (speaker) or 2 (listener), got {speaker_idx}")
    emotion = row[col["context"]].strip().lower()
    if emotion not in ED32:
        raise ValueError(f"unknown emotion {row[col['context']]!r} (expected one of the 32 ED emotions)")
    text = row[col["utterance"]].replace("_comma_", ",").strip()
    if not text:
        raise ValueError("empty utterance")
    return {"conv_id": row[col["conv_id"]].strip(), "utterance_idx": utterance_idx,
            "speaker_idx": speaker_idx, "emotion": emotion, "utterance": text}


def load_ed(path: str | Path, *, skip_malformed: bool = False,
            split: str = "file") -> tuple[list[EvalItem], LoadStats]:
    """Items of an ED CSV: one per listener turn, conversations in file order."""
    stats = LoadStats()
    conversations: dict[str, list[dict]] = {}
    for row in read_ed_rows(path, skip_malformed=skip_malformed, stats=stats):
        conversations.setdefault(row["conv_id"], []).append(row)
    items: list[EvalItem] = []
    for conv_id, rows in conversations.items():
        stats.dialogues += 1
        rows.sort(key=lambda r: r["utterance_idx"])
        turns = [("user" if r["speaker_idx"] == 1 else "assistant", r["utterance"]) for r in rows]
        last = max(1, len(turns) - 1)
        for j, (role, text) in enumerate(turns):
            if role != "assistant":
                continue
            if j == 0 or turns[j - 1][0] != "user":
                stats.skipped_no_user_turn += 1
                continue
            stats.reply_turns += 1
            dialogue = tuple(Utterance(r, t) for r, t in turns[:j])
            items.append(EvalItem(f"ed:{split}:{conv_id}:{j}", "ed", conv_id, j, j / last,
                                  dialogue, text, emotion=rows[0]["emotion"]))
    return items, stats
