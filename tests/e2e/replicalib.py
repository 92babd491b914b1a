"""Helpers for the replica end-to-end tests (test_serve_deploy*.py): real scikit-learn models
exported like tests/e2e/servelib.py does, registered in a real `kiln server`, and real
`kiln serve --deployment NAME` replicas driven by an open-loop request generator.

Models (binary classifiers on 4 numeric features f0..f3, y = f0 + f1 > 0):
  good   logistic regression (v1, the stable version)
  good2  logistic regression with other regularisation (a good candidate)
  wrong  logistic regression trained on flipped labels (answers the opposite)
  broken a model whose inputs are named g0..g3 (refuses every request the others take)
  slow   a wide multi-layer perceptron (same answers, far slower)
Every model directory holds the training profile (profile.json, `kiln profile`).
"""
import csv
import json
import os
import subprocess
import threading
import time

import numpy as np

from deploylib import alias, kok, wait_for, wait_rollout_end  # noqa: F401 (re-exported)
from deploylib import status as deployment  # noqa: F401 (re-exported)
from kilntest import KILN_BIN, KilnServer
from servelib import export, log_run_model, register

FEATURES = ["f0", "f1", "f2", "f3"]


def data(n=4000, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 2] += shift
    X[:, 3] += shift
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def write_csv(path, X, names):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row in X:
            w.writerow(["%.17g" % v for v in row])


def build_models(tmp, which=("good", "good2", "wrong", "broken", "slow")):
    """Trains and exports the models; returns {kind: model directory}."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    X, y = data()
    out = {}
    for kind in which:
        names = FEATURES
        if kind == "good":
            est = LogisticRegression().fit(X, y)
        elif kind == "good2":
            est = LogisticRegression(C=0.5).fit(X, y)
        elif kind == "wrong":
            est = LogisticRegression().fit(X, 1 - y)
        elif kind == "broken":
            est = LogisticRegression().fit(X, y)
            names = ["g0", "g1", "g2", "g3"]
        elif kind == "slow":
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = MLPClassifier(hidden_layer_sizes=(1024, 1024, 1024), max_iter=1,
                                    random_state=0).fit(X[:200], y[:200])
        else:
            raise ValueError(kind)
        d = export(est, os.path.join(tmp, kind), names, tmp)
        train = os.path.join(tmp, kind + "-train.csv")
        write_csv(train, X, names)
        p = subprocess.run([KILN_BIN, "profile", train, "--out", os.path.join(d, "profile.json")],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError(f"kiln profile failed: {p.stderr}")
        out[kind] = d
    return out


def add_versions(srv, model, dirs, stable_first=True):
    """Logs and registers each directory as a version of `model`; the first goes to
    production (through dev, staging, canary), the others to staging. Returns versions."""
    status, _ = srv.api("POST", "/registered-models/create", {"name": model})
    versions = []
    for d in dirs:
        run = log_run_model(srv, d)
        versions.append(register(srv, model, f"runs:/{run}/model", run))
    for i, v in enumerate(versions):
        envs = ["dev", "staging", "canary", "production"] if i == 0 and stable_first \
            else ["dev", "staging"]
        for env in envs:
            kok(srv, "POST", "/models/promote", {"name": model, "version": str(v),
                                                 "environment": env})
    return versions


SPEC = """
name: {name}
model: {model}
strategy: {strategy}
{sticky}
steps:
  - {{weight: {weight}, min_duration: {hold}, min_requests: {min_requests}}}
analysis:
  interval: 200ms
  min_samples: {min_samples}
  metrics:
{metrics}
monitoring:
  report_interval: 250ms
  drift_window_rows: {drift_rows}
  drift_window: {drift_window}
{extra}
"""


def spec(name, model, metrics, strategy="canary", weight=50, hold="1s", min_requests=60,
         min_samples=60, sticky=None, drift_rows=200, drift_window="1s", extra=""):
    return SPEC.format(name=name, model=model, strategy=strategy, weight=weight, hold=hold,
                       min_requests=min_requests, min_samples=min_samples, metrics=metrics,
                       sticky=f"sticky_key: {sticky}" if sticky else "", drift_rows=drift_rows,
                       drift_window=drift_window,
                       extra=extra)


class Replica(KilnServer):
    """A real `kiln serve --deployment NAME` process."""

    def __init__(self, control, deployment, replica_id=None, extra=()):
        args = ["--deployment", deployment, "--tracking-uri", control.base]
        if replica_id:
            args += ["--replica-id", replica_id]
        super().__init__(*args, *extra, command=("serve",), ready_path="/ping")

    def score(self, row, headers=None, timeout=10):
        body = json.dumps({"dataframe_split": {"columns": FEATURES, "data": [list(row)]}})
        r = self.request("POST", "/invocations", body=body,
                         headers={"Content-Type": "application/json", **(headers or {})},
                         timeout=timeout)
        return r

    def metrics(self):
        return self.request("GET", "/metrics").body.decode()


def metric(text, name, **labels):
    for line in text.splitlines():
        if not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


class Load:
    """Open-loop traffic to replicas at `rps` requests per second from `threads` threads.
    Every answer is kept as (time sent, time answered, status, version answering, request id,
    true label, predicted label)."""

    def __init__(self, replicas, rps=200, threads=4, shift=0.0, sticky=None, seed=1,
                 with_ids=True, rows=1):
        self.replicas = replicas
        self.rows = rows  # rows per request; the first one's label and prediction are kept
        self.rps = rps
        self.threads = threads
        self.shift = shift
        self.sticky = sticky  # (header, number of distinct keys)
        self.seed = seed
        self.with_ids = with_ids
        self.log = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.workers = []
        self.counter = 0

    def worker(self, k):
        import http.client
        rng = np.random.default_rng(self.seed + k)
        conns = {}
        period = self.threads / self.rps
        nxt = time.time()
        while not self.stop_flag.is_set():
            rep = self.replicas[rng.integers(len(self.replicas))]
            x = rng.normal(size=4)
            x[2] += self.shift
            x[3] += self.shift
            y = int(x[0] + x[1] > 0)
            with self.lock:
                self.counter += 1
                rid = f"t{self.seed}-{k}-{self.counter}"
            headers = {"Content-Type": "application/json"}
            if self.with_ids:
                headers["X-Request-ID"] = rid
            key = None
            if self.sticky:
                key = "user-%d" % rng.integers(self.sticky[1])
                headers[self.sticky[0]] = key
            data = [x.tolist()] + [rng.normal(size=4).tolist() for _ in range(self.rows - 1)]
            body = json.dumps({"dataframe_split": {"columns": FEATURES, "data": data}})
            t0 = time.time()
            try:
                c = conns.get(rep.port)
                if c is None:
                    c = conns[rep.port] = http.client.HTTPConnection("127.0.0.1", rep.port,
                                                                     timeout=10)
                c.request("POST", "/invocations", body=body, headers=headers)
                r = c.getresponse()
                payload = r.read()
                version = r.getheader("X-Kiln-Version")
                status = r.status
                pred = None
                if status == 200:
                    p = json.loads(payload)["predictions"][0]
                    pred = int(p >= 0.5) if isinstance(p, float) else int(p)
            except (OSError, http.client.HTTPException):
                conns.pop(rep.port, None)
                status, version, pred = 0, None, None
            with self.lock:
                self.log.append((t0, time.time(), status, version, rid, y, pred, key, rep.port))
            nxt += period
            d = nxt - time.time()
            if d > 0:
                time.sleep(d)
            elif d < -1:
                nxt = time.time()
        for c in conns.values():
            c.close()

    def start(self):
        for k in range(self.threads):
            t = threading.Thread(target=self.worker, args=(k,), daemon=True)
            t.start()
            self.workers.append(t)
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.workers:
            t.join(timeout=15)

    def entries(self):
        with self.lock:
            return list(self.log)
