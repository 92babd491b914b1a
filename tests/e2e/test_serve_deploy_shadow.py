"""Shadow copies off the request path, request ids on error answers, and monitoring gauges of
versions no longer served, end to end with a real `kiln server` control plane and a real
`kiln serve --deployment NAME` replica (tests/e2e/replicalib.py).

What must hold:
- a slow shadow candidate does not slow the callers: with the wide MLP shadowing, the p50 and
  p90 of sequential callers stay close to those of a plan without a candidate (the candidate's
  own time per request, measured by pinning it, is far above the tolerance), while its shadow
  counts still reach the control plane, whose analysis judges the shadow phase; copies that do
  not fit the bounded queue are dropped and counted;
- error answers of /invocations and OIP infer carry X-Request-ID (the caller's or a generated
  one) and X-Kiln-Version once a version was chosen;
- once a version is neither stable nor candidate (the rollout aborted), its kiln_monitor_*
  series leave /metrics while the stable version's stay.
"""
import json
import shutil
import tempfile
import time
import unittest
import http.client

from kilntest import KilnServer, main
from replicalib import (FEATURES, Replica, add_versions, data, deployment, kok, metric, spec,
                        wait_for, wait_rollout_end)

ROWS = 20  # rows per request: the MLP candidate pays for each, the stable model hardly
N = 300    # requests per latency measurement


def percentiles(lat):
    lat = sorted(lat)
    return lat[len(lat) // 2] * 1000.0, lat[int(len(lat) * 0.9)] * 1000.0


class ShadowOffPath(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from replicalib import build_models
        cls.tmp = tempfile.mkdtemp(prefix="kiln-serve-shadow-")
        cls.dirs = build_models(cls.tmp, which=("good", "slow"))
        cls.srv = KilnServer().start()
        X, _ = data(ROWS, seed=3)
        cls.rows = X.tolist()
        cls.body = json.dumps({"dataframe_split": {"columns": FEATURES, "data": cls.rows}})
        cls.oip = json.dumps({"inputs": [
            {"name": f, "datatype": "FP64", "shape": [ROWS], "data": [r[j] for r in cls.rows]}
            for j, f in enumerate(FEATURES)]})

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def callers(self, rep, path="/invocations", body=None, n=N):
        """Latencies (s) of n sequential requests on one keep-alive connection."""
        c = http.client.HTTPConnection("127.0.0.1", rep.port, timeout=30)
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            c.request("POST", path, body=body or self.body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            lat.append(time.perf_counter() - t0)
            self.assertEqual(r.status, 200)
        c.close()
        return lat

    def test_slow_shadow_does_not_slow_callers(self):
        v1, v2 = add_versions(self.srv, "lag", [self.dirs["good"], self.dirs["slow"]])
        kok(self.srv, "POST", "/deployments", {"spec": spec(
            "lag-live", "lag", "    error_rate: {max: 0.05}\n"
            "    agreement: {min: 0.5}", strategy="shadow", min_samples=20,
            extra="shadow: {min_duration: 2s, min_requests: 20}")})
        rep = Replica(self.srv, "lag-live", replica_id="lag-r0").start()
        self.addCleanup(rep.__exit__, None, None, None)

        self.callers(rep, n=50)  # warm up
        base = percentiles(self.callers(rep))

        code, _, err = self.srv.cli("deploy", "start", "lag-live", "--version", str(v2))
        self.assertEqual(code, 0, err)

        def shadowing():
            self.callers(rep, n=1)
            return (metric(rep.metrics(), "kiln_deploy_requests_total", version=str(v2),
                           role="shadow") or 0) > 0
        wait_for(shadowing, 30, what="the first shadow copy")
        shadow = percentiles(self.callers(rep))
        m = rep.metrics()
        pending = metric(m, "kiln_deploy_shadow_pending")
        dropped = metric(m, "kiln_deploy_shadow_dropped_total")
        # The candidate's own time for one such request (pinned through OIP): what each caller
        # would wait for if the copy ran before the answer.
        cand = percentiles(self.callers(rep, f"/v2/models/lag/versions/{v2}/infer", self.oip,
                                        n=5))
        print(f"callers p50/p90 ms: no candidate {base[0]:.3f}/{base[1]:.3f}, "
              f"slow shadow {shadow[0]:.3f}/{shadow[1]:.3f}; candidate alone "
              f"{cand[0]:.1f} ms per request; pending {pending}, dropped {dropped}")
        tol50, tol90 = 2 * base[0] + 1.0, 2 * base[1] + 2.0
        self.assertGreater(cand[0], 2 * tol90)  # the test can tell inline from off-path
        self.assertLess(shadow[0], tol50)
        self.assertLess(shadow[1], tol90)
        # The queue is bounded: copies that did not fit were dropped and counted.
        self.assertLessEqual(pending, 257)
        self.assertGreater(dropped, 0)

        # The shadow counts reach the control plane and the analysis judges them.
        def judged():
            self.callers(rep, n=5)
            ro = deployment(self.srv, "lag-live")["rollout"]
            return ro if ro is not None and ro["step"] >= 2 else None
        ro = wait_for(judged, 60, 0.2, "the shadow phase to pass")
        hist = kok(self.srv, "GET", "/deployments/lag-live/history",
                   query={"rollout": str(ro["id"])})
        first = [a for a in hist["analyses"] if a["step"] == 1 and a["verdict"] == "pass"]
        self.assertTrue(first, hist)
        agreement = [x for x in first[-1]["report"]["analysis"]["metrics"] if x["metric"] == "agreement"]
        self.assertEqual(len(agreement), 1)
        self.assertGreaterEqual(agreement[0]["samples"], 20)  # compared rows
        self.assertGreater(agreement[0]["observed"], 0.5)  # agreed / compared

        # Aborted: v2 is neither stable nor candidate; its gauges go, v1's stay.
        self.assertIsNotNone(metric(rep.metrics(), "kiln_monitor_confidence_mean",
                                    version=str(v2)))
        kok(self.srv, "POST", "/deployments/lag-live/abort", {"reason": "test"})
        wait_rollout_end(self.srv, "lag-live")

        def gone():
            self.callers(rep, n=5)
            m = rep.metrics()
            return f'version="{v2}"' not in "\n".join(
                l for l in m.splitlines() if l.startswith("kiln_monitor_")) and m
        m = wait_for(gone, 15, 0.1, f"the kiln_monitor_* series of version {v2} to go")
        self.assertIsNotNone(metric(m, "kiln_monitor_confidence_mean", version=str(v1)))
        self.assertIsNotNone(metric(m, "kiln_monitor_drift_window_rows", version=str(v1)))

    def test_error_answers_carry_the_request_id(self):
        (v1,) = add_versions(self.srv, "ids", [self.dirs["good"]])
        kok(self.srv, "POST", "/deployments", {"spec": spec(
            "ids-live", "ids", "    error_rate: {max: 0.05}")})
        rep = Replica(self.srv, "ids-live", replica_id="ids-r0").start()
        self.addCleanup(rep.__exit__, None, None, None)
        js = {"Content-Type": "application/json"}

        def call(path, body, rid=None, **kw):
            h = dict(js, **({"X-Request-ID": rid} if rid else {}))
            r = rep.request("POST", path, body=body, headers=h, **kw)
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.body

        # A body the version refuses: the caller's id, and the version that refused it.
        st, h, body = call("/invocations", '{"dataframe_split": {"columns": ["f0"]', "bad-1")
        self.assertEqual(st, 400, body)
        self.assertEqual(h.get("x-request-id"), "bad-1")
        self.assertEqual(h.get("x-kiln-version"), str(v1))
        self.assertIn(b"error_code", body)
        # Without an id, a generated one (different per request).
        st, h, _ = call("/invocations", "[1, 2")
        st2, h2, _ = call("/invocations", "[1, 2")
        self.assertEqual((st, st2), (400, 400))
        self.assertTrue(h.get("x-request-id"))
        self.assertNotEqual(h.get("x-request-id"), h2.get("x-request-id"))
        # OIP: a bad body, a version not served (no version chosen), a model not served.
        st, h, body = call("/v2/models/ids/infer", '{"inputs": 3}', "bad-2")
        self.assertEqual(st, 400, body)
        self.assertEqual((h.get("x-request-id"), h.get("x-kiln-version")), ("bad-2", str(v1)))
        self.assertIn(b'"error"', body)
        st, h, body = call("/v2/models/ids/versions/999/infer", self.oip, "bad-3")
        self.assertEqual(st, 404, body)
        self.assertEqual(h.get("x-request-id"), "bad-3")
        self.assertNotIn("x-kiln-version", h)
        st, h, body = call("/invocations?model=nope", self.body, "bad-4")
        self.assertEqual(st, 404, body)
        self.assertEqual(h.get("x-request-id"), "bad-4")
        self.assertNotIn("x-kiln-version", h)
        # A success still carries both; another route's errors are unchanged (no ids).
        st, h, _ = call("/invocations", self.body, "ok-1")
        self.assertEqual((st, h.get("x-request-id"), h.get("x-kiln-version")),
                         (200, "ok-1", str(v1)))
        st, h, _ = call("/feedback", "{", "bad-5")
        self.assertEqual(st, 400)
        self.assertNotIn("x-request-id", h)


if __name__ == "__main__":
    main()
