"""Reading PELD (Wen et al., Findings of ACL 2021) and turning it into transition features.

A PELD row is a dyadic triple from *Friends*: speaker A says U1, B answers U2, A replies U3; the
row carries A's Big-Five vector (order O, C, E, A, N) and the Ekman-7 emotion of each utterance.
The transition task predicts Emotion_3 (A's reply emotion) from U1, U2, A's personality and
Emotion_1 (A's previous emotion) -- never from U3, which the agent has not said yet.

In the agent, A is the character: U1 is its previous reply (``dialogue[-2]``) and U2 the user's
current turn (``dialogue[-1]``).

>>> rows = read_peld("../shared/data", "valid")  # doctest: +SKIP
>>> rows[0].emotions  # doctest: +SKIP
('anger', 'anger', 'anger')
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.emotion_space import vad_of
from agent.emotions import EKMAN7

HEADER = ("Speaker_1", "Speaker_2", "Personality", "Utterance_1", "Utterance_2", "Utterance_3",
          "Emotion_1", "Emotion_2", "Emotion_3")


@dataclass(frozen=True)
class PELDTriple:
    speaker: str
    personality: tuple[float, float, float, float, float]
    utterances: tuple[str, str, str]
    emotions: tuple[str, str, str]


def peld_path(data_dir: str | Path, split: str) -> Path:
    return Path(data_dir) / "peld" / f"Dyadic_PELD_{split}.tsv"


def read_peld(data_dir: str | Path, split: str) -> list[PELDTriple]:
    """The rows of ``peld/Dyadic_PELD_{split}.tsv``; a missing file or column raises a clear error."""
    path = peld_path(data_dir, split)
    if not path.exists():
        raise FileNotFoundError(f"PELD split {split!r} not found at {path}")
    rows: list[PELDTriple] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")  # the file quotes like a CSV ("" inside "...")
        missing = set(HEADER) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} lacks PELD columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            emotions = tuple(row[f"Emotion_{i}"].strip().lower() for i in (1, 2, 3))
            bad = [e for e in emotions if e not in EKMAN7]
            if bad:
                raise ValueError(f"{path}:{line}: unknown emotion label(s) {bad}")
            personality = tuple(float(x) for x in json.loads(row["Personality"]))
            if len(personality) != 5:
                raise ValueError(f"{path}:{line}: personality needs 5 values, got {personality}")
            rows.append(PELDTriple(row["Speaker_1"], personality,  # type: ignore[arg-type]
                                   tuple(row[f"Utterance_{i}"] for i in (1, 2, 3)),  # type: ignore[arg-type]
                                   emotions))  # type: ignore[arg-type]
    return rows


def corpus_texts(rows: list[PELDTriple]) -> list[str]:
    """The split's distinct utterances in a fixed order (the key of the embedding cache)."""
    return sorted({u for r in rows for u in r.utterances})


@dataclass
class PELDArrays:
    u1: np.ndarray        # (n, 384) MiniLM vector of U1 (the character's previous utterance)
    u2: np.ndarray        # (n, 384) MiniLM vector of U2 (the other speaker's turn)
    e_prev: np.ndarray    # (n, 3) VAD point of Emotion_1
    traits: np.ndarray    # (n, 5) Big-Five (O, C, E, A, N)
    prev_label: np.ndarray  # (n,) Ekman-7 index of Emotion_1
    target: np.ndarray    # (n,) Ekman-7 index of Emotion_3
    target_vad: np.ndarray  # (n, 3) VAD point of Emotion_3


def peld_arrays(rows: list[PELDTriple], cache_dir: str | Path = ".cache/embeddings") -> PELDArrays:
    """Features for every row, embedding the split's utterances once (cached on disk)."""
    from agent.perception.embedder import encode_cached

    texts = corpus_texts(rows)
    vectors = encode_cached(texts, cache_dir=cache_dir)
    index = {t: i for i, t in enumerate(texts)}
    pick = lambda k: vectors[[index[r.utterances[k]] for r in rows]]  # noqa: E731
    label_index = {e: i for i, e in enumerate(EKMAN7)}
    return PELDArrays(
        u1=pick(0), u2=pick(1),
        e_prev=np.array([vad_of(r.emotions[0]) for r in rows], dtype=np.float32),
        traits=np.array([r.personality for r in rows], dtype=np.float32),
        prev_label=np.array([label_index[r.emotions[0]] for r in rows]),
        target=np.array([label_index[r.emotions[2]] for r in rows]),
        target_vad=np.array([vad_of(r.emotions[2]) for r in rows], dtype=np.float32),
    )
