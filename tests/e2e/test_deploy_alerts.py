"""Alert rules end to end: drift reported by a replica fires once (de-duplicated), starts the
retraining pipeline with the evidence as parameters, goes to webhooks, survives a restart
without firing again, and resolves; error-rate and low-confidence rules fire and resolve on the
traffic statistics replicas report."""
import http.server
import json
import os
import shutil
import tempfile
import textwrap
import threading
import time
import unittest

from deploylib import events, kapi, kok, make_model, status, wait_for
from kilntest import KilnServer, main
from replica_sim import Behaviour, Replica

PIPELINE = """\
    name: retrain-on-drift
    params:
      drift_share: {type: number, default: 0}
      drifted_columns: none
      deployment: none
    triggers:
      - {type: drift, model: alrt}
    tasks:
      note:
        run: 'echo "retrain {{ params.deployment }}, {{ params.drifted_columns }} drifted, share {{ params.drift_share }}"'
"""

SPEC = """
name: alrt-live
model: alrt
analysis: {interval: 200ms}
monitoring: {report_interval: 300ms}
alerts:
  - {name: input-drift, kind: drift, min_rows: 100, window: 10s, trigger_pipeline: true,
     severity: critical}
  - {kind: error_rate, max: 0.1, window: 2s, min_samples: 50}
  - {kind: low_confidence, threshold: 0.6, max_share: 0.5, window: 2s, min_samples: 50}
"""

DRIFT = {"version": 1, "rows": 500, "dataset_drift": True, "drift_share": 0.6,
         "columns": [{"name": "age", "method": "wasserstein", "statistic": 0.31,
                      "threshold": 0.1, "drifted": True},
                     {"name": "income", "method": "wasserstein", "statistic": 0.02,
                      "threshold": 0.1, "drifted": False}]}


class Hooks(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hooks.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


class AlertsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kiln-e2e-alerts-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.srv = KilnServer(workdir=self.dir).start()
        self.addCleanup(lambda: self.srv.proc and self.srv.stop())
        self.hooks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
        threading.Thread(target=self.hooks.serve_forever, daemon=True).start()
        self.addCleanup(self.hooks.server_close)
        self.addCleanup(self.hooks.shutdown)
        Hooks.received = []

    def alert_state(self, rule):
        return [a for a in status(self.srv, "alrt-live")["alerts"] if a["rule"] == rule][0]

    def fired(self, rule):
        return [e for e in events(self.srv, types="alert.fired") if e["data"]["rule"] == rule]

    def test_alerts(self):
        url = "http://127.0.0.1:%d/hook" % self.hooks.server_address[1]
        kok(self.srv, "POST", "/webhooks", {"url": url, "events": "alert.fired,alert.resolved"})
        path = os.path.join(self.dir, "retrain.yaml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(PIPELINE))
        code, _, err = self.srv.cli("pipeline", "apply", path)
        self.assertEqual(code, 0, err)
        make_model(self.srv, "alrt", 1)
        kok(self.srv, "POST", "/deployments", {"spec": SPEC})
        good = Behaviour()
        rep = Replica(self.srv.port, "alrt-live", {1: good}, rps=300, report_interval=0.3,
                      wait=2).start()
        self.addCleanup(rep.stop)
        time.sleep(1.5)
        for rule in ("input-drift", "error_rate", "low_confidence"):
            self.assertEqual(self.alert_state(rule)["state"], "ok")

        # Drift: fires once, with its evidence, and starts the retraining pipeline.
        rep.drift = DRIFT
        wait_for(lambda: self.alert_state("input-drift")["state"] == "firing", 10,
                 what="the drift alert")
        alerts = kok(self.srv, "GET", "/deployments/alrt-live/alerts",
                     query={"state": "firing"})["alerts"]
        self.assertEqual(len(alerts), 1)
        a = alerts[0]
        self.assertEqual((a["rule"], a["kind"], a["severity"]),
                         ("input-drift", "drift", "critical"))
        self.assertEqual(a["evidence"]["drifted_columns"], "age")
        self.assertAlmostEqual(a["evidence"]["drift_share"], 0.6)
        self.assertEqual(len(a["pipeline_runs"]), 1)
        run_id = a["pipeline_runs"][0]
        run = wait_for(lambda: (lambda r: r if r["state"] == "success" else None)(
            kok(self.srv, "GET", f"/pipeline-runs/{run_id}")["run"]), 20,
            what="the retraining run")
        self.assertEqual(run["trigger"], "drift")
        self.assertEqual(run["params"]["drifted_columns"], "age")
        self.assertEqual(float(run["params"]["drift_share"]), 0.6)
        self.assertEqual(run["params"]["deployment"], "alrt-live")
        time.sleep(1.5)
        self.assertEqual(len(self.fired("input-drift")), 1)  # de-duplicated while firing

        # A restart keeps the firing state: no second notification.
        self.srv.stop()
        self.srv = KilnServer(workdir=self.dir, port=self.srv.port).start()
        time.sleep(2.0)
        self.assertEqual(self.alert_state("input-drift")["state"], "firing")
        self.assertEqual(len(self.fired("input-drift")), 1)

        # Drift gone: resolved, once.
        rep.drift = dict(DRIFT, dataset_drift=False, drift_share=0.0,
                         columns=[dict(c, drifted=False) for c in DRIFT["columns"]])
        wait_for(lambda: self.alert_state("input-drift")["state"] == "ok", 10,
                 what="the drift alert to resolve")
        self.assertEqual(len(events(self.srv, types="alert.resolved")), 1)

        # An error spike, then recovery.
        good.error_rate = 0.5
        wait_for(lambda: self.alert_state("error_rate")["state"] == "firing", 10,
                 what="the error-rate alert")
        good.error_rate = 0.0
        wait_for(lambda: self.alert_state("error_rate")["state"] == "ok", 10,
                 what="the error-rate alert to resolve")

        # Predictions near 0.5: low confidence.
        good.flat = True
        wait_for(lambda: self.alert_state("low_confidence")["state"] == "firing", 10,
                 what="the low-confidence alert")
        fired = self.fired("low_confidence")[0]["data"]
        self.assertGreater(fired["evidence"]["low_confidence_share"], 0.5)

        # Webhooks received every firing and resolution.
        def hooked():
            kinds = [(h["type"], h["data"]["rule"]) for h in Hooks.received]
            return ("alert.fired", "input-drift") in kinds and \
                ("alert.resolved", "input-drift") in kinds and \
                ("alert.fired", "low_confidence") in kinds
        wait_for(hooked, 20, 0.2, "the webhook deliveries")
        code, out, _ = self.srv.cli("deploy", "alerts", "alrt-live")
        self.assertEqual(code, 0)
        self.assertIn("input-drift", out)
        self.assertIn("resolved", out)

    def test_drift_of_other_versions_is_ignored(self):
        # Only the stable version's drift windows count: a candidate's window, or a replica's
        # last window of a version it no longer serves, fires nothing and starts nothing.
        path = os.path.join(self.dir, "retrain.yaml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(PIPELINE))
        code, _, err = self.srv.cli("pipeline", "apply", path)
        self.assertEqual(code, 0, err)
        make_model(self.srv, "alrt", 1)
        kok(self.srv, "POST", "/deployments", {"spec": SPEC})
        rep = Replica(self.srv.port, "alrt-live", {1: Behaviour()}, rps=300,
                      report_interval=0.3, wait=2).start()
        self.addCleanup(rep.stop)
        rep.drift = dict(DRIFT, version=2)
        wait_for(lambda: any(r.get("drift") for r in status(self.srv, "alrt-live")["replicas"]),
                 10, what="a drift window in a report")
        time.sleep(1.5)
        self.assertEqual(self.alert_state("input-drift")["state"], "ok")
        self.assertEqual(self.fired("input-drift"), [])
        _, runs = kapi(self.srv, "GET", "/pipelines/retrain-on-drift/runs")
        self.assertEqual(runs["runs"], [])
        rep.drift = DRIFT  # the stable version's own window
        wait_for(lambda: self.alert_state("input-drift")["state"] == "firing", 10,
                 what="the drift alert")


if __name__ == "__main__":
    main()
