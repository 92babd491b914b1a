#!/usr/bin/python3
"""The live side of the closed-loop demo: customers whose behaviour shifts over time.

Sends one-row prediction requests to `kiln serve --deployment` replicas (round robin, each
with a request id), and later, as the ground truth becomes known, sends the true labels for
those request ids to the replica that answered (POST /feedback). The labelled rows are also
appended to OUT/labelled.csv: the recent labelled data a retraining pipeline trains on.

    generator.py --replica http://127.0.0.1:8081 [--replica URL]... --out DIR
                 [--rate 200] [--shift-after 15] [--ramp 2] [--label-delay 1] [--seed 7]

The distribution is churn.sample(shift): shift 0 until --shift-after seconds, then rising
linearly to 1 over --ramp seconds (SIGUSR1 starts the shift at once). SIGTERM or SIGINT
stops: labels already due are sent, then it exits. OUT/status.json holds the counts, rewritten
every second.
"""
import argparse
import collections
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import churn  # noqa: E402

import numpy as np  # noqa: E402

REQUEST_ID_HEADER = "X-Request-ID"
VERSION_HEADER = "X-Kiln-Version"    # the version that answered


class Replica:
    """A keep-alive connection to one replica, reopened after an error."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.url, self.host, self.port = url, u.hostname, u.port or 80
        self.conn = None

    def post(self, path, body, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self.conn.request("POST", path, body=body, headers=h)
                r = self.conn.getresponse()
                return r.status, r.read(), r.headers
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class Generator:
    def __init__(self, a):
        self.a = a
        self.rng = np.random.default_rng(a.seed)
        self.replicas = [Replica(u) for u in a.replica]
        self.feedback = [Replica(u) for u in a.replica]  # own connections for the label thread
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.shift_at = a.shift_after
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.pending = collections.deque()   # (due, replica index, request id, row, label)
        self.counts = collections.Counter()
        self.by_version = collections.Counter()
        os.makedirs(a.out, exist_ok=True)
        self.labelled_path = os.path.join(a.out, "labelled.csv")
        self.labelled = open(self.labelled_path, "w")
        self.labelled.write(",".join(churn.FEATURES + [churn.LABEL]) + "\n")
        self.labelled.flush()

    def shift(self):
        t = time.monotonic() - self.t0
        if self.shift_at is None or t < self.shift_at:
            return 0.0
        if self.a.ramp <= 0:
            return 1.0
        return min(1.0, (t - self.shift_at) / self.a.ramp)

    def shift_now(self, *_):
        now = time.monotonic() - self.t0
        if self.shift_at is None or self.shift_at > now:
            self.shift_at = now

    def traffic(self):
        """Sends requests at --rate per second until stopped."""
        period, n = 1.0 / self.a.rate, 0
        next_t = time.monotonic()
        while not self.stop.is_set():
            s = self.shift()
            X, y = churn.sample(self.rng, 1, s)
            row, label = X[0].tolist(), int(y[0])
            k = n % len(self.replicas)
            rid = f"gen-{self.a.seed}-{n}"
            body = json.dumps({"dataframe_split": {"columns": churn.FEATURES, "data": [row]}})
            try:
                status, data, headers = self.replicas[k].post(
                    "/invocations", body, {REQUEST_ID_HEADER: rid})
            except (OSError, http.client.HTTPException):
                status, data, headers = 0, b"", {}
            with self.lock:
                self.counts["sent"] += 1
                if status == 200:
                    self.counts["ok"] += 1
                    v = headers.get(VERSION_HEADER) if headers else None
                    if v:
                        self.by_version[v] += 1
                    self.pending.append((time.monotonic() + self.a.label_delay, k, rid, row,
                                         label))
                else:
                    self.counts[f"http_{status}"] += 1
                    self.counts["failed"] += 1
                if s > 0:
                    self.counts["shifted"] += 1
            n += 1
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            elif delay < -1.0:     # fell behind (a busy machine): do not burst to catch up
                next_t = time.monotonic()

    def send_labels(self, final=False):
        now = time.monotonic()
        due = collections.defaultdict(list)
        rows = []
        with self.lock:
            while self.pending and (final or self.pending[0][0] <= now):
                _, k, rid, row, label = self.pending.popleft()
                due[k].append({"request_id": rid, "label": str(label)})
                rows.append((row, label))
        for k, labels in due.items():
            try:
                status, data, _ = self.feedback[k].post("/feedback",
                                                         json.dumps({"labels": labels}))
            except (OSError, http.client.HTTPException):
                status, data = 0, b""
            with self.lock:
                if status == 200:
                    self.counts["labels"] += len(labels)
                else:
                    self.counts["labels_failed"] += len(labels)
                    if self.counts["labels_failed"] == len(labels):
                        print(f"generator: POST /feedback answered {status}: "
                              f"{data[:200]!r}", file=sys.stderr)
        for row, label in rows:
            self.labelled.write(",".join(f"{v:g}" for v in row) + f",{label}\n")
        if rows:
            self.labelled.flush()

    def write_status(self):
        with self.lock:
            st = dict(self.counts)
            st["by_version"] = dict(self.by_version)
        st["shift"] = self.shift()
        if self.shift_at is not None and st["shift"] > 0:
            st["shift_started_ms"] = int((self.wall0 + self.shift_at) * 1000)
        st["elapsed"] = time.monotonic() - self.t0
        tmp = os.path.join(self.a.out, "status.json.tmp")
        with open(tmp, "w") as f:
            json.dump(st, f)
        os.replace(tmp, os.path.join(self.a.out, "status.json"))

    def run(self):
        sender = threading.Thread(target=self.traffic, daemon=True)
        sender.start()
        last_status = 0.0
        while not self.stop.is_set():
            self.stop.wait(0.2)
            self.send_labels()
            if time.monotonic() - last_status >= 1.0:
                self.write_status()
                last_status = time.monotonic()
        sender.join(timeout=5)
        self.send_labels(final=True)
        self.write_status()
        self.labelled.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replica", action="append", required=True, help="replica URL (repeat)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second")
    ap.add_argument("--shift-after", type=float, default=None,
                    help="seconds before the distribution starts to shift (default: never, "
                         "until SIGUSR1)")
    ap.add_argument("--ramp", type=float, default=2.0, help="seconds the shift takes")
    ap.add_argument("--label-delay", type=float, default=1.0,
                    help="seconds before a request's true label is known")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    if a.rate <= 0:
        ap.error("--rate must be positive")
    g = Generator(a)
    signal.signal(signal.SIGTERM, lambda *_: g.stop.set())
    signal.signal(signal.SIGINT, lambda *_: g.stop.set())
    signal.signal(signal.SIGUSR1, g.shift_now)
    g.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
