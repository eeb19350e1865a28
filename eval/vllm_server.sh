# Sourced by eval/reproduce.sh and eval/benchmarks/run_all.sh (run from the repository root).
#
#   use_vllm "$KINDRED_EVAL_URL"   # sets $url: that server, or the CPU build started here
#
# With an empty argument the vLLM CPU server is installed if missing, started on
# $KINDRED_VLLM_PORT (default 8011) and stopped when the calling script exits.
use_vllm() {
  url="${1:-}"
  if [ -z "$url" ]; then
    local port="${KINDRED_VLLM_PORT:-8011}"
    bash .ci/vllm.sh up "$port"
    trap 'bash .ci/vllm.sh stop' EXIT
    url="http://127.0.0.1:$port/v1"
  fi
}
