#!/bin/sh
# `make demo`: kiln's main job, the closed loop, on the embedded default (a `kiln server` on
# ./kiln-data, SQLite), with no human step:
#
#   train v1, validate its data, evaluate, register, promote through the registry's gates
#   (one refusal on the way) -> a deployment with two `kiln serve --deployment` replicas takes
#   live traffic from a generator -> the customers change (distribution shift) -> the replicas'
#   drift monitoring fires the drift alert -> the alert starts the retraining pipeline ->
#   the new version goes to canary -> it is bad (a labelling bug, injected) and the canary's
#   feedback labels show it: rolled back automatically -> the rollback starts the pipeline
#   again -> the good version is canaried step by step and promoted to production
#
# then prints a timeline of what happened, from the server's own records, and where to look.
# Details: docs/closed-loop.md. Options (environment):
#   KILN_DEMO_DATA   data folder (default ./kiln-data; a folder holding another store is moved
#                    aside first, one from an earlier demo is reset)
#   KILN_DEMO_PORT   server port (default 5000, or a free one when taken; 0: a free one)
#   KILN_DEMO_KEEP   1: leave the server running at the end
#   KILN_DEMO_TIMEOUT  seconds the loop may take before the demo gives up (default 170)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KILN=${KILN:-$ROOT/build/kiln}
PY=/usr/bin/python3
EX=$ROOT/examples/closed_loop
DATA=${KILN_DEMO_DATA:-$ROOT/kiln-data}
TIMEOUT=${KILN_DEMO_TIMEOUT:-170}
MODEL=churn
DEPLOY=churn-live
export KILN KILN_USER="${KILN_USER:-demo}"
T0=$(date +%s%3N)

say() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s%3N) $T0" | awk '{print ($1 - $2) / 1000}')" "$*"; }
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    bold() { printf '\n== %s\n' "$*"; }
fi
indent() { sed 's/^/           /'; }
free_port() { "$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
die() { echo "demo: $*" >&2; exit 1; }
# Rows for the timeline that no kiln record holds (time|what|version|where).
note() { printf '%s|%s|%s|%s\n' "$(date +%s%3N)" "$1" "$2" "$3" >>"$WORK/local-events"; }

[ -x "$KILN" ] || die "no kiln binary at $KILN (run make first)"

# A fresh store every time: an earlier demo's is reset, anything else is kept aside.
if [ -e "$DATA/kiln.db" ] && [ ! -e "$DATA/.kiln-demo" ]; then
    aside="$DATA.before-demo-$(date +%Y%m%d-%H%M%S)"
    mv "$DATA" "$aside"
    echo "demo: $DATA held another kiln store; moved it to $aside"
fi
rm -rf "$DATA/kiln.db" "$DATA/kiln.db-wal" "$DATA/kiln.db-shm" "$DATA/artifacts" "$DATA/closed-loop"
WORK=$DATA/closed-loop
mkdir -p "$WORK/data/faults" "$WORK/train" "$WORK/reports" "$WORK/logs"
touch "$DATA/.kiln-demo"

PORT=${KILN_DEMO_PORT:-5000}
[ "$PORT" != 0 ] && "$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', $PORT))" 2>/dev/null || PORT=$(free_port)
URL=http://127.0.0.1:$PORT
export KILN_TRACKING_URI="$URL"

SERVER="" REPLICAS="" GEN=""
stop_pid() { # PID: SIGTERM, wait (a SIGKILL after 10 s)
    kill "$1" 2>/dev/null || return 0
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    [ -n "$GEN" ] && stop_pid "$GEN"
    for p in $REPLICAS; do stop_pid "$p"; done
    if [ -n "$SERVER" ] && [ "${KILN_DEMO_KEEP:-0}" != 1 ]; then stop_pid "$SERVER"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # URL PID LOG WHAT
    i=0
    until curl -sf "$1" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$2" 2>/dev/null; then
            echo "demo: $4 did not start; its log ($3):" >&2
            tail -n 20 "$3" >&2
            exit 1
        fi
        sleep 0.1
    done
}

bold "kiln server on $URL (store $DATA/kiln.db, artifacts $DATA/artifacts)"
# KILN_LOOP_DIR tells the retraining pipeline's tasks where the labelled traffic is.
KILN_LOOP_DIR=$WORK/data "$KILN" server --port "$PORT" \
    --backend-store-uri "sqlite:///$DATA/kiln.db" --artifacts-destination "$DATA/artifacts" \
    2>"$WORK/logs/server.log" &
SERVER=$!
wait_http "$URL/health" "$SERVER" "$WORK/logs/server.log" "kiln server"
say "server up (pid $SERVER)"

bold "1. train v1: data, validation, two tracked training runs"
"$PY" "$EX/make_data.py" "$WORK/data" | sed 's/^/  /'
"$KILN" profile "$WORK/data/reference.csv" --out "$WORK/data/reference-profile.json" >/dev/null
if "$KILN" validate "$WORK/data/reference.csv" --profile "$WORK/data/reference-profile.json" \
    --expectations "$EX/expectations.yaml" --html --out "$WORK/reports/validation.html"; then
    say "training data valid: 13 expectations passed (kiln validate; $WORK/reports/validation.html)"
    note "training data validated: 13 of 13 expectations passed" - "closed-loop/reports/validation.html"
else
    die "the training data failed validation; see $WORK/reports/validation.html"
fi
"$PY" "$EX/train.py" --data "$WORK/data/reference.csv" --features monthly_spend,discount \
    --run-name "baseline: spend and discount" --out "$WORK/train/baseline.json" | sed 's/^/  /'
"$PY" "$EX/train.py" --data "$WORK/data/reference.csv" \
    --run-name "all five features" --out "$WORK/train/full.json" | sed 's/^/  /'
BASE_RUN=$("$PY" -c "import json; print(json.load(open('$WORK/train/baseline.json'))['run_id'])")
FULL_RUN=$("$PY" -c "import json; print(json.load(open('$WORK/train/full.json'))['run_id'])")
say "two tracking runs in experiment 'churn' (params, metrics, dataset input, model + profile.json)"

bold "2. register, evaluate on held-out data, promote through the registry's gates"
"$KILN" models register "runs:/$BASE_RUN/model" "$MODEL" >/dev/null
"$KILN" models policy set "$MODEL" "$EX/policy.yaml" >/dev/null
"$KILN" models register "runs:/$FULL_RUN/model" "$MODEL" >/dev/null
say "registered $MODEL v1 (baseline run) and v2 (full run); policy: examples/closed_loop/policy.yaml"
for v in 1 2; do
    "$KILN" evaluate "models:/$MODEL/$v" --data "$WORK/data/holdout.csv" --target label \
        --dataset-name holdout --json --quiet >"$WORK/reports/eval-v$v.json"
    say "v$v on the held-out set: $("$PY" -c "
import json; m = json.load(open('$WORK/reports/eval-v$v.json'))['metrics']
print(f\"roc_auc {m['roc_auc']:.3f}, accuracy {m['accuracy']:.3f}\")") (kiln evaluate, recorded)"
done
"$KILN" models promote "$MODEL" 1 --to dev --reason "first candidate" >/dev/null
say "v1 -> dev; v1 -> staging (expected: refused by the metric gate):"
if "$KILN" models promote "$MODEL" 1 --to staging --reason "first candidate" \
    >"$WORK/logs/refusal.txt" 2>"$WORK/logs/refusal.err"; then
    die "the staging gate let v1 through"
fi
indent <"$WORK/logs/refusal.txt"
indent <"$WORK/logs/refusal.err"
for env in dev staging canary production; do
    "$KILN" models promote "$MODEL" 2 --to "$env" --reason "initial release" >/dev/null
done
say "v2 -> dev -> staging -> canary -> production: every gate passed"

bold "3. deploy: churn-live with two kiln serve --deployment replicas, traffic from a generator"
"$KILN" deploy apply -f "$EX/deployment.yaml" >/dev/null
"$KILN" pipeline apply "$EX/retrain.yaml" >/dev/null
say "applied deployment $DEPLOY (examples/closed_loop/deployment.yaml) and pipeline retrain-churn (examples/closed_loop/retrain.yaml)"
RURLS=""
for r in 1 2; do
    p=$(free_port)
    "$KILN" serve --deployment "$DEPLOY" --port "$p" \
        2>"$WORK/logs/replica-$r.log" &
    REPLICAS="$REPLICAS $!"
    wait_http "http://127.0.0.1:$p/ping" "$!" "$WORK/logs/replica-$r.log" "replica $r"
    RURLS="$RURLS --replica http://127.0.0.1:$p"
    say "replica $r on http://127.0.0.1:$p serves $MODEL v2 (production)"
done
echo flip-labels >"$WORK/data/faults/next-export"
say "fault injection armed: the next labelled export will have its labels inverted"
# shellcheck disable=SC2086
"$PY" "$EX/generator.py" $RURLS --out "$WORK/data" --rate 300 --shift-after 8 --ramp 2 \
    --label-delay 1 2>"$WORK/logs/generator.log" &
GEN=$!
say "generator: 300 requests/s, labels 1 s later (POST /feedback); customers change at +8 s"
note "traffic starts: 300 requests/s over 2 replicas, labels 1 s later" v2 "generator (data/status.json)"

bold "4. the loop runs by itself (progress from the control plane)"
"$PY" "$EX/watch.py" --url "$URL" --deployment "$DEPLOY" --pipeline retrain-churn --model "$MODEL" \
    --status "$WORK/data/status.json" --t0 "$T0" --timeout "$TIMEOUT" || LOOP_FAILED=1

bold "the control plane's view now (kiln deploy status $DEPLOY)"
"$KILN" deploy status "$DEPLOY" | indent

stop_pid "$GEN"
GEN=""
for p in $REPLICAS; do stop_pid "$p"; done
REPLICAS=""
say "traffic stopped; replicas stopped"

# The drift that started it all, as an HTML report: the first model's training data against
# the data the good version was trained on.
LAST_BATCH=$(ls -t "$WORK"/data/runs/*/batch.csv 2>/dev/null | head -n 1 || true)
if [ -n "$LAST_BATCH" ]; then
    "$KILN" drift --reference "$WORK/data/reference.csv" --current "$LAST_BATCH" --html \
        --columns tenure,monthly_spend,support_calls,usage_hours,discount \
        --out "$WORK/reports/drift.html" >/dev/null 2>&1 || true
fi

bold "timeline (from the registry's audit log, deployment history, pipeline runs and alerts)"
"$PY" "$EX/timeline.py" --url "$URL" --deployment "$DEPLOY" --pipeline retrain-churn \
    --model "$MODEL" --t0 "$T0" --work "$WORK" --json "$WORK/timeline.json" \
    --local "$WORK/local-events"

K=$KILN
[ "$KILN" = "$ROOT/build/kiln" ] && K=build/kiln
ELAPSED=$(echo "$(date +%s%3N) $T0" | awk '{printf "%.1f", ($1 - $2) / 1000}')
bold "where to look"
echo "Everything is in $DATA: the store kiln.db, artifacts/, and closed-loop/ (data, reports, logs)."
if [ "${KILN_DEMO_KEEP:-0}" = 1 ]; then
    echo "The server is still running on $URL (pid $SERVER)."
else
    echo "Start the server again to explore:"
    echo "  $K server --port $PORT --backend-store-uri sqlite:///$DATA/kiln.db --artifacts-destination $DATA/artifacts &"
fi
while IFS='|' read -r cmd what; do
    printf '  %-50s # %s\n' "$cmd" "$what"
done <<EOF
export KILN_TRACKING_URI=$URL|MLflow clients: MLFLOW_TRACKING_URI, the same URL
$K deploy status $DEPLOY|stable and candidate, last rollout, time to rollback
$K deploy history $DEPLOY|every rollout; --rollout N lists its analyses
$K deploy alerts $DEPLOY|drift and quality alerts, fired and resolved
$K models show $MODEL|versions and environments
$K models history $MODEL|the audit log: every promotion, refusal, rollback
$K models lineage models:/$MODEL@production|the run, data and evaluations behind production
$K pipeline list retrain-churn|the runs the alert and the rollback started
$K runs list --experiment retrain-churn|their tracking runs
EOF
cat <<EOF
API (JSON): $URL/api/kiln/v1/deployments/$DEPLOY
  $URL/api/kiln/v1/deployments/$DEPLOY/history?rollout=1
  $URL/api/kiln/v1/events?model=$MODEL
  $URL/api/kiln/v1/pipelines/retrain-churn/runs
  $URL/api/2.0/mlflow/registered-models/get?name=$MODEL
HTML reports: $WORK/reports/validation.html (training data)
              $WORK/reports/drift.html (the shift: first training data vs the last retraining batch)
Timeline as JSON: $WORK/timeline.json
Logs: $WORK/logs/ (server, replicas, generator); pipeline task logs under $DATA/artifacts/pipelines/
Documentation: docs/closed-loop.md
EOF
if [ "${LOOP_FAILED:-0}" = 1 ]; then
    echo "demo: the loop did not complete within ${TIMEOUT}s (see above and $WORK/logs/)" >&2
    exit 1
fi
bold "closed loop done in ${ELAPSED}s"
