"""Memory retrieval at scale: latency, recall against exact search, build time, memory use.

One collection of N memories (384-d semantic + 8-d emotion, as ``memory.index`` stores them),
N in 1e3, 1e4, 1e5, 1e6. Vectors are random unit vectors (the worst case for approximate
search: no cluster structure to exploit) with random emotion labels. Queries are fresh random
unit vectors with a random emotion; each is run through ``memory.retrieval.retrieve`` with the
combination strategy (k=10, w=0.3): faiss search, vector reconstruction and exact re-scoring,
i.e. what ``CharacterMemory.recall`` costs without the store.

- The index kind is what ``CharacterMemory`` would choose (flat below 50,000, HNSW above);
  rows for HNSW sweep ``efSearch``. At 1e6 an HNSW build on a 2-core CPU takes too long for this
  benchmark, so 1e6 is measured with IVF (``kind="ivf"``, sweeping ``nprobe``) and exact flat;
  ``--hnsw-1e6`` adds HNSW there too.
- recall@10 = overlap of the top 10 with exact (flat) search on the same combined query.
- memory = growth of the process's resident memory while building (vectors included).

Usage::

    python -m eval.benchmarks.bench_memory [--sizes 1000 10000 100000 1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from agent.emotions import ED32
from memory.emotion import label_point
from memory.index import BUILD_THREADS, EMOTION_SCALE, HNSW_EF_SEARCH, MemoryIndex, choose_kind
from memory.retrieval import retrieve, search_query

K = 10
WEIGHT = 0.3


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


def run(sizes, n_queries: int, hnsw_1e6: bool, seed: int = 0, intrinsic_dim: int | None = None) -> list[dict]:
    import faiss

    rows = []
    for n in sizes:
        rng = np.random.default_rng(seed)
        basis = None
        if intrinsic_dim:
            basis = np.linalg.qr(rng.standard_normal((384, intrinsic_dim)))[0].T.astype(np.float32)
        sem, emo = unit_rows(rng, n, basis=basis), emotions(rng, n)
        q_sem, q_emo = unit_rows(rng, n_queries, basis=basis), emotions(rng, n_queries)
        truth = exact_top(sem, emo, [search_query(a, b, "combination", WEIGHT) for a, b in zip(q_sem, q_emo)])
        ids = [str(i) for i in range(n)]
        kinds = [choose_kind(n, 50_000)]
        if n >= 1_000_000:
            kinds = ["ivf", "flat"] + (["hnsw"] if hnsw_1e6 else [])
        elif kinds[0] != "flat":
            kinds.append("flat")  # exact search at the same size, for reference
        for kind in kinds:
            before = rss_mb()
            t0, c0 = time.perf_counter(), time.process_time()
            index = MemoryIndex.build(ids, sem, emo, kind=kind)
            build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - c0
            mem_mb = rss_mb() - before
            if kind == "hnsw":
                knobs = [("efSearch", ef) for ef in sorted({64, 128, HNSW_EF_SEARCH, 256})]
            elif kind == "ivf":
                knobs = [("nprobe", p) for p in (32, 64, 128)]
            else:
                knobs = [("", None)]
            for knob, value in knobs:
                if knob == "efSearch":
                    index.ef_search = value
                elif knob == "nprobe":
                    index.index.nprobe = value
                retrieve([index], q_sem[0], q_emo[0], "combination", K)  # warm-up
                # Exact search over 1e6 costs ~0.1 s a query: 50 queries are enough for it.
                m = 50 if kind == "flat" and n >= 1_000_000 else n_queries
                rows.append({"n": n, "kind": kind, "knob": f"{knob}={value}" if knob else "exact",
                             "build_s": build_s, "build_cpu_s": build_cpu_s, "mem_mb": mem_mb,
                             **measure(index, q_sem[:m], q_emo[:m], truth[:m])})
                print(_row(rows[-1]), flush=True)
            del index
        del sem, emo
    print(f"\n(faiss {faiss.__version__}; build threads {BUILD_THREADS}, search threads 1; "
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
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    run(args.sizes, args.queries, args.hnsw_1e6, intrinsic_dim=args.intrinsic_dim)


if __name__ == "__main__":
    main()
