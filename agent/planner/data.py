"""ESConv reading for the strategy planner: dialogues in the ``thu-coai/esconv`` JSON-lines
layout, turned into one example per supporter turn (the gold dialogue before it, the gold
strategies of the earlier supporter turns, and the gold strategy of the turn).

``usr`` turns become role "user" and ``sys`` turns role "assistant". Every supporter turn is an
example, including consecutive ones and those that open a dialogue (empty context).

>>> ex = examples_from_dialogue({"emotion_type": "anxiety", "dialog": [
...     {"speaker": "usr", "text": "Hi"}, {"speaker": "sys", "text": "Hello!", "strategy": "Question"}]})
>>> ex[0].strategy, [u.role for u in ex[0].context], ex[0].previous_strategies
('Question', ['user'], ())
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from agent.planner.strategies import normalise_strategy
from agent.records import Utterance

SPLITS = ("train", "valid", "test")
SPEAKER_ROLES = {"usr": "user", "seeker": "user", "speaker": "user",
                 "sys": "assistant", "supporter": "assistant", "listener": "assistant"}
"""ESConv's speaker names in its three layouts (the thu-coai splits, ``ESConv.json``,
``FailedESConv.json``) and the chat role each one plays: the seeker is the user."""


def speaker_role(speaker: object) -> str | None:
    """``"user"`` for the seeker, ``"assistant"`` for the supporter, ``None`` for a name ESConv
    does not use (case and surrounding spaces ignored)."""
    return SPEAKER_ROLES.get(str(speaker or "").strip().lower())


@dataclass(frozen=True)
class PlannerExample:
    """One supporter turn to predict."""

    context: tuple[Utterance, ...]
    """The gold dialogue before the turn, oldest first (may be empty or end with the supporter)."""
    previous_strategies: tuple[str, ...]
    """Gold strategies of the supporter turns in ``context``, oldest first."""
    strategy: str
    """Gold strategy of the turn."""
    emotion: str
    """ESConv's ``emotion_type`` of the seeker (dialogue level)."""
    dialogue_id: int
    turn_index: int


def esconv_path(data_dir: str | Path, split: str) -> Path:
    """``data_dir/esconv/<split>.txt``; raises ``FileNotFoundError`` naming the path."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(data_dir) / "esconv" / f"{split}.txt"
    if not path.exists():
        raise FileNotFoundError(f"ESConv split not found: {path} (pass --data-dir)")
    return path


def read_esconv_records(path: str | Path) -> Iterator[tuple[str, dict]]:
    """``(where, record)`` for each dialogue of an ESConv file, in the JSON-lines layout
    (``thu-coai/esconv`` splits) or the original JSON-array layout (``ESConv.json``); ``where``
    names the file and line, or the file and dialogue index, for error messages. The one ESConv
    reader of the project: the evaluation reads its files through it too."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ESConv file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a JSON array of dialogues ({exc})") from exc
        for i, record in enumerate(records):
            yield f"{path} dialogue {i}", record
        return
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{line_no}: not a JSON object ({exc})") from exc
        yield f"{path}:{line_no}", record


def read_dialogues(path: str | Path) -> Iterator[dict]:
    """The dialogue records of one ESConv file, with a clear error on a broken one."""
    for where, record in read_esconv_records(path):
        if not isinstance(record, dict) or "dialog" not in record:
            raise ValueError(f"{where}: no 'dialog' field (expected the thu-coai/esconv layout)")
        yield record


def turn_strategy_label(turn: dict) -> str | None:
    """A supporter turn's strategy label as written, or ``None``: the thu-coai/esconv splits keep it
    in ``strategy``, the original ``ESConv.json`` in ``annotation.strategy``."""
    return turn.get("strategy") or (turn.get("annotation") or {}).get("strategy")


class EsconvTurn(NamedTuple):
    """One turn of an ESConv dialogue record, as written."""

    role: str
    """``"user"`` (the seeker) or ``"assistant"`` (the supporter), from ``speaker_role``."""
    text: str
    """The utterance as written (``text``, or ``content`` in ``ESConv.json``), not stripped."""
    strategy_label: str | None
    """A supporter turn's strategy label as written (``turn_strategy_label``), not normalised;
    ``None`` for a seeker turn and for a supporter turn without one."""


def esconv_turns(record: object, where: str = "dialogue 0") -> list[EsconvTurn]:
    """The turns of one ESConv dialogue record, in order: the one place where a record's turns are
    read and checked (the planner's examples, the evaluation's items, the gate's negatives).

    Raises ``ValueError`` naming ``where`` (and the turn index) when the record has no ``dialog``
    list, a turn is not an object, its speaker is not one of ``SPEAKER_ROLES`` or it has no
    ``text`` (or ``content``) string. Texts are left as written and labels unnormalised: each
    caller strips and normalises as its data needs.

    >>> turns = esconv_turns({"dialog": [{"speaker": "usr", "text": "Hi "},
    ...                                  {"speaker": "sys", "content": "Hello!", "strategy": "Question"}]})
    >>> [(t.role, t.text, t.strategy_label) for t in turns]
    [('user', 'Hi ', None), ('assistant', 'Hello!', 'Question')]
    """
    if not isinstance(record, dict) or not isinstance(record.get("dialog"), list):
        raise ValueError(f"{where}: no 'dialog' list (expected an ESConv dialogue)")
    turns = []
    for j, turn in enumerate(record["dialog"]):
        if not isinstance(turn, dict):
            raise ValueError(f"{where} turn {j}: not an object")
        role = speaker_role(turn.get("speaker"))
        if role is None:
            raise ValueError(f"{where} turn {j}: unknown speaker {turn.get('speaker')!r} "
                             f"(expected one of {sorted(SPEAKER_ROLES)})")
        text = turn.get("text", turn.get("content"))
        if not isinstance(text, str):
            raise ValueError(f"{where} turn {j}: no 'text' (or 'content') string")
        turns.append(EsconvTurn(role, text, turn_strategy_label(turn) if role == "assistant" else None))
    return turns


def examples_from_dialogue(record: dict, dialogue_id: int = 0) -> list[PlannerExample]:
    """One ``PlannerExample`` per supporter turn of an ESConv dialogue record."""
    context: list[Utterance] = []
    strategies: list[str] = []
    out = []
    emotion = str(record.get("emotion_type", "") or "").strip().lower()
    for i, turn in enumerate(esconv_turns(record, f"dialogue {dialogue_id}")):
        if turn.role == "assistant":
            strategy = normalise_strategy(turn.strategy_label) if turn.strategy_label else "Others"
            out.append(PlannerExample(tuple(context), tuple(strategies), strategy, emotion, dialogue_id, i))
            strategies.append(strategy)
        context.append(Utterance(turn.role, turn.text))
    return out


def load_examples(data_dir: str | Path, split: str) -> list[PlannerExample]:
    """All supporter-turn examples of an ESConv split, in file order."""
    out: list[PlannerExample] = []
    for d, record in enumerate(read_dialogues(esconv_path(data_dir, split))):
        out.extend(examples_from_dialogue(record, d))
    return out


def split_texts(data_dir: str | Path, split: str) -> list[str]:
    """Every utterance text of a split, in file order (the corpus to embed once and cache)."""
    texts = []
    for where, record in read_esconv_records(esconv_path(data_dir, split)):
        texts.extend(turn.text for turn in esconv_turns(record, where))
    return texts
