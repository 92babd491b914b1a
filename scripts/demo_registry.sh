#!/bin/sh
# The model-registry part of `make demo`: given a running kiln server and a run that logged a
# model (examples/demo/train.py logs model/coefficients.json and data/holdout.csv), show a
# model registered from the run, evaluated on the held-out data, promoted through gated
# environments, refused once with its gate report, promoted again, rolled back, and the
# history, lineage and events that recorded it all.
#
#   scripts/demo_registry.sh SERVER_URL RUN_ID [MODEL_NAME]
#
# Evaluations are computed here from the run's own files with NumPy and scikit-learn
# (/usr/bin/python3) and recorded through kiln's native endpoint, as `kiln evaluate` does:
#   v1  the run's model at the operating threshold 0.5
#   v2  the same weights shipped with threshold 0.9: recall drops, production refuses it
#   v3  v1 again (identical evaluation): passes every gate, then production is rolled back
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 SERVER_URL RUN_ID [MODEL_NAME]" >&2
    exit 2
fi
URL=$1
RUN=$2
NAME=${3:-breast-cancer}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KILN=${KILN:-$ROOT/build/kiln}
PY=/usr/bin/python3
export KILN_TRACKING_URI="$URL" KILN_USER="${KILN_USER:-demo}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Computes an evaluation of the run's model at a threshold and records it for a version.
evaluate() { # VERSION THRESHOLD
    "$PY" - "$URL" "$RUN" "$NAME" "$1" "$2" <<'EOF'
import io, json, sys, urllib.request, urllib.parse
import numpy as np
from sklearn.metrics import (log_loss, precision_recall_curve, precision_score, recall_score,
                             roc_auc_score, f1_score, accuracy_score)

url, run, name, version, threshold = sys.argv[1:6]
threshold = float(threshold)

def get(path, raw=False):
    with urllib.request.urlopen(url + path) as r:
        data = r.read()
    return data if raw else json.loads(data)

info = get("/api/2.0/mlflow/runs/get?run_id=" + run)["run"]["info"]
base = info["artifact_uri"][len("mlflow-artifacts:/"):]
proxy = "/api/2.0/mlflow-artifacts/artifacts/" + urllib.parse.quote(base)
coef = json.loads(get(proxy + "/model/coefficients.json", raw=True))
table = np.genfromtxt(io.BytesIO(get(proxy + "/data/holdout.csv", raw=True)), delimiter=",",
                      skip_header=1)
X, y = table[:, :-1], table[:, -1].astype(int)
# The demo trains on standardised features; holdout.csv holds raw ones, so standardise them
# with their own statistics (the model's scaler is not logged by the demo run).
X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1)
p = 1 / (1 + np.exp(-(X @ np.array(coef["coef"]) + coef["intercept"])))
pred = (p >= threshold).astype(int)
prec, rec, thr = precision_recall_curve(y, p)
idx = np.linspace(0, len(thr) - 1, min(50, len(thr))).astype(int)
body = {
    "name": name, "version": version, "user": "demo-evaluator",
    "dataset_name": "breast_cancer_holdout", "dataset_digest": coef["holdout_digest"],
    "threshold": threshold, "run_id": run,
    "metrics": {"roc_auc": roc_auc_score(y, p), "log_loss": log_loss(y, p),
                "accuracy": accuracy_score(y, pred), "f1": f1_score(y, pred),
                "precision": precision_score(y, pred, zero_division=0),
                "recall": recall_score(y, pred)},
    "per_class": [{"label": str(c),
                   "precision": precision_score(y, pred, pos_label=c, zero_division=0),
                   "recall": recall_score(y, pred, pos_label=c),
                   "support": int((y == c).sum())} for c in (0, 1)],
    "pr_curve": [{"threshold": float(thr[i]), "precision": float(prec[i]),
                  "recall": float(rec[i])} for i in idx],
}
req = urllib.request.Request(url + "/api/kiln/v1/models/evaluations",
                             data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
m = body["metrics"]
print(f"  v{version} at threshold {threshold}: roc_auc {m['roc_auc']:.4f}  precision "
      f"{m['precision']:.4f}  recall {m['recall']:.4f}  (holdout digest {coef['holdout_digest']})")
EOF
}

tag() { # VERSION KEY VALUE
    "$PY" - "$URL" "$NAME" "$1" "$2" "$3" <<'EOF'
import json, sys, urllib.request
url, name, version, key, value = sys.argv[1:6]
req = urllib.request.Request(url + "/api/2.0/mlflow/model-versions/set-tag",
                             data=json.dumps({"name": name, "version": version, "key": key,
                                              "value": value}).encode(),
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
EOF
}

promote() { # VERSION ENV [expected exit]
    want=${3:-0}
    set +e
    "$KILN" models promote "$NAME" "$1" --to "$2" --reason "demo: v$1 to $2"
    got=$?
    set -e
    if [ "$got" -ne "$want" ]; then
        echo "demo: 'kiln models promote $NAME $1 --to $2' exited $got, expected $want" >&2
        exit 1
    fi
}

step "promotion policy for '$NAME' (gates per environment)"
cat > "$TMP/policy.yaml" <<'EOF'
environments:
  dev: {}
  staging:
    dataset: breast_cancer_holdout
    metrics:
      - roc_auc >= 0.90
      - log_loss <= 0.5
    tags:
      validation_status: passed
  canary:
    dataset: breast_cancer_holdout
    compare:
      - {metric: roc_auc, greater_is_better: true, min_absolute_change: 0.0}
  production:
    dataset: breast_cancer_holdout
    pr_regression: {tolerance: 0.02, per_class: true}
EOF
cat "$TMP/policy.yaml"
"$KILN" models register "runs:/$RUN/model" "$NAME" --description "demo model" >/dev/null
"$KILN" models policy set "$NAME" "$TMP/policy.yaml"

step "version 1: registered from run $RUN, evaluated on the held-out set"
"$KILN" models show "$NAME" | tail -n 3
evaluate 1 0.5
tag 1 validation_status passed
for env in dev staging canary production; do
    step "promote v1 to $env"
    promote 1 "$env"
done

step "version 2: same weights, operating threshold 0.9 (recall drops): refused at production"
"$KILN" models register "runs:/$RUN/model" "$NAME" >/dev/null
evaluate 2 0.9
tag 2 validation_status passed
for env in dev staging canary; do promote 2 "$env" >/dev/null; done
"$KILN" models compare "$NAME" 1 2
step "promote v2 to production (expected: REFUSED, exit 1)"
promote 2 production 1

step "version 3: passes every gate and replaces v1 in production"
"$KILN" models register "runs:/$RUN/model" "$NAME" >/dev/null
evaluate 3 0.5
tag 3 validation_status passed
for env in dev staging canary; do promote 3 "$env" >/dev/null; done
promote 3 production

step "incident: roll production back one step (no gates, recorded)"
"$KILN" models rollback "$NAME" --env production --reason "demo: incident drill"

step "history of production"
"$KILN" models history "$NAME" --env production
step "lineage of what production serves now"
"$KILN" models lineage "models:/$NAME@production"
step "the event feed (what serving and pipelines follow)"
"$KILN" models events --model "$NAME" --types alias.moved,promotion.refused,alias.rolled_back
step "files of models:/$NAME@production"
"$KILN" models download "models:/$NAME@production" "$TMP/model"
ls -l "$TMP/model"
