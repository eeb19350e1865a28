"""A faiss index over one memory collection, with its persistence.

Each memory is stored as one vector ``[semantic (384) | EMOTION_SCALE * emotion (8)]``: the unit
MiniLM vector next to the (scaled-down) unit Plutchik-8 vector. An inner product with the query
``[a * q_semantic | b / EMOTION_SCALE * q_emotion]`` is ``a * cos_semantic + b * cos_emotion``, so the
same index serves semantic-only search (``b = 0``) and the weighted combination of Emotional RAG
(see ``memory.retrieval``) exactly, for any weight chosen at query time.

The kind of index is chosen by size:

- ``flat`` (``IndexFlatIP``, exact) below ``approximate_threshold`` memories;
- ``pq`` from there on: a product-quantised fast-scan index (``IndexPQFastScan``, one 4-bit code
  per pair of dimensions, 1/16 of the float size) scanned in full with SIMD, whose best
  ``k * PQ_REFINE_FACTOR`` candidates are re-ranked exactly on the stored float vectors
  (``IndexRefineFlat``). It trains its codebooks on the first batch (seconds) and takes
  incremental adds. Measured at 1e5 memories (``eval/benchmarks/results_memory.md``): recall@10
  against exact search >= 0.98 on full-rank random vectors as on real MiniLM vectors, under 1 ms
  of CPU a query, where HNSW reached only 0.54 on random vectors at 2 ms after a 4-minute build.
- ``hnsw`` (``IndexHNSWFlat``) and ``ivf`` (``IndexIVFFlat``) on request only (``kind=...``), kept
  for comparison and for indexes saved by earlier versions.

Persistence: ``save(stem)`` writes ``stem.faiss``, ``stem.ids.json`` and a small manifest
``stem.json`` (format, dims, kind, count, the store's memory version, SHA-256 of the two other
files). ``load(stem)`` checks all of it and raises ``IndexCorrupt`` on any mismatch, so the
caller rebuilds from the store instead of searching a damaged file.

>>> import numpy as np
>>> idx = MemoryIndex.build(["a", "b"], np.eye(2, 384, dtype=np.float32), np.eye(2, 8, dtype=np.float32))
>>> idx.kind, len(idx)
('flat', 2)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memory.emotion import EMOTION_DIM

FORMAT = "kindred-memory-index/2"
SEMANTIC_DIM = 384
EMOTION_SCALE = 1.0
"""Stored vectors are ``[semantic | EMOTION_SCALE * emotion]`` (queries scale back up, so inner
products are unchanged); the scale shapes an HNSW graph's geometry. Measured at 1e5 random
vectors (results_memory.md): 1.0 gives recall@10 0.54 at efSearch 192, 0.1 gives 0.29; on real
sentence embeddings it is untested, so it stays at 1.0."""
PQ_REFINE_FACTOR = 20
"""``pq`` re-ranks exactly the best ``k * PQ_REFINE_FACTOR`` candidates of the code scan. At 1e5
full-rank random vectors: factor 10 gives recall@10 0.98, 20 gives 0.995, for 0.1 ms more."""
PQ_TRAIN_ROWS = 30_000
"""Codebooks (16 centroids per 2-d sub-space) are trained on at most this many rows."""
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 192
"""Measured with eval/benchmarks/bench_memory.py at 1e5 memories (results_memory.md): about
2 ms CPU a query; recall@10 against exact search depends on the data (high on vectors of low
intrinsic dimension, like sentence embeddings; 0.54 on full-rank random vectors)."""


SEARCH_THREADS = 1
"""OpenMP threads for a search. One query gains nothing from a thread team and, on a busy
machine, loses a lot waiting for it: at 1e4 memories, 0.9 ms with 1 thread against 64 ms with 2
on this shared 2-core CPU. Builds use all cores (``BUILD_THREADS``)."""
BUILD_THREADS = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


class IndexCorrupt(RuntimeError):
    """An index file is missing, damaged or does not match its manifest."""


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("memory indexes need `pip install faiss-cpu`") from exc
    return faiss


class _threads:
    """Run a block with ``n`` OpenMP threads, then go back to ``SEARCH_THREADS``. (The setting is
    process-wide: a search that overlaps a build only runs slower, never wrongly.)"""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        _faiss().omp_set_num_threads(self.n)

    def __exit__(self, *exc) -> None:
        _faiss().omp_set_num_threads(SEARCH_THREADS)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class MemoryIndex:
    """Vectors ``[semantic | emotion]`` of one collection, with the memory id of each row."""

    def __init__(self, index, ids: list[str], kind: str, semantic_dim: int = SEMANTIC_DIM) -> None:
        self.index = index
        self.ids = ids
        self.kind = kind
        self.semantic_dim = semantic_dim
        self.version: str | None = None
        """The store's memory version this index reflects (set by the owner)."""
        self.ef_search = HNSW_EF_SEARCH
        """HNSW only: the search beam (higher: better recall, slower)."""
        self.refine_factor = PQ_REFINE_FACTOR
        """PQ only: candidates re-ranked exactly, as a multiple of ``k``."""

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def empty(cls, kind: str = "flat", semantic_dim: int = SEMANTIC_DIM, *, nlist: int = 1024,
              hnsw_m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION) -> MemoryIndex:
        faiss = _faiss()
        d = semantic_dim + EMOTION_DIM
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "pq":
            # Sub-spaces of 2 dimensions (1 when d is odd): 16 centroids each code a pair finely
            # enough that the true top 10 almost always lands in the re-ranked candidates.
            codes = faiss.IndexPQFastScan(d, d // 2 if d % 2 == 0 else d, 4, faiss.METRIC_INNER_PRODUCT)
            index = faiss.IndexRefineFlat(codes)
            index.k_factor = PQ_REFINE_FACTOR
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = HNSW_EF_SEARCH
        elif kind == "ivf":
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.nprobe = 32
        else:
            raise ValueError(f"index kind must be flat, pq, hnsw or ivf, got {kind!r}")
        return cls(index, [], kind, semantic_dim)

    @classmethod
    def build(cls, ids: Sequence[str], semantic: np.ndarray, emotion: np.ndarray, *,
              approximate_threshold: int = 20_000, kind: str | None = None,
              **params) -> MemoryIndex:
        """An index over the given memories; ``kind`` defaults to flat or pq by size; ``params``
        go to ``empty`` (HNSW's ``hnsw_m``, ``ef_construction``)."""
        n = len(ids)
        kind = kind or choose_kind(n, approximate_threshold)
        nlist = max(1, min(4096, int(np.sqrt(max(n, 1)))))  # ~sqrt(n) lists: ~sqrt(n) vectors each
        idx = cls.empty(kind, semantic.shape[1] if semantic.ndim == 2 and semantic.shape[1] else SEMANTIC_DIM,
                        nlist=nlist, **params)
        idx.add(ids, semantic, emotion)
        return idx

    def add(self, ids: Sequence[str], semantic: np.ndarray, emotion: np.ndarray) -> None:
        """Append memories. Callers de-duplicate ids (the store already does)."""
        vectors = self._stack(semantic, emotion, len(ids))
        if not len(ids):
            return
        # PQ trains 196 tiny k-means and encodes with one thread: on this shared 2-core CPU a
        # two-thread team spins at every barrier (measured at 1e5: 13 s wall with 1 thread, 192 s with 2).
        parallel = len(ids) > 1000 and self.kind in ("hnsw", "ivf")
        with _threads(BUILD_THREADS if parallel else SEARCH_THREADS):
            if self.kind == "ivf" and not self.index.is_trained:
                # k-means on a sample: 40 points per list is enough and keeps training to seconds.
                sample = min(len(vectors), 40 * self.index.nlist)
                rows = np.random.default_rng(0).choice(len(vectors), size=sample, replace=False)
                self.index.train(vectors[np.sort(rows)])
            elif self.kind == "pq" and not self.index.is_trained:
                self.index.train(_pq_training_rows(vectors))
            self.index.add(vectors)
        self.ids.extend(ids)

    def _stack(self, semantic: np.ndarray, emotion: np.ndarray, n: int) -> np.ndarray:
        semantic = np.asarray(semantic, dtype=np.float32).reshape(n, -1) if n else np.zeros((0, self.semantic_dim), np.float32)
        emotion = np.asarray(emotion, dtype=np.float32).reshape(n, -1) if n else np.zeros((0, EMOTION_DIM), np.float32)
        if semantic.shape[1] != self.semantic_dim:
            raise ValueError(f"semantic vectors must have {self.semantic_dim} dimensions, got {semantic.shape[1]}")
        if emotion.shape[1] != EMOTION_DIM:
            raise ValueError(f"emotion vectors must have {EMOTION_DIM} dimensions, got {emotion.shape[1]}")
        if not (np.isfinite(semantic).all() and np.isfinite(emotion).all()):
            raise ValueError("memory vectors must be finite")
        return np.ascontiguousarray(np.hstack([semantic, EMOTION_SCALE * emotion]))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    # -- search --------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows by inner product with a ``[semantic | emotion]`` query: (scores, rows),
        both 1-d, without the -1 padding faiss uses when fewer than ``k`` rows exist."""
        k = min(int(k), len(self))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.ef_search, k)
        elif self.kind == "pq":
            self.index.k_factor = float(max(1, self.refine_factor))
        with _threads(SEARCH_THREADS):
            scores, rows = self.index.search(q, k)
        keep = rows[0] >= 0
        return scores[0][keep], rows[0][keep]

    def vectors(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stored (semantic, emotion) vectors of ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return np.zeros((0, self.semantic_dim), np.float32), np.zeros((0, EMOTION_DIM), np.float32)
        if self.kind == "ivf":
            self.index.make_direct_map()  # idempotent; IVF cannot reconstruct without it
        with _threads(SEARCH_THREADS):
            full = self.index.reconstruct_batch(rows)
        return full[:, : self.semantic_dim], full[:, self.semantic_dim:] / EMOTION_SCALE

    # -- persistence ---------------------------------------------------------------------------
    def save(self, stem: Path) -> None:
        """Write the index, its ids and its manifest (the manifest last, so a crash mid-save
        leaves a manifest whose checksums do not match: detected as corrupt, then rebuilt)."""
        faiss = _faiss()
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        index_path, ids_path = stem.with_suffix(".faiss"), stem.with_suffix(".ids.json")
        _atomic_write(index_path, faiss.serialize_index(self.index).tobytes())
        _atomic_write(ids_path, json.dumps(self.ids).encode("utf-8"))
        self.save_manifest(stem, index_sha=_sha256(index_path), ids_sha=_sha256(ids_path))

    def save_manifest(self, stem: Path, *, index_sha: str | None = None, ids_sha: str | None = None) -> None:
        """Rewrite only the manifest (e.g. a new store version with no new memories)."""
        stem = Path(stem)
        manifest_path = stem.with_suffix(".json")
        if index_sha is None or ids_sha is None:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
            index_sha, ids_sha = old["index_sha256"], old["ids_sha256"]
        manifest = {"format": FORMAT, "kind": self.kind, "semantic_dim": self.semantic_dim,
                    "emotion_dim": EMOTION_DIM, "count": len(self), "version": self.version,
                    "index_sha256": index_sha, "ids_sha256": ids_sha}
        _atomic_write(manifest_path, json.dumps(manifest, indent=1).encode("utf-8"))

    @classmethod
    def load(cls, stem: Path, *, semantic_dim: int = SEMANTIC_DIM) -> MemoryIndex:
        """Read an index written by ``save``; ``IndexCorrupt`` when anything does not match."""
        faiss = _faiss()
        stem = Path(stem)
        index_path, ids_path = stem.with_suffix(".faiss"), stem.with_suffix(".ids.json")
        try:
            manifest = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(f"unreadable index manifest {stem}.json: {exc}") from exc
        expected = {"format": FORMAT, "semantic_dim": semantic_dim, "emotion_dim": EMOTION_DIM}
        for key, value in expected.items():
            if manifest.get(key) != value:
                raise IndexCorrupt(f"index {stem}: {key} is {manifest.get(key)!r}, expected {value!r}")
        try:
            if _sha256(index_path) != manifest["index_sha256"] or _sha256(ids_path) != manifest["ids_sha256"]:
                raise IndexCorrupt(f"index {stem}: checksum mismatch")
            ids = json.loads(ids_path.read_text(encoding="utf-8"))
            index = faiss.deserialize_index(np.fromfile(index_path, dtype=np.uint8))
        except IndexCorrupt:
            raise
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise IndexCorrupt(f"index {stem}: {exc}") from exc
        if index.d != semantic_dim + EMOTION_DIM or index.ntotal != len(ids) or index.ntotal != manifest.get("count"):
            raise IndexCorrupt(f"index {stem}: dim {index.d}, {index.ntotal} vectors, {len(ids)} ids, "
                               f"manifest count {manifest.get('count')}")
        out = cls(index, list(ids), manifest.get("kind", "flat"), semantic_dim)
        out.version = manifest.get("version")
        return out


def _pq_training_rows(vectors: np.ndarray, minimum: int = 1024) -> np.ndarray:
    """Rows to train PQ codebooks on: a seeded sample of at most ``PQ_TRAIN_ROWS``. k-means needs
    more rows than its 16 centroids, so a small first batch (only with a tiny
    ``approximate_threshold``) is padded with jittered copies; its codes are then coarse, but
    the exact re-ranking of ``k * PQ_REFINE_FACTOR`` candidates covers such a small index whole."""
    rng = np.random.default_rng(0)
    if len(vectors) > PQ_TRAIN_ROWS:
        return vectors[np.sort(rng.choice(len(vectors), size=PQ_TRAIN_ROWS, replace=False))]
    if len(vectors) >= minimum:
        return vectors
    copies = vectors[rng.integers(0, len(vectors), size=minimum)]
    return (copies + 0.01 * rng.standard_normal(copies.shape)).astype(np.float32)


def choose_kind(n: int, approximate_threshold: int) -> str:
    """``flat`` (exact) below the threshold, ``pq`` (code scan + exact re-ranking) from it on."""
    return "flat" if n < approximate_threshold else "pq"


def remove_files(stem: Path) -> None:
    for suffix in (".json", ".faiss", ".ids.json"):
        Path(stem).with_suffix(suffix).unlink(missing_ok=True)
