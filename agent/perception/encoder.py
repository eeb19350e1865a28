"""The shared turn encoder: one pass over the turn serves the detector, the cause finder, memory
retrieval, the planner and the transition model.

``encode_turn(dialogue)`` returns a ``TurnEncoding``: the stock MiniLM vector of the current user
turn and of each of the last utterances (earlier ones come from an LRU cache, so a turn costs one
new sentence to encode), plus ``extra`` for what a component needs beyond that.

``SplitTurnEncoder`` (below) gives the same vectors from one pass that also keeps MiniLM's
lower-layer token states in ``extra["lower"]`` (with ``extra["roles"]``) for the emotion
detector and the crisis gate's fine-tuned model, so each adds only its fine-tuned upper layers
(``agent.perception.upper``) to the turn's cost.

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


# --- Split MiniLM: frozen lower layers shared by every perceiver ---------------------------------
#
# The emotion detector and the crisis gate fine-tune copies of MiniLM's top layers on top of the
# stock lower layers. ``SplitMiniLM`` runs the stock lower layers once per utterance; the result
# feeds the stock top layers (the sentence vector used by memory and the planner) and the
# fine-tuned copies, so a turn costs one lower pass over the new utterance only (earlier ones are
# cached).

LOWER_LAYERS = 3
"""MiniLM layers 1..3 are frozen and shared; the detector fine-tunes copies of layers 4..6.
Measured on ED valid (500-conversation selection sample, full train, seed 13): fine-tuning the top
1, 2 and 3 layers gave 50.2, 52.2 and 54.1 % (eval/benchmarks/results_perception.md); 4 layers
matched 3 after one epoch (eval/benchmarks/detector_runs/four-layers.json). Each layer costs a few
milliseconds per turn on one core. Changing it needs a retrained detector."""
MAX_UTTERANCE_TOKENS = 128
"""Longer utterances keep their most recent (last) tokens: the end of a long turn is what the
user feels now."""


class SplitMiniLM:
    """all-MiniLM-L6-v2 cut after ``LOWER_LAYERS`` layers (torch; loaded offline, thread-safe).

    >>> split = SplitMiniLM()  # doctest: +SKIP
    >>> states = split.lower(["I miss my dog."])  # one (tokens, 384) array per text
    >>> split.sentence(states).shape  # identical to SentenceEmbedder vectors
    (1, 384)
    """

    _shared: SplitMiniLM | None = None
    _shared_lock = threading.Lock()

    def __init__(self, model_path: Any = None) -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - core dependencies
            raise ImportError("the split encoder needs `pip install torch transformers`") from exc
        from agent.perception.embedder import minilm_path

        path = model_path or minilm_path()
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> SplitMiniLM:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with [CLS] .. [SEP]; long texts keep [CLS] + their last tokens + [SEP]."""
        out = []
        for text in texts:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = ids[-(MAX_UTTERANCE_TOKENS - 2):]
            out.append([self.tokenizer.cls_token_id, *ids, self.tokenizer.sep_token_id])
        return out

    def lower(self, texts: Sequence[str], batch_size: int = 64) -> list[np.ndarray]:
        """Hidden states after the frozen lower layers, one float32 (tokens, 384) array per text."""
        torch = self.torch
        ids = self.tokenize(texts)
        out: list[np.ndarray] = [np.zeros((0, 384), np.float32)] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # little padding per batch
        with self._lock, torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                width = max(len(ids[i]) for i in idx)
                x = torch.zeros((len(idx), width), dtype=torch.long)
                m = torch.zeros((len(idx), width), dtype=torch.long)
                for r, i in enumerate(idx):
                    x[r, :len(ids[i])] = torch.tensor(ids[i])
                    m[r, :len(ids[i])] = 1
                h = self.model.embeddings(input_ids=x, token_type_ids=torch.zeros_like(x))
                mask = additive_mask(m, h.dtype)
                for layer in self.model.encoder.layer[:LOWER_LAYERS]:
                    h = layer(h, attention_mask=mask)
                for r, i in enumerate(idx):
                    out[i] = h[r, :len(ids[i])].float().numpy().copy()
        return out

    def sentence(self, states: Sequence[np.ndarray]) -> np.ndarray:
        """The stock sentence vectors (upper layers, mean pooling, L2) from ``lower`` states."""
        torch = self.torch
        if not states:
            return np.zeros((0, 384), np.float32)
        width = max(len(s) for s in states)
        h = torch.zeros((len(states), width, 384))
        m = torch.zeros((len(states), width), dtype=torch.long)
        for r, s in enumerate(states):
            h[r, :len(s)] = torch.from_numpy(np.asarray(s, np.float32))
            m[r, :len(s)] = 1
        with self._lock, torch.inference_mode():
            mask = additive_mask(m, h.dtype)
            for layer in self.model.encoder.layer[LOWER_LAYERS:]:
                h = layer(h, attention_mask=mask)
            w = m.unsqueeze(-1).float()
            v = torch.nn.functional.normalize((h * w).sum(1) / w.sum(1).clamp(min=1), dim=-1)
        return v.numpy().astype(np.float32)


def additive_mask(mask: Any, dtype: Any) -> Any:
    """(B, L) 0/1 mask -> (B, 1, 1, L) additive attention mask for BERT layers."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * -1e4


class SplitTurnEncoder(MiniLMTurnEncoder):
    """A turn encoder whose ``TurnEncoding.extra["lower"]`` holds the per-utterance lower-layer
    states of the last ``window`` utterances (oldest first); ``sentence``/``utterances`` are the
    stock MiniLM vectors, as with ``MiniLMTurnEncoder``. Both come from one lower pass."""

    def __init__(self, split: SplitMiniLM | None = None, window: int = 8,
                 cache_size: int = 1024) -> None:
        self.split = split or SplitMiniLM.shared()
        self.window = window
        self._states: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def states(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(lower states, sentence vector) per text, computing only texts not seen recently."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._states))
        fresh = {}
        if missing:
            lower = self.split.lower(missing)
            vectors = self.split.sentence(lower)
            fresh = {t: (s, v) for t, s, v in zip(missing, lower, vectors)}
        with self._lock:
            self._states.update(fresh)
            out = []
            for t in texts:
                item = self._states.get(t) or fresh.get(t)
                if item is None:  # evicted by a concurrent caller
                    s = self.split.lower([t])
                    item = (s[0], self.split.sentence(s)[0])
                self._states[t] = item
                self._states.move_to_end(t)
                out.append(item)
            while len(self._states) > self._cache_size:
                self._states.popitem(last=False)
        return out

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        items = self.states(texts)
        return np.stack([v for _, v in items]) if items else np.zeros((0, 384), np.float32)

    def encode_turn(self, dialogue: Sequence[Utterance]) -> TurnEncoding:
        if not dialogue:
            raise ValueError("encode_turn needs at least the current user turn")
        recent = dialogue[-self.window:]
        items = self.states([u.text for u in recent])
        return TurnEncoding(sentence=items[-1][1], utterances=np.stack([v for _, v in items]),
                            extra={"lower": [s for s, _ in items],
                                   "roles": [u.role for u in recent]})
