#!/usr/bin/env bash
# Every benchmark, one after the other (run it on an otherwise idle machine; needs ../shared/data).
# Starts the vLLM CPU server for the LLM, agent and evaluation-throughput benchmarks unless
# KINDRED_BENCH_URL points at a running one. Tables go to stdout (the perception benchmark also
# rewrites results_perception.md); copy them into eval/benchmarks/results_*.md with the machine.
#
#   make bench
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
source eval/vllm_server.sh
use_vllm "${KINDRED_BENCH_URL:-}"
$PY -m eval.benchmarks.bench_perception --write --threads 1
$PY -m eval.benchmarks.bench_planner --turns 100
$PY -m eval.benchmarks.bench_memory --sizes 1000 10000 100000
$PY -m eval.benchmarks.bench_llm --vllm-url "$url" --threads 1
$PY -m eval.benchmarks.bench_agent --vllm "$url" --tokenizer .cache/vllm-model --load
$PY eval/benchmarks/bench_eval_throughput.py --base-url "$url" --n 64 --n-serial 16
