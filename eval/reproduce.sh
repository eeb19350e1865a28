#!/usr/bin/env bash
# Reproduce the README's results table on valid: ESConv and EmpatheticDialogues through a vLLM
# server (the CPU build here, started and stopped by this script unless KINDRED_EVAL_URL points at
# a running one), 300 seeded reply turns each. Reports land in runs/eval/<dataset>-valid/ (a
# previous run there moves to runs/eval/<dataset>-valid.previous/).
#
#   make results                       # or: bash eval/reproduce.sh [extra python -m eval args]
#   KINDRED_EVAL_URL=http://gpu:8000/v1 LIMIT=0 make results    # whole splits on a GPU server
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
LIMIT="${LIMIT:-300}"
source eval/vllm_server.sh
use_vllm "${KINDRED_EVAL_URL:-}"
limit=(); [ "$LIMIT" != 0 ] && limit=(--limit "$LIMIT")
for dataset in esconv ed; do
  out="runs/eval/$dataset-valid"
  # A rerun starts afresh (the previous run is kept once, beside it) unless it continues one.
  if [ -e "$out" ] && [[ " $* " != *" --resume "* && " $* " != *" --report-only "* ]]; then
    rm -rf "$out.previous"; mv "$out" "$out.previous"
  fi
  $PY -m eval --dataset "$dataset" --split valid "${limit[@]}" --backend openai --base-url "$url" \
      --model "${KINDRED_EVAL_MODEL:-SmolLM2-135M-Instruct}" --concurrency 32 \
      --out "$out" "$@"
done
$PY -m eval.detector --split valid
