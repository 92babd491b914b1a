#!/bin/sh
# The serving part of `make demo`: given a running kiln server and a registered model with a
# `production` alias, start `kiln serve models:/NAME@production`, send it traffic in both
# protocols (rows from the held-out data its training run logged, else zeros), show a bad
# request being named, score the held-out file in batch with `kiln predict`, show excerpts of
# /metrics, and stop it.
#
#   scripts/demo_serve.sh SERVER_URL MODEL_NAME
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 SERVER_URL MODEL_NAME" >&2
    exit 2
fi
URL=$1
NAME=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KILN=${KILN:-$ROOT/build/kiln}
PY=/usr/bin/python3
export KILN_TRACKING_URI="$URL"
TMP=$(mktemp -d)
SERVE=""
cleanup() {
    if [ -n "$SERVE" ]; then
        kill "$SERVE" 2>/dev/null || true
        wait "$SERVE" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
SURL=http://127.0.0.1:$PORT

step "kiln serve models:/$NAME@production on $SURL (loads, warms up, then reports ready)"
"$KILN" serve "models:/$NAME@production" --port "$PORT" 2>"$TMP/serve.log" &
SERVE=$!
i=0
until curl -sf "$SURL/ping" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$SERVE" 2>/dev/null; then
        echo "kiln serve did not start:" >&2
        cat "$TMP/serve.log" >&2
        exit 1
    fi
    sleep 0.05
done
sed 's/^/  /' "$TMP/serve.log"

step "traffic: MLflow's scoring protocol (JSON and CSV) and the Open Inference Protocol v2"
"$PY" - "$URL" "$SURL" "$NAME" "$TMP" <<'EOF'
import csv, http.client, io, json, sys, time, urllib.parse, urllib.request

url, surl, name, tmp = sys.argv[1:5]

def get(base, path):
    with urllib.request.urlopen(base + path) as r:
        return r.read()

meta = json.loads(get(surl, f"/v2/models/{urllib.parse.quote(name)}"))
cols = [i["name"] for i in meta["inputs"]]
print(f"  serving {name} version {meta['versions'][0]} ({meta['platform']}), "
      f"{len(cols)} inputs, outputs {[o['name'] for o in meta['outputs']]}")
rows, labels = [[0.0] * len(cols)], None
try:
    res = json.loads(get(url, "/api/kiln/v1/models/resolve?uri=" +
                         urllib.parse.quote(f"models:/{name}@production")))
    run = json.loads(get(url, "/api/2.0/mlflow/runs/get?run_id=" + res["run_id"]))["run"]
    base = run["info"]["artifact_uri"][len("mlflow-artifacts:/"):]
    text = get(url, "/api/2.0/mlflow-artifacts/artifacts/" + urllib.parse.quote(base) +
               "/data/holdout.csv").decode()
    table = list(csv.DictReader(io.StringIO(text)))
    rows = [[float(r[c]) for c in cols] for r in table]
    labels = [r.get("target") for r in table]
    with open(f"{tmp}/holdout.csv", "w") as f:
        f.write(text)
    print(f"  {len(rows)} held-out rows from the training run's data/holdout.csv")
except Exception as e:  # noqa: BLE001 - the demo still runs on a row of zeros
    print(f"  (no held-out data found: {e}; sending zeros)")

host, port = surl[len("http://"):].split(":")
conn = http.client.HTTPConnection(host, int(port))

def post(path, body, ctype="application/json"):
    conn.request("POST", path, body=body, headers={"Content-Type": ctype})
    r = conn.getresponse()
    return r.status, r.read().decode()

s, b = post("/invocations", json.dumps({"dataframe_split": {"columns": cols, "data": rows[:5]}}))
print(f"  POST /invocations dataframe_split, 5 rows -> {s} {b}")
csv_body = ",".join(cols) + "\n" + "\n".join(",".join(repr(v) for v in r) for r in rows[:3]) + "\n"
s, b = post("/invocations", csv_body, "text/csv")
print(f"  POST /invocations text/csv, 3 rows -> {s} {b}")
infer = {"id": "demo-1", "inputs": [{"name": "input-0", "shape": [2, len(cols)],
                                     "datatype": "FP64", "data": rows[:2]}]}
s, b = post(f"/v2/models/{name}/infer", json.dumps(infer))
print(f"  POST /v2/models/{name}/infer, 2 rows -> {s} {b[:300]}")
s, b = post("/invocations", json.dumps({"inputs": [rows[0][:-1]]}))
print(f"  a row with a value missing -> {s} {b}")
s, b = post("/invocations", json.dumps({"dataframe_records": [dict(zip(cols, ["x"] + rows[0][1:]))]}))
print(f"  a string where a number belongs -> {s} {b}")

n, t0, agree = 3000, time.time(), 0
for i in range(n):
    r = rows[i % len(rows)]
    if i % 2:
        s, b = post("/invocations", json.dumps({"inputs": [r]}))
        pred = json.loads(b)["predictions"][0]
    else:
        s, b = post(f"/v2/models/{name}/infer", json.dumps(
            {"inputs": [{"name": "x", "shape": [1, len(cols)], "datatype": "FP64", "data": r}]}))
        pred = json.loads(b)["outputs"][0]["data"][0]
    assert s == 200, b
    if labels is not None and str(pred) == str(labels[i % len(rows)]):
        agree += 1
dt = time.time() - t0
print(f"  {n} one-row requests, alternating protocols, one keep-alive connection from Python: "
      f"{dt:.2f} s ({n / dt:.0f} req/s, {dt / n * 1e3:.2f} ms each round trip)")
if labels is not None:
    print(f"  predictions agree with the held-out labels on {100 * agree / n:.1f}% of them")
EOF

if [ -f "$TMP/holdout.csv" ]; then
    step "batch: kiln predict models:/$NAME@production on the held-out file"
    "$KILN" predict "models:/$NAME@production" --input "$TMP/holdout.csv" \
        --output "$TMP/predictions.csv" --quiet
    head -4 "$TMP/predictions.csv" | sed 's/^/  /'
fi

step "/metrics (Prometheus text format) excerpts"
curl -s "$SURL/metrics" >"$TMP/metrics.txt"
grep -E '^kiln_serve_(requests_total|model_info|model_load_seconds|model_warmup_seconds|requests_in_flight|ready|predicted_class_total)' \
    "$TMP/metrics.txt" | sed 's/^/  /'
"$PY" - "$TMP/metrics.txt" <<'EOF'
import re, sys
buckets = {}
for line in open(sys.argv[1]):
    m = re.match(r'kiln_serve_request_duration_seconds_bucket\{.*le="([^"]+)"\} (\S+)', line)
    if m:
        buckets[m.group(1)] = buckets.get(m.group(1), 0) + float(m.group(2))
total = buckets.get("+Inf", 0)
for le in sorted((k for k in buckets if k != "+Inf"), key=float):
    if total and buckets[le] >= 0.99 * total:
        print(f"  p99 request duration <= {float(le) * 1e3:g} ms (of {total:.0f} requests, "
              "from the histogram)")
        break
EOF
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$TMP/metrics.txt" >/dev/null 2>&1 && echo "  promtool check metrics: OK"
fi

step "stop (SIGTERM: requests in flight finish first)"
kill "$SERVE"
wait "$SERVE" || true
SERVE=""
tail -2 "$TMP/serve.log" | sed 's/^/  /'
