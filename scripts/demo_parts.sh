#!/bin/sh
# `make demo-parts`: the subsystems one by one (`make demo` is the closed loop, scripts/demo.sh).
# Starts `kiln server` on ./kiln-data/parts, logs a real training session to it, walks a model
# through the registry, profiles, validates and measures drift, serves the model; then prints
# where to look. Everything stays in ./kiln-data/parts for exploring afterwards.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KILN=${KILN:-$ROOT/build/kiln}
PY=/usr/bin/python3
DATA=${KILN_DEMO_DATA:-$ROOT/kiln-data/parts}
export KILN

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

# Port 5000 unless it is taken (by an earlier kiln server, say): then a free one.
PORT=${KILN_DEMO_PORT:-5000}
if "$PY" -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $PORT))" 2>/dev/null; then
    :
else
    PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
fi
URL=http://127.0.0.1:$PORT
export KILN_TRACKING_URI=$URL

mkdir -p "$DATA"
bold "== starting kiln server on $URL (store $DATA/kiln.db, artifacts $DATA/artifacts)"
"$KILN" server --port "$PORT" --backend-store-uri "sqlite:///$DATA/kiln.db" \
    --artifacts-destination "$DATA/artifacts" 2>"$DATA/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT INT TERM
i=0
until curl -sf "$URL/health" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $SERVER 2>/dev/null; then
        echo "kiln server did not start; see $DATA/server.log" >&2
        exit 1
    fi
    sleep 0.1
done

bold "== 1. a training session logged to kiln (examples/demo/train.py, MLflow's REST calls)"
"$PY" "$ROOT/examples/demo/train.py" "$DATA/demo"
BEST=$("$PY" -c "import json; print(json.load(open('$DATA/demo/best_run.json'))['run_id'])")

bold "== runs of the experiment, best first"
"$KILN" runs list --experiment demo-breast-cancer --order-by "metrics.holdout_roc_auc DESC"

bold "== the best run"
"$KILN" runs show "$BEST"

bold "== 2. the model registry: register, evaluate, promote through gates, refuse, roll back"
"$ROOT/scripts/demo_registry.sh" "$URL" "$BEST" breast-cancer

bold "== 3. data quality: profile the training data, validate batches, measure drift"
"$ROOT/scripts/demo_quality.sh" "$KILN" "$DATA/quality"

bold "== 4. serving: kiln serve runs models:/breast-cancer@production and takes traffic"
"$ROOT/scripts/demo_serve.sh" "$URL" breast-cancer

bold "== where to look"
cat <<EOF
Everything is in $DATA (store kiln.db, artifacts/, server.log). To explore it:

  $KILN server --backend-store-uri sqlite:///$DATA/kiln.db --artifacts-destination $DATA/artifacts &
  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000     # MLflow clients work unchanged
  $KILN experiments list
  $KILN runs list --experiment demo-breast-cancer --order-by "metrics.holdout_roc_auc DESC"
  $KILN runs show $BEST
  $KILN models history breast-cancer
  $KILN models lineage models:/breast-cancer@production
  # HTML reports: $DATA/quality/drift.html (drift) and $DATA/quality/bad.html (validation)

Documentation: docs/README.md
EOF
