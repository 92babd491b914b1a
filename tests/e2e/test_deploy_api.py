"""The deployment API and CLI at their edges: spec errors name the line and column and change
nothing, hostile or malformed reports and feedback are refused with the field at fault and
change nothing, plan polls park until the plan changes (or the wait ends, or the deployment
goes), feedback labels join their predictions in either order, and the CLI's verbs behave."""
import json
import os
import threading
import time
import unittest

from deploylib import kapi, kok, make_model, spec, status
from kilntest import KilnServer, main

GOOD = """
name: api-live
model: apim
steps:
  - {weight: 10, min_duration: 1h, min_requests: 10}
analysis:
  interval: 200ms
  positive_label: "1"
  metrics:
    accuracy: {min: 0.5, min_samples: 2}
"""


class ApiTest(unittest.TestCase):
    ARGS = ()  # the default: a thread per connection, where plan polls wait on their own thread

    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer(*cls.ARGS).start()
        make_model(cls.srv, "apim", 2)

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def test_a_spec_errors(self):
        cases = [
            ("name: x\nmodel: m\nstpes: []\n", "x.yaml:3:1: deployment: unknown key 'stpes'"),
            ("name: x\n", "'model' (a registered model name) is required"),
            ("name: x\nmodel: m\nsteps:\n  - {weight: 150}\n",
             "x.yaml:4:14: steps[0]: 'weight' must be between 0.01 and 100"),
            ("name: x\nmodel: m\nanalysis:\n  metrics:\n    eror_rate: {max: 1}\n",
             "x.yaml:5:5: analysis.metrics: unknown metric 'eror_rate'"),
            ("name: x\nmodel: m\nanalysis:\n  metrics:\n    latency_p99: {max: 1}\n",
             "analysis.metrics.latency_p99: unknown key 'max'"),
            ("name: x\nmodel: m\nanalysis: {interval: soon}\n",
             "'interval' must be a duration"),
            ("name: x\nmodel: m\nalerts:\n  - {kind: latency}\n", "alerts[0]: 'p99_ms' is required"),
            ("name: x\nmodel: m\nalerts:\n  - {kind: drift}\n  - {kind: drift}\n",
             "another rule is named 'drift'"),
            ("name: x\nmodel: m\nstable: canary\n", "must differ from the stable one"),
            ("name: a/x\nmodel: m\n", "only letters, digits"),
            ("name: ../x\nmodel: m\n", "must not start with"),
            ("name: x\nmodel: &a m\n", "anchors"),
            ("name: [x\n", "YAML syntax error"),
        ]
        for text, want in cases:
            st, data = kapi(self.srv, "POST", "/deployments", {"spec": text, "file": "x.yaml"})
            self.assertEqual(st, 400, text)
            self.assertIn(want, data["message"], text)
        st, _ = kapi(self.srv, "GET", "/deployments/x")
        self.assertEqual(st, 404)
        self.assertEqual(kok(self.srv, "GET", "/deployments")["deployments"], [])

    def test_b_apply_update_plan_poll(self):
        d = kok(self.srv, "POST", "/deployments", {"spec": GOOD})
        self.assertTrue(d["created"])
        gen = d["deployment"]["generation"]
        plan = kok(self.srv, "GET", "/deployments/api-live/plan")
        self.assertEqual((plan["generation"], plan["mode"], plan["stable"]["version"]),
                         (gen, "stable", 1))
        self.assertEqual(plan["stable"]["uri"], "models:/apim/1")
        # A poll with nothing new waits, then answers with the same plan.
        t0 = time.time()
        again = kok(self.srv, "GET", "/deployments/api-live/plan",
                    query={"after": gen, "wait": 1})
        self.assertGreaterEqual(time.time() - t0, 0.9)
        self.assertEqual(again["generation"], gen)
        # A parked poll answers as soon as the plan changes.
        got = {}

        def poll():
            got["plan"] = kok(self.srv, "GET", "/deployments/api-live/plan",
                              query={"after": gen, "wait": 20})
            got["t"] = time.time()
        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.5)
        t1 = time.time()
        d = kok(self.srv, "POST", "/deployments/api-live/start", {"version": 2})
        th.join(10)
        self.assertEqual(got["plan"]["candidate"]["version"], 2)
        self.assertLess(got["t"] - t1, 2)
        self.assertEqual(d["deployment"]["rollout"]["weight"], 10)
        # Re-applying is an update (new generation, same rollout).
        d = kok(self.srv, "POST", "/deployments", {"spec": GOOD.replace("weight: 10", "weight: 25")})
        self.assertFalse(d["created"])
        self.assertEqual(d["deployment"]["rollout"]["weight"], 25)
        # Changing the model during a rollout is refused and changes nothing.
        st, data = kapi(self.srv, "POST", "/deployments",
                        {"spec": GOOD.replace("model: apim", "model: other")})
        self.assertEqual(st, 400)
        self.assertIn("abort it before changing its model", data["message"])
        self.assertEqual(status(self.srv, "api-live")["model"], "apim")
        # Bad queries.
        st, _ = kapi(self.srv, "GET", "/deployments/api-live/plan", query={"wait": 600})
        self.assertEqual(st, 400)
        st, _ = kapi(self.srv, "GET", "/deployments/nope/plan")
        self.assertEqual(st, 404)

    def report(self, body, raw=None):
        r = self.srv.request("POST", "/api/kiln/v1/deployments/api-live/reports",
                             body=raw if raw is not None else json.dumps(body),
                             headers={"Content-Type": "application/json"})
        return r.status, (r.json() if r.body else None)

    def test_c_reports_and_feedback(self):
        base = {"replica": "r1", "boot": "b1", "seq": 1, "generation": 1}
        bad = [
            (None, b'{"replica": "r1", ', "line 1"),
            ({"seq": 1}, None, "replica: required"),
            (dict(base, seq=-1), None, "seq: expected a non-negative integer"),
            (dict(base, versions=[{"version": 2, "requests": "many"}]), None,
             "versions[0].requests"),
            (dict(base, versions=[{"version": 2, "requests": 1, "errors": 2}]), None,
             "more errors than requests"),
            (dict(base, versions=[{"version": 2, "scores": {"b": [[99999, 1]]}}]), None,
             "versions[0].scores.b[0]: key 99999 out of range"),
            (dict(base, versions=[{"version": 2, "scores": {"n": 5, "b": [[1, 1]]}}]), None,
             "versions[0].scores.n: 5 does not match"),
            (dict(base, versions=[{"version": 2}, {"version": 2}]), None, "listed twice"),
            (dict(base, predictions=[{"id": "", "version": 2, "label": "1"}]), None,
             "predictions[0].id"),
            (dict(base, drift={"version": 1, "rows": 5, "dataset_drift": "yes"}), None,
             "drift.dataset_drift"),
        ]
        for body, raw, want in bad:
            st, data = self.report(body, raw)
            self.assertEqual(st, 400, want)
            self.assertIn(want, data["message"])
        self.assertEqual(status(self.srv, "api-live")["replicas"], [])
        # A label before its prediction waits; the prediction then counts it.
        fb = kok(self.srv, "POST", "/deployments/api-live/feedback",
                 {"labels": [{"request_id": "q1", "label": "1"}]})
        self.assertEqual((fb["matched"], fb["pending"]), (0, 1))
        st, data = self.report(dict(base, predictions=[
            {"id": "q1", "version": 2, "label": "1"}, {"id": "q2", "version": 2, "label": "0"},
            {"id": "q3", "version": 1, "label": "1"}]))
        self.assertEqual((st, data["accepted"]), (200, True))
        st, data = self.report(dict(base, versions=[{"version": 2, "requests": 5}]))
        self.assertEqual((st, data["duplicate"]), (200, True))  # the same seq again
        fb = kok(self.srv, "POST", "/deployments/api-live/feedback",
                 {"request_id": "q2", "label": "1"})
        self.assertEqual((fb["matched"], fb["pending"]), (1, 0))
        code, out, err = self.srv.cli("deploy", "feedback", "api-live", "--request-id", "q3",
                                      "--label", "1")
        self.assertEqual(code, 0, err)
        self.assertIn("1 labels matched", out)
        d = status(self.srv, "api-live")
        self.assertEqual(d["feedback"]["matched"], 3)
        self.assertEqual(d["replicas"][0]["name"], "r1")
        # The candidate's accuracy comes from the joined labels: q1 right, q2 wrong.
        def acc():
            a = status(self.srv, "api-live")["rollout"]["last_analysis"]
            return a and [m for m in a["analysis"]["metrics"] if m["metric"] == "accuracy"][0]
        deadline = time.time() + 5
        while time.time() < deadline and (not acc() or acc()["samples"] < 2):
            time.sleep(0.1)
        self.assertEqual((acc()["samples"], acc()["observed"]), (2, 0.5))
        # Bad feedback.
        st, data = kapi(self.srv, "POST", "/deployments/api-live/feedback",
                        {"labels": [{"label": "1"}]})
        self.assertEqual(st, 400)
        self.assertIn("labels[0].request_id", data["message"])
        path = os.path.join(self.srv.dir, "labels.csv")
        with open(path, "w") as f:
            f.write("request_id,label\nz1,1\nz2,0\n")
        code, out, err = self.srv.cli("deploy", "feedback", "api-live", "--file", path)
        self.assertEqual(code, 0, err)
        self.assertIn("2 wait for theirs", out)

    def test_d_cli_and_delete(self):
        code, out, _ = self.srv.cli("deploy", "--help")
        self.assertEqual(code, 0)
        self.assertIn("kiln deploy", out)
        code, _, err = self.srv.cli("deploy", "frobnicate", "x")
        self.assertEqual(code, 2)
        self.assertIn("unknown command", err)
        code, _, err = self.srv.cli("deploy", "apply", "-f", "/nonexistent.yaml")
        self.assertEqual(code, 2)
        self.assertIn("nonexistent.yaml", err)
        code, out, _ = self.srv.cli("deploy", "list")
        self.assertEqual(code, 0)
        self.assertIn("api-live", out)
        code, out, _ = self.srv.cli("deploy", "plan", "api-live")
        self.assertEqual(json.loads(out)["deployment"], "api-live")
        # A parked poll is answered when the deployment is deleted.
        gen = status(self.srv, "api-live")["generation"]
        got = {}

        def poll():
            got["r"] = kapi(self.srv, "GET", "/deployments/api-live/plan",
                            query={"after": gen, "wait": 30})
        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.5)
        code, out, err = self.srv.cli("deploy", "delete", "api-live")
        self.assertEqual(code, 0, err)
        th.join(5)
        self.assertFalse(th.is_alive())
        self.assertEqual(got["r"][0], 404)
        code, _, err = self.srv.cli("deploy", "status", "api-live")
        self.assertEqual(code, 2)
        self.assertIn("does not exist", err)



class ApiTestPool(ApiTest):
    """The same on a pool of two threads, where plan polls park (holding no thread)."""
    ARGS = ("--workers", "2")


if __name__ == "__main__":
    main()
