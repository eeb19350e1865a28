"""Memory retrieval at scale: latency, recall against exact search, build time, memory use.

One collection of N memories (384-d semantic + 8-d emotion, as ``memory.index`` stores them),
N in 1e3, 1e4, 1e5, 1e6, with random emotion labels (ED-32 points). Semantic vectors
(``--vectors``):

- ``random``: full-rank random unit vectors, the worst case for approximate search (no cluster
  structure to exploit); ``--intrinsic-dim D`` draws them in a random D-dimensional subspace;
- ``minilm``: real MiniLM sentence vectors, every distinct row of the corpus embeddings cached
  by ``agent.perception.embedder.encode_cached`` under ``.cache/embeddings`` (ESConv, ED and
  GoEmotions texts embedded by the project's scripts), shuffled; queries are held-out rows, so
  N is capped at what the cache holds (the table says N as measured).

Each query is run through ``memory.retrieval.retrieve`` with the combination strategy (k=10,
w = ``--weight``): faiss search, vector reconstruction and exact re-scoring, i.e. what
``CharacterMemory.recall`` costs without the store.

- ``--kinds`` lists the index kinds measured at each size besides exact ``flat`` (default: the
  kind ``CharacterMemory`` chooses, i.e. flat below 50,000 and pq from there on). Settings swept:
  pq's re-rank factor, HNSW's efSearch, IVF's nprobe. HNSW builds (minutes on 2 cores) are cached
  under ``.cache/bench_memory/`` keyed by data, size, seed, M and efConstruction.
- recall@10 = overlap of the top 10 with exact search on the same combined query.
- memory = growth of the process's resident memory while building (vectors included).

Usage::

    python -m eval.benchmarks.bench_memory [--sizes 1000 10000 100000 1000000] [--queries 200]
        [--vectors random|minilm] [--kinds pq hnsw ivf] [--hnsw-m 32] [--hnsw-efc 64]
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from pathlib import Path

import numpy as np

from agent.emotions import ED32
from memory.emotion import label_point
from memory.index import (BUILD_THREADS, EMOTION_SCALE, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M,
                          PQ_REFINE_FACTOR, IndexCorrupt, MemoryIndex, choose_kind)
from memory.retrieval import retrieve, search_query

K = 10
WEIGHT = 0.3
CACHE = Path(".cache/bench_memory")


def minilm_rows(cache_dir: str = ".cache/embeddings") -> np.ndarray:
    """Every distinct cached MiniLM row (unit vectors), in a seeded random order."""
    files = sorted(glob.glob(os.path.join(cache_dir, "minilm-*.npy")))
    files = [f for f in files if ".tmp." not in f]
    if not files:
        raise SystemExit(f"no cached MiniLM embeddings under {cache_dir}: run an eval script first")
    rows = np.concatenate([np.load(f).astype(np.float32) for f in files])
    rows = rows[np.unique(rows.round(4), axis=0, return_index=True)[1]]  # a text embedded twice counts once
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows[np.random.default_rng(0).permutation(len(rows))]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def unit_rows(rng: np.random.Generator, n: int, d: int = 384, chunk: int = 100_000,
              basis: np.ndarray | None = None) -> np.ndarray:
    """Random unit vectors; with ``basis`` (D x d), drawn in a D-dimensional subspace."""
    out = np.empty((n, d), np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        block = (rng.standard_normal((m, d), dtype=np.float32) if basis is None
                 else rng.standard_normal((m, len(basis)), dtype=np.float32) @ basis)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + len(block)] = block
    return out


def emotions(rng: np.random.Generator, n: int) -> np.ndarray:
    points = np.stack([label_point(label) for label in ED32])
    return points[rng.integers(0, len(ED32), size=n)]


def exact_top(sem: np.ndarray, emo: np.ndarray, queries: list[np.ndarray], chunk: int = 200_000) -> np.ndarray:
    """Exact top-K rows of each combined query, by blocks (no second copy of the vectors)."""
    q = np.stack(queries)
    best_s = np.full((len(q), K), -np.inf, np.float32)
    best_i = np.zeros((len(q), K), np.int64)
    for start in range(0, len(sem), chunk):
        s = q[:, :384] @ sem[start:start + chunk].T + EMOTION_SCALE * q[:, 384:] @ emo[start:start + chunk].T
        top = np.argpartition(-s, K, axis=1)[:, :K]
        all_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], axis=1)
        all_i = np.concatenate([best_i, top + start], axis=1)
        keep = np.argsort(-all_s, axis=1)[:, :K]
        best_s, best_i = np.take_along_axis(all_s, keep, 1), np.take_along_axis(all_i, keep, 1)
    return best_i


def measure(index: MemoryIndex, q_sem, q_emo, truth) -> dict[str, float]:
    """Wall time and CPU time of this thread per query (searches run on one thread, so CPU
    time is what a query costs on an idle core, whatever the machine's load)."""
    wall, cpu, overlap = [], [], 0
    for qs, qe, t in zip(q_sem, q_emo, truth):
        c0, t0 = time.thread_time(), time.perf_counter()
        ranked = retrieve([index], qs, qe, "combination", K, emotion_weight=WEIGHT)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        overlap += len({r.row for r in ranked} & set(t.tolist()))
    return {"median_ms": float(np.median(wall)), "p95_ms": float(np.percentile(wall, 95)),
            "cpu_median_ms": float(np.median(cpu)), "cpu_p95_ms": float(np.percentile(cpu, 95)),
            "recall": overlap / (K * len(truth))}


def build_cached(kind: str, ids: list[str], sem: np.ndarray, emo: np.ndarray, key: str,
                 hnsw_m: int, hnsw_efc: int) -> tuple[MemoryIndex, float, float, float]:
    """(index, build wall s, build CPU s, memory MB); HNSW indexes are cached on disk, with the
    build figures of the run that made them."""
    import json

    params = {"hnsw_m": hnsw_m, "ef_construction": hnsw_efc} if kind == "hnsw" else {}
    stem = CACHE / f"{key}-{kind}-M{hnsw_m}-efc{hnsw_efc}"
    before = rss_mb()
    if kind == "hnsw" and stem.with_suffix(".json").exists():
        try:
            index = MemoryIndex.load(stem)
            build = json.loads(stem.with_suffix(".build.json").read_text())
            return index, build["wall_s"], build["cpu_s"], rss_mb() - before
        except (IndexCorrupt, OSError, KeyError, ValueError):
            pass
    t0, c0 = time.perf_counter(), time.process_time()
    index = MemoryIndex.build(ids, sem, emo, kind=kind, **params)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if kind == "hnsw":
        index.save(stem)
        stem.with_suffix(".build.json").write_text(json.dumps({"wall_s": wall, "cpu_s": cpu}))
    return index, wall, cpu, rss_mb() - before


def run(sizes, n_queries: int, hnsw_1e6: bool, seed: int = 0, intrinsic_dim: int | None = None,
        vectors: str = "random", kinds: list[str] | None = None, hnsw_m: int = HNSW_M,
        hnsw_efc: int = HNSW_EF_CONSTRUCTION, ef_searches: list[int] | None = None) -> list[dict]:
    import faiss

    rows = []
    real = minilm_rows() if vectors == "minilm" else None
    for n in sizes:
        rng = np.random.default_rng(seed)
        if real is not None:
            n = min(n, len(real) - n_queries)
            q_sem, sem = real[:n_queries], real[n_queries:n_queries + n]
            emo, q_emo = emotions(rng, n), emotions(rng, n_queries)
            key = f"minilm{len(real)}-n{n}-s{seed}"
        else:
            basis = None
            if intrinsic_dim:
                basis = np.linalg.qr(rng.standard_normal((384, intrinsic_dim)))[0].T.astype(np.float32)
            sem, emo = unit_rows(rng, n, basis=basis), emotions(rng, n)
            q_sem, q_emo = unit_rows(rng, n_queries, basis=basis), emotions(rng, n_queries)
            key = f"random{intrinsic_dim or 384}-n{n}-s{seed}"
        truth = exact_top(sem, emo, [search_query(a, b, "combination", WEIGHT) for a, b in zip(q_sem, q_emo)])
        ids = [str(i) for i in range(n)]
        size_kinds = list(kinds) if kinds else [choose_kind(n, 50_000)]
        if n >= 1_000_000 and hnsw_1e6 and "hnsw" not in size_kinds:
            size_kinds.append("hnsw")
        if n >= 1_000_000 and not hnsw_1e6:
            size_kinds = [k for k in size_kinds if k != "hnsw"]
        size_kinds = [k for k in size_kinds if k != "flat"] + ["flat"]  # exact reference last
        for kind in size_kinds:
            index, build_s, build_cpu_s, mem_mb = build_cached(kind, ids, sem, emo, key, hnsw_m, hnsw_efc)
            if kind == "hnsw":
                knobs = [("efSearch", ef) for ef in sorted(set(ef_searches or [64, HNSW_EF_SEARCH, 256, 512]))]
            elif kind == "ivf":
                knobs = [("nprobe", p) for p in (32, 64, 128)]
            elif kind == "pq":
                knobs = [("refine", f) for f in sorted({5, 10, PQ_REFINE_FACTOR})]
            else:
                knobs = [("", None)]
            for knob, value in knobs:
                if knob == "efSearch":
                    index.ef_search = value
                elif knob == "refine":
                    index.refine_factor = value
                elif knob == "nprobe":
                    index.index.nprobe = value
                retrieve([index], q_sem[0], q_emo[0], "combination", K)  # warm-up
                # Exact search over 1e6 costs ~0.1 s a query: 50 queries are enough for it.
                m = 50 if kind == "flat" and n >= 1_000_000 else n_queries
                label = kind if kind != "hnsw" else f"hnsw M={hnsw_m} efC={hnsw_efc}"
                rows.append({"n": n, "kind": label, "knob": f"{knob}={value}" if knob else "exact",
                             "build_s": build_s, "build_cpu_s": build_cpu_s, "mem_mb": mem_mb,
                             **measure(index, q_sem[:m], q_emo[:m], truth[:m])})
                print(_row(rows[-1]), flush=True)
            del index
        del sem, emo
    print(f"\n({vectors} vectors; faiss {faiss.__version__}; build threads {BUILD_THREADS}, search threads 1; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end)")
    return rows


HEADER = ("| memories | index | setting | build wall / CPU (s) | memory (MB) | median wall (ms) | p95 wall (ms) "
          "| median CPU (ms) | p95 CPU (ms) | recall@10 vs exact |\n"
          "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")


def _row(r: dict) -> str:
    return (f"| {r['n']:,} | {r['kind']} | {r['knob']} | {r['build_s']:.1f} / {r['build_cpu_s']:.1f} | "
            f"{r['mem_mb']:.0f} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['cpu_median_ms']:.2f} | "
            f"{r['cpu_p95_ms']:.2f} | {r['recall']:.3f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--hnsw-1e6", action="store_true", help="also build HNSW at 1e6 (slow on 2 cores)")
    parser.add_argument("--intrinsic-dim", type=int, default=None,
                        help="draw vectors in a random subspace of this dimension (sentence embeddings "
                             "have a low intrinsic dimension; full-rank random vectors are the worst case)")
    parser.add_argument("--vectors", choices=["random", "minilm"], default="random",
                        help="random unit vectors, or real MiniLM rows from .cache/embeddings")
    parser.add_argument("--kinds", nargs="+", choices=["pq", "hnsw", "ivf", "flat"], default=None,
                        help="index kinds to measure besides exact flat (default: CharacterMemory's choice)")
    parser.add_argument("--hnsw-m", type=int, default=HNSW_M)
    parser.add_argument("--hnsw-efc", type=int, default=HNSW_EF_CONSTRUCTION)
    parser.add_argument("--ef-search", type=int, nargs="+", default=None)
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    run(args.sizes, args.queries, args.hnsw_1e6, intrinsic_dim=args.intrinsic_dim, vectors=args.vectors,
        kinds=args.kinds, hnsw_m=args.hnsw_m, hnsw_efc=args.hnsw_efc, ef_searches=args.ef_search)


if __name__ == "__main__":
    main()
