#!/bin/sh
# The pipelines part of `make demo`: the example retraining pipeline (examples/retraining)
# against a fresh kiln server. It validates a batch, checks drift, trains (a tracking run
# nested under the pipeline's run), registers the model, evaluates the version on held-out
# data and promotes it to staging; then a drift event on the model starts the pipeline again
# on a shifted batch, as the monitor would. Prints the runs, their tasks and what they made.
#
#   scripts/demo_pipeline.sh [KILN_BINARY]      (default build/kiln)
set -eu
cd "$(dirname "$0")/.."
KILN=$(cd "$(dirname "${1:-build/kiln}")" && pwd)/$(basename "${1:-build/kiln}")
PY=/usr/bin/python3

# Every step of the example wraps a kiln command; say clearly which ones this build lacks.
missing=""
for c in profile validate drift evaluate models; do
    "$KILN" help "$c" >/dev/null 2>&1 || missing="$missing $c"
done
if [ -n "$missing" ]; then
    echo "demo_pipeline: this kiln build has no command(s):$missing (they come with the" \
         "quality, runtime and registry subsystems); nothing to demo yet" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-demo-pipeline-XXXXXX")
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export KILN_TRACKING_URI="http://127.0.0.1:$port"
export PATH="$(dirname "$KILN"):$PATH"
"$KILN" server --port "$port" --backend-store-uri "sqlite:///$work/kiln.db" \
    --artifacts-destination "$work/artifacts" 2>"$work/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 100); do
    curl -sf "$KILN_TRACKING_URI/health" >/dev/null 2>&1 && break
    sleep 0.1
done

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "data: a reference set, a held-out set and a new batch"
$PY examples/retraining/make_data.py "$work/data"

step "apply the retraining pipeline"
kiln pipeline apply examples/retraining/retrain.yaml
kiln pipeline list

step "first run: triggered by hand"
kiln pipeline trigger retrain --param "data=$work/data" --wait || true

step "drift: a shifted batch arrives and the monitor reports drift on the served model"
$PY examples/retraining/make_data.py "$work/data2" --shift 1.5
curl -sf -X POST "$KILN_TRACKING_URI/api/kiln/v1/pipeline-events" \
    -H 'Content-Type: application/json' \
    -d "{\"type\": \"drift\", \"model\": \"churn\", \"evidence\": {\"data\": \"$work/data2\", \"drift_share\": 0.6}}"
echo
run=$(kiln pipeline list retrain --json | $PY -c 'import json, sys; print(json.load(sys.stdin)["runs"][0]["run_id"])')
while :; do
    state=$(kiln pipeline status "$run" --json | $PY -c 'import json, sys; print(json.load(sys.stdin)["state"])')
    case "$state" in success|failed|canceled) break ;; esac
    sleep 0.5
done
kiln pipeline status "$run"
kiln pipeline logs "$run" summary || true

step "runs of the pipeline"
kiln pipeline list retrain
echo "server log: $work/server.log; logs: $work/artifacts/pipelines/retrain/"
