"""The emotion-cause finder: which earlier utterances caused the user's emotion, and which words.

Two small linear models, trained on RECCON (DailyDialog, fold 1) by ``train_cause``:

1. **Causal emotion entailment** (RECCON subtask 2): for the current turn (the target) with
   emotion E, score every utterance of its history, itself included. Features: the candidate's
   distance and speaker relative to the target (the strongest signal in RECCON: most causes are
   the target itself or the turn just before it), the emotion (and its interaction with distance),
   and word overlap with the target. (A 2-core CPU shared by many jobs could not embed RECCON in
   the time available, so content comes from words, not MiniLM vectors; the finder needs no
   encoder pass of its own.)
2. **Cause span** (subtask 1): within a causal utterance, each clause (split at . ! ? ; ,) is
   scored from hashed words, its position and the emotion; the span runs from the first to the
   last chosen clause. These are the words the generator highlights.

Weights are plain arrays in ``agent/artefacts/cause/model.npz`` (no pickle).

>>> finder = load_cause_finder()  # doctest: +SKIP
>>> d = [Utterance("assistant", "How was the exam?"), Utterance("user", "I failed it, I'm gutted.")]
>>> finder.find(d, EmotionReading("sad", 0.8)).utterance_indices  # doctest: +SKIP
(1,)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.emotions import coarse
from agent.perception.detector import ArtefactError
from agent.records import CauseReading, EmotionReading, Utterance

ARTEFACT_DIR = Path(__file__).resolve().parents[1] / "artefacts" / "cause"
TRAIN_COMMAND = "python -m agent.perception.train_cause --data-dir ../shared/data"
CAUSE_EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
"""RECCON's non-neutral emotions; an ED or Ekman label is mapped here through ``coarse``."""
MAX_DISTANCE = 6
HASH_DIM = 2 ** 14
MAX_HISTORY = 12
"""At most this many utterances back are scored (RECCON causes lie within a few turns)."""


def cause_emotion(label: str) -> str:
    """The RECCON emotion for an ED/Ekman/RECCON label; neutral ones read as 'sadness'-free
    'neutral' are mapped to the most frequent cause emotion, happiness, by the caller's choice."""
    key = label.strip().lower()
    if key in CAUSE_EMOTIONS:
        return key
    if key in ("happines", "happy"):
        return "happiness"
    c = coarse(key)
    return "happiness" if c in ("joy", "neutral") else c


def _emotion_onehot(emotion: str) -> np.ndarray:
    v = np.zeros(len(CAUSE_EMOTIONS), np.float32)
    v[CAUSE_EMOTIONS.index(emotion)] = 1.0
    return v


_STOP = frozenset("""a an the i you he she it we they me him her us them my your his its our their
is am are was were be been do does did have has had to of in on at for with and or but so that this
what how why when where who not no yes oh ok well just really very too s t m re ll ve d""".split())


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def pair_features(texts: Sequence[str], speakers: Sequence[str], target: int, candidate: int,
                  emotion: str) -> np.ndarray:
    """Feature vector for (target, candidate): position, speaker, emotion and word overlap.

    Position dominates in RECCON (most causes are the target itself or the turn before it), so
    distance is one-hot and crossed with the emotion and with speaker identity.
    """
    dist = target - candidate
    d = np.zeros(MAX_DISTANCE, np.float32)
    d[min(dist, MAX_DISTANCE - 1)] = 1.0
    emo = _emotion_onehot(emotion)
    same = float(speakers[target] == speakers[candidate])
    tw, cw = content_words(texts[target]), content_words(texts[candidate])
    overlap = len(tw & cw) / max(1, len(tw | cw))
    cand = texts[candidate]
    lexical = np.array([overlap, float(bool(tw & cw)), min(len(cw), 20) / 20.0, min(len(tw), 20) / 20.0,
                        float("?" in cand), float("!" in cand), float(candidate == target - 1 and "?" in cand)],
                       np.float32)
    position = np.array([same, candidate / max(target, 1), float(candidate == 0), float(target == 0),
                         dist / 10.0, min(target, 10) / 10.0], np.float32)
    return np.concatenate([d, position, emo, np.outer(emo, d[:3]).ravel(), d[:3] * same, lexical])


_CLAUSE = re.compile(r"[^.!?;,]+[.!?;,]*|[.!?;,]+")
_WORD = re.compile(r"[a-z']+|[0-9]+")


def clauses(text: str) -> list[str]:
    """Clauses of an utterance, split after . ! ? ; , (the pieces a cause span is made of).

    >>> clauses("I lost my job , and I am sad !")
    ['I lost my job ,', 'and I am sad !']
    """
    return [c.strip() for c in _CLAUSE.findall(text) if c.strip()]


def _hash(token: str) -> int:
    # A stable hash (Python's hash() is salted per process).
    h = 2166136261
    for ch in token.encode("utf-8"):
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h % HASH_DIM


def clause_features(parts: Sequence[str], i: int, emotion: str, is_self: bool) -> tuple[np.ndarray, list[int]]:
    """Dense features and hashed word ids for clause ``i`` of a causal utterance."""
    n = len(parts)
    words = _WORD.findall(parts[i].lower())
    dense = np.concatenate([
        np.array([1.0, float(i == 0), float(i == n - 1), i / max(n - 1, 1), 1.0 / n,
                  min(len(words), 30) / 30.0, float(is_self), float(parts[i].rstrip().endswith("?")),
                  float(len(words) <= 2)], np.float32),
        _emotion_onehot(emotion)])
    ids = sorted({_hash(w) for w in words} | {_hash(f"{emotion}|{w}") for w in words})
    return dense, ids


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


class LinearCauseFinder:
    """``CauseFinder`` from the trained pair and clause models (numpy only at inference)."""

    def __init__(self, artefact_dir: str | Path = ARTEFACT_DIR, encoder: Any = None) -> None:
        artefact_dir = Path(artefact_dir)
        weights, meta = artefact_dir / "model.npz", artefact_dir / "config.json"
        if not weights.exists() or not meta.exists():
            raise ArtefactError(f"cause finder artefact missing in {artefact_dir}; "
                                f"build it with `{TRAIN_COMMAND}`")
        try:
            with np.load(weights, allow_pickle=False) as data:
                self.pair_w, self.pair_b = data["pair_w"].astype(np.float32), float(data["pair_b"])
                self.pair_mean, self.pair_scale = data["pair_mean"], data["pair_scale"]
                self.clause_dense = data["clause_dense"].astype(np.float32)
                self.clause_hash = data["clause_hash"].astype(np.float32)
                self.clause_b = float(data["clause_b"])
            self.config = json.loads(meta.read_text(encoding="utf-8"))
            self.threshold = float(self.config["pair_threshold"])
            self.clause_threshold = float(self.config["clause_threshold"])
        except Exception as exc:
            raise ArtefactError(f"cause finder artefact in {artefact_dir} is unreadable ({exc}); "
                                f"rebuild it with `{TRAIN_COMMAND}`") from exc
        self.encoder = encoder  # unused: the features need no encoder pass

    def pair_scores(self, texts: Sequence[str], speakers: Sequence[str], target: int, emotion: str,
                    candidates: Sequence[int] | None = None) -> np.ndarray:
        """P(candidate caused the target's emotion) for each candidate (default: all <= target)."""
        cands = range(target + 1) if candidates is None else candidates
        x = np.stack([pair_features(texts, speakers, target, c, emotion) for c in cands])
        x = (x - self.pair_mean) / self.pair_scale
        return _sigmoid(x @ self.pair_w + self.pair_b)

    def span(self, text: str, emotion: str, is_self: bool) -> str:
        """The cause words within a causal utterance (a contiguous run of its clauses)."""
        parts = clauses(text)
        if len(parts) <= 1:
            return text.strip()
        scores = []
        for i in range(len(parts)):
            dense, ids = clause_features(parts, i, emotion, is_self)
            scores.append(float(_sigmoid(dense @ self.clause_dense + self.clause_hash[ids].sum() + self.clause_b)))
        chosen = [i for i, s in enumerate(scores) if s >= self.clause_threshold] or [int(np.argmax(scores))]
        return " ".join(parts[min(chosen):max(chosen) + 1])

    def find(self, dialogue: Sequence[Utterance], emotion: EmotionReading, *, encoding: Any = None) -> CauseReading:
        if not dialogue:
            raise ValueError("find() needs a dialogue ending with the user's turn")
        if not dialogue[-1].text or not dialogue[-1].text.strip():
            raise ValueError("the current user turn is empty; there is no cause to find")
        recent = list(dialogue[-MAX_HISTORY:])
        offset = len(dialogue) - len(recent)
        label = cause_emotion(emotion.label) if emotion is not None else "happiness"
        target = len(recent) - 1
        candidates = [i for i, u in enumerate(recent) if u.text and u.text.strip()]
        scores = self.pair_scores([u.text for u in recent], [u.role for u in recent], target, label, candidates)
        ranked = sorted(zip(candidates, scores), key=lambda cs: -cs[1])
        chosen = [(c, s) for c, s in ranked if s >= self.threshold] or ranked[:1]  # always name one
        chosen.sort()
        return CauseReading(
            utterance_indices=tuple(offset + c for c, _ in chosen),
            spans=tuple(self.span(recent[c].text, label, c == target) for c, _ in chosen),
            scores=tuple(round(float(s), 4) for _, s in chosen))


def load_cause_finder(artefact_dir: str | Path = ARTEFACT_DIR, **kwargs: Any) -> LinearCauseFinder:
    """The trained cause finder; ``ArtefactError`` naming the training command if it is missing."""
    return LinearCauseFinder(artefact_dir, **kwargs)
