#!/usr/bin/python3
"""The serving benchmark: `kiln serve` and the Python stand-in (bench/python_server.py) side by
side in one run, on the same model and the same one-row request.

Model: scikit-learn GradientBoostingClassifier, 100 trees of depth 6 on 30 synthetic features
(the runtime benchmark's shape), exported with tools/export_sklearn.py for kiln and pickled
for Python. Request: MLflow's {"dataframe_split": {"columns": [30 names], "data": [[30
values]]}}.

Measures, for each server:
  - open loop at a fixed rate (bench_serve_load: latency from each request's due time, no
    coordinated omission): 5,000 req/s for kiln (target p99 < 2 ms); the Python server at the
    rate it sustains and at 5,000 req/s;
  - closed loop (maximum throughput): wrk (-t1 -c32, a Lua script posting the body) and
    bench_serve_load --closed.

    /usr/bin/python3 bench/run_serve_bench.py BUILD_DIR [--duration 30] [--out results.json]
"""
import argparse
import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from export_sklearn import export  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server did not start: {url}")


def load(driver, url, body, *args):
    p = subprocess.run([driver, "--url", url, "--body", body, *map(str, args)],
                       capture_output=True, text=True)
    print(p.stdout.splitlines()[0] if p.stdout else p.stderr, flush=True)
    return json.loads(p.stdout.splitlines()[1]) if p.stdout else {"error": p.stderr}


def wrk(url, body, duration, connections=32):
    if shutil.which("wrk") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        with open(body) as b:
            f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                    f"wrk.body = {json.dumps(b.read())}\n")
        script = f.name
    p = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency",
                        "-s", script, url], capture_output=True, text=True)
    os.unlink(script)
    m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", p.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
    scale = {"us": 1, "ms": 1e3, "s": 1e6}
    res = {"label": "wrk", "rps": float(m.group(1)) if m else None,
           "p99_us": float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
           "non_2xx": int(non2xx.group(1)) if non2xx else 0}
    print(f"  wrk -t1 -c{connections} -d{int(duration)}s: {res['rps']} req/s, p99 "
          f"{res['p99_us']} us, non-2xx {res['non_2xx']}", flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--python-rate", type=float, default=500)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "serve.json"))
    args = ap.parse_args()
    kiln = os.path.join(args.build, "kiln")
    driver = os.path.join(args.build, "bench", "bench_serve_load")

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 30))
    y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=6, random_state=0).fit(X, y)
    names = [f"f{i}" for i in range(30)]
    results = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "model": "sklearn GB 100x6, 30 inputs",
               "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        mdir = os.path.join(tmp, "gb")
        export(model, mdir, feature_names=names)
        pkl = os.path.join(tmp, "gb.pkl")
        with open(pkl, "wb") as f:
            pickle.dump(model, f)
        body = os.path.join(tmp, "row.json")
        with open(body, "w") as f:
            json.dump({"dataframe_split": {"columns": names,
                                           "data": [[round(v, 6) for v in X[7].tolist()]]}}, f)

        servers = []
        kport = free_port()
        kargs = [kiln, "serve", mdir, "--port", str(kport), "--log-level", "warn"]
        if args.workers:
            kargs += ["--workers", str(args.workers)]
        servers.append(("kiln serve", kport, subprocess.Popen(kargs)))
        pport = free_port()
        servers.append(("python http.server + sklearn (stand-in)", pport,
                        subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "python_server.py"),
                                          pkl, str(pport)], stdout=subprocess.DEVNULL)))
        try:
            for label, port, proc in servers:
                wait_up(f"http://127.0.0.1:{port}/ping", proc)
            for label, port, proc in servers:
                url = f"http://127.0.0.1:{port}/invocations"
                print(f"== {label}", flush=True)
                rates = [args.rate] if label == "kiln serve" else [args.python_rate, args.rate]
                for rate in rates:
                    r = load(driver, url, body, "--rate", rate, "--duration", args.duration,
                             "--warmup", 3, "--connections", 32, "--label", label)
                    results["runs"].append(r)
                r = load(driver, url, body, "--closed", "--duration", args.duration / 2,
                         "--warmup", 2, "--connections", 32, "--label", label)
                results["runs"].append(r)
                w = wrk(url, body, args.duration / 2)
                if w is not None:
                    w["label"] = label + " (wrk)"
                    results["runs"].append(w)
        finally:
            for _, _, proc in servers:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
