"""A simulated serve replica for deployment tests (Python 3 standard library only).

It speaks the replica side of kiln's deployment protocol (docs/deployments.md) the way
`kiln serve --deployment` does: it long-polls the plan (GET .../plan?after=G&wait=S), routes
each simulated request to the stable or the candidate version by the plan's weight (sticky by
key when asked), mirrors every request to the candidate in shadow mode, and POSTs per-version
counters and log-linear histograms to .../reports every `report_interval` seconds. While the
control plane is unreachable it keeps serving the last plan it has and, once a report goes
through again, reports how long it was cut off (gap_ms).

Each version behaves as its Behaviour says (error rate, latency, how good its scores are), so a
test can make a candidate wrong, slow or failing. Everything it observes is kept in `timeline`
(time, plan generation, candidate weight) and `served` (per-second counts by version) so tests
can measure when traffic really left a candidate.
"""
import http.client
import json
import math
import random
import threading
import time


def hist_key(v):
    """The bucket key of kiln's log-linear histogram (src/deploy/hist.h)."""
    a = abs(v)
    if not a >= 2.0 ** -32:
        return 0
    frac, e = math.frexp(a)
    e -= 1
    if e > 31:
        e, m = 31, 31
    else:
        m = min(int((2.0 * frac - 1.0) * 32), 31)
    key = 1 + (e + 32) * 32 + m
    return -key if v < 0 else key


class Hist:
    def __init__(self):
        self.b = {}
        self.n = 0
        self.sum = 0.0

    def add(self, v):
        k = hist_key(v)
        self.b[k] = self.b.get(k, 0) + 1
        self.n += 1
        self.sum += v

    def wire(self):
        return {"n": self.n, "sum": self.sum, "b": [[k, c] for k, c in sorted(self.b.items())]}


class Behaviour:
    """How one model version answers: `quality` in [0, 1] is the share of rows whose score is
    informative (the rest are noise); `invert` turns the scores around (a wrong model with the
    same score distribution); `shift` moves every score; `flat` makes it unsure (scores near
    0.5)."""

    def __init__(self, error_rate=0.0, latency_ms=2.0, quality=0.9, shift=0.0, invert=False,
                 flat=False):
        self.error_rate = error_rate
        self.flat = flat
        self.latency_ms = latency_ms
        self.quality = quality
        self.shift = shift
        self.invert = invert

    def predict(self, rng, y):
        if rng.random() < self.error_rate:
            return None
        if self.flat:
            # An unsure model: every score close to 0.5.
            return min(max(rng.gauss(0.5, 0.04), 0.0), 1.0)
        # Score: informative with probability `quality`, else noise.
        if rng.random() < self.quality:
            s = rng.betavariate(6, 2) if y == 1 else rng.betavariate(2, 6)
        else:
            s = rng.random()
        if self.invert:
            s = 1.0 - s
        return min(max(s + self.shift, 0.0), 1.0)

    def latency(self, rng):
        return max(0.05, rng.gauss(self.latency_ms, self.latency_ms * 0.1))


class VStats:
    def __init__(self, version):
        self.version = version
        self.requests = self.errors = self.rows = self.compared = self.agreed = 0
        self.latency = Hist()
        self.scores = Hist()
        self.confidence = Hist()
        self.feedback = {}

    def wire(self):
        return {"version": self.version, "requests": self.requests, "errors": self.errors,
                "rows": self.rows, "compared": self.compared, "agreed": self.agreed,
                "latency_us": self.latency.wire(), "scores": self.scores.wire(),
                "confidence": self.confidence.wire(),
                "feedback": [[p, a, n] for (p, a), n in self.feedback.items()]}


def fnv1a(key):
    h = 0xcbf29ce484222325
    for ch in key.encode():
        h ^= ch
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


class Replica:
    def __init__(self, port, deployment, behaviours, name="sim-1", rps=200, report_interval=0.5,
                 seed=1, sticky_keys=0, with_ids=False, wait=5):
        self.port = port
        self.deployment = deployment
        self.behaviours = behaviours  # version -> Behaviour (missing: the default Behaviour)
        self.name = name
        self.boot = "%s-%d" % (name, int(time.time() * 1000))
        self.rps = rps
        self.report_interval = report_interval
        self.rng = random.Random(seed)
        self.sticky_keys = sticky_keys
        self.with_ids = with_ids
        self.wait = wait
        self.lock = threading.Lock()
        self.plan = None
        self.timeline = []      # (time, generation, candidate version or None, weight, mode)
        self.served = []        # (time, version, was_candidate)
        self.stats = {}
        self.predictions = []
        self.seq = 0
        self.gap_start = None
        self.gap_ms = 0
        self.gap_generation = 0
        self.reports_ok = 0
        self.reports_failed = 0
        self.request_counter = 0
        self.truth = {}         # request id -> true label
        self.drift = None       # a drift observation to send with the next reports
        self.stop_flag = threading.Event()
        self.paused = threading.Event()
        self.threads = []

    # ---- HTTP ----------------------------------------------------------------------------

    def call(self, method, path, body=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    # ---- plan ----------------------------------------------------------------------------

    def poll_plan(self):
        base = "/api/kiln/v1/deployments/%s/plan" % self.deployment
        while not self.stop_flag.is_set():
            gen = self.plan["generation"] if self.plan else -1
            try:
                status, body = self.call("GET", "%s?after=%d&wait=%d" % (base, gen, self.wait),
                                         timeout=self.wait + 5)
            except OSError:
                self.note_gap()
                time.sleep(0.1)
                continue
            if status != 200:
                time.sleep(0.1)
                continue
            plan = json.loads(body)
            with self.lock:
                if self.plan is None or plan["generation"] != self.plan["generation"]:
                    self.plan = plan
                    c = plan.get("candidate")
                    self.timeline.append((time.time(), plan["generation"],
                                          c["version"] if c else None,
                                          c["weight"] if c else 0.0, plan["mode"]))

    def note_gap(self):
        with self.lock:
            if self.gap_start is None:
                self.gap_start = time.time()
                self.gap_generation = self.plan["generation"] if self.plan else 0

    # ---- traffic ---------------------------------------------------------------------------

    def vs(self, version):
        if version not in self.stats:
            self.stats[version] = VStats(version)
        return self.stats[version]

    def answer(self, version, y, record=True):
        b = self.behaviours.get(version) or Behaviour()
        st = self.vs(version)
        st.requests += 1
        st.latency.add(b.latency(self.rng) * 1000.0)
        s = b.predict(self.rng, y)
        if s is None:
            st.errors += 1
            return None
        st.rows += 1
        st.scores.add(s)
        st.confidence.add(max(s, 1.0 - s))
        return s

    def one_request(self):
        with self.lock:
            plan = self.plan
            if plan is None or plan.get("stable") is None:
                return
            self.request_counter += 1
            rid = "%s-%d" % (self.boot, self.request_counter)
            y = 1 if self.rng.random() < 0.5 else 0
            stable = plan["stable"]["version"]
            cand = plan.get("candidate")
            to_cand = False
            if cand and not cand.get("shadow"):
                if self.sticky_keys:
                    key = "user-%d" % self.rng.randrange(self.sticky_keys)
                    to_cand = fnv1a(key) % 10000 < cand["weight"] * 100
                else:
                    to_cand = self.rng.random() * 100 < cand["weight"]
            version = cand["version"] if to_cand else stable
            s = self.answer(version, y)
            self.served.append((time.time(), version, to_cand))
            if s is not None and self.with_ids:
                self.predictions.append({"id": rid, "version": version,
                                         "label": "1" if s >= 0.5 else "0"})
                self.truth[rid] = str(y)
            other = None
            if cand and (cand.get("shadow") or plan.get("compare")):
                other = cand["version"] if not to_cand else stable
                s2 = self.answer(other, y) if cand.get("shadow") and not to_cand else None
                if s2 is None and not cand.get("shadow"):
                    b = self.behaviours.get(other) or Behaviour()
                    s2 = b.predict(self.rng, y)
                if s is not None and s2 is not None:
                    st = self.vs(cand["version"])
                    st.compared += 1
                    st.agreed += (s >= 0.5) == (s2 >= 0.5)

    def traffic(self):
        period = 1.0 / self.rps
        nxt = time.time()
        while not self.stop_flag.is_set():
            if not self.paused.is_set():
                self.one_request()
            nxt += period
            delay = nxt - time.time()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1:
                nxt = time.time()

    # ---- reports ----------------------------------------------------------------------------

    def report_once(self):
        with self.lock:
            stats, self.stats = self.stats, {}
            preds, self.predictions = self.predictions, []
            self.seq += 1
            gap_ms = 0
            if self.gap_start is not None:
                gap_ms = int((time.time() - self.gap_start) * 1000)
            body = {"replica": self.name, "boot": self.boot, "seq": self.seq,
                    "generation": self.plan["generation"] if self.plan else 0,
                    "interval_ms": int(self.report_interval * 1000),
                    "gap_ms": gap_ms, "gap_generation": self.gap_generation if gap_ms else 0,
                    "versions": [v.wire() for v in stats.values()],
                    "predictions": preds}
            if self.drift is not None:
                body["drift"] = self.drift
        try:
            status, _ = self.call("POST", "/api/kiln/v1/deployments/%s/reports" % self.deployment,
                                  body)
        except OSError:
            status = 0
        with self.lock:
            if status == 200:
                self.reports_ok += 1
                if gap_ms:
                    self.gap_ms = max(self.gap_ms, gap_ms)
                    self.gap_start = None
                return True
            # Not delivered: keep the counts for the next report (nothing is lost).
            self.reports_failed += 1
            for v, st in stats.items():
                cur = self.vs(v)
                for f in ("requests", "errors", "rows", "compared", "agreed"):
                    setattr(cur, f, getattr(cur, f) + getattr(st, f))
                for h in ("latency", "scores", "confidence"):
                    a, b = getattr(cur, h), getattr(st, h)
                    for k, c in b.b.items():
                        a.b[k] = a.b.get(k, 0) + c
                    a.n += b.n
                    a.sum += b.sum
            self.predictions = preds + self.predictions
            if self.gap_start is None:
                self.gap_start = time.time()
                self.gap_generation = self.plan["generation"] if self.plan else 0
            return False

    def reporter(self):
        while not self.stop_flag.wait(self.report_interval):
            self.report_once()

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self, timeout=10):
        for fn in (self.poll_plan, self.traffic, self.reporter):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self.threads.append(t)
        deadline = time.time() + timeout
        while self.plan is None and time.time() < deadline:
            time.sleep(0.02)
        if self.plan is None:
            raise AssertionError("the replica got no plan")
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=self.wait + 6)

    # ---- what tests read --------------------------------------------------------------------

    def candidate_off_time(self, version, after):
        """First time after `after` the replica's plan gave `version` no traffic."""
        with self.lock:
            for t, gen, cand, weight, mode in self.timeline:
                if t >= after and (cand != version or weight == 0 and mode != "shadow"):
                    return t
        return None

    def last_served_time(self, version):
        with self.lock:
            times = [t for t, v, _ in self.served if v == version]
        return max(times) if times else None
