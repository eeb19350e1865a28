"""The shared turn encoder: one pass over the turn serves the detector, the cause finder, memory
retrieval, the planner and the transition model.

``encode_turn(dialogue)`` returns a ``TurnEncoding``: the stock MiniLM vector of the current user
turn and of each of the last utterances (earlier ones come from an LRU cache, so a turn costs one
new sentence to encode), plus ``extra`` for what a component needs beyond that.

>>> enc = MiniLMTurnEncoder().encode_turn([Utterance("user", "I miss my dog.")])  # doctest: +SKIP
>>> enc.sentence.shape, enc.utterances.shape
((384,), (1, 384))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.perception.embedder import SentenceEmbedder
from agent.records import Utterance


@dataclass(frozen=True)
class TurnEncoding:
    sentence: np.ndarray
    """(384,) L2-normalised MiniLM vector of the current user turn."""
    utterances: np.ndarray
    """(n, 384) vectors of the last n utterances of the dialogue, oldest first, current last."""
    extra: dict[str, Any] = field(default_factory=dict)


class MiniLMTurnEncoder:
    def __init__(self, embedder: SentenceEmbedder | None = None, window: int = 8,
                 cache_size: int = 4096) -> None:
        self.embedder = embedder or SentenceEmbedder.shared()
        self.window = window
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``, encoding only those not seen recently."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self.embedder.encode(missing)
            with self._lock:
                for text, vec in zip(missing, vectors):
                    self._cache[text] = vec
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        with self._lock:
            out = []
            for t in texts:
                vec = self._cache.get(t)
                if vec is None:  # evicted by a concurrent caller; rare, recompute
                    vec = self.embedder.encode([t])[0]
                else:
                    self._cache.move_to_end(t)
                out.append(vec)
        return np.stack(out) if out else np.zeros((0, self.embedder.dim), dtype=np.float32)

    def encode_turn(self, dialogue: Sequence[Utterance]) -> TurnEncoding:
        if not dialogue:
            raise ValueError("encode_turn needs at least the current user turn")
        recent = [u.text for u in dialogue[-self.window:]]
        vectors = self.encode_texts(recent)
        return TurnEncoding(sentence=vectors[-1], utterances=vectors)
