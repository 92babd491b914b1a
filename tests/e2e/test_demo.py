"""`make demo` end to end: runs scripts/demo.sh (the closed loop) against a temporary data
folder with this build's kiln, then checks from the store it left that the story happened:
a drift alert started the retraining pipeline, the bad candidate it produced was rolled back
by the controller with the failing metric recorded, a later candidate was promoted to
production, and the timeline was printed. Needs /usr/bin/python3 with NumPy and scikit-learn
(scripts/deps.sh installs them); skips without them.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KILN_BIN, SRC, KilnServer, check_sanitizers  # noqa: E402

PY = "/usr/bin/python3"


def get_json(srv, path):
    r = srv.request("GET", path)
    if r.status != 200:
        raise AssertionError(f"GET {path} -> {r.status}: {r.body[:500]!r}")
    return r.json()


def have_sklearn():
    return os.path.exists(PY) and subprocess.run(
        [PY, "-c", "import numpy, sklearn"], capture_output=True).returncode == 0


@unittest.skipUnless(have_sklearn(), "needs /usr/bin/python3 with numpy and scikit-learn")
class DemoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kiln-e2e-demo-")
        cls.data = os.path.join(cls.dir, "kiln-data")
        env = dict(os.environ, KILN=KILN_BIN, KILN_DEMO_DATA=cls.data, KILN_DEMO_PORT="0",
                   KILN_DEMO_TIMEOUT=os.environ.get("KILN_DEMO_TIMEOUT", "400"), NO_COLOR="1")
        env.pop("KILN_TRACKING_URI", None)
        env.pop("MLFLOW_TRACKING_URI", None)
        t = time.monotonic()
        cls.proc = subprocess.run([os.path.join(SRC, "scripts", "demo.sh")], env=env,
                                  capture_output=True, text=True, timeout=560)
        cls.elapsed = time.monotonic() - t
        cls.work = os.path.join(cls.data, "closed-loop")
        print(f"demo took {cls.elapsed:.1f} s", file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_01_demo_succeeds_and_prints_the_story(self):
        out = self.proc.stdout
        self.assertEqual(self.proc.returncode, 0,
                         f"demo failed:\n{out[-6000:]}\n{self.proc.stderr[-4000:]}")
        self.assertRegex(out, r"TIME +WHAT +VERSION +RECORDED IN")
        self.assertIn("closed loop done in", out)
        self.assertIn("where to look", out)
        self.assertRegex(out, r"REFUSED at staging: roc_auc")
        for name in ("server.log", "replica-1.log", "replica-2.log", "generator.log"):
            with open(os.path.join(self.work, "logs", name), errors="replace") as f:
                check_sanitizers(f.read(), name)
        for report in ("validation.html", "drift.html"):
            self.assertTrue(os.path.getsize(os.path.join(self.work, "reports", report)) > 1000)

    def test_02_timeline_rows(self):
        with open(os.path.join(self.work, "timeline.json")) as f:
            tl = json.load(f)
        kinds = [r["kind"] for r in tl["rows"]]
        for kind in ("refused", "alert_fired", "pipeline_start", "fault", "rollout",
                     "failed_check", "rolled_back", "step"):
            self.assertIn(kind, kinds)
        times = [r["time"] for r in tl["rows"]]
        self.assertEqual(times, sorted(times))
        promoted = [r for r in tl["rows"] if r["what"].startswith("PROMOTED to production")]
        self.assertEqual(len(promoted), 1)
        # The order of the story.
        first = {k: kinds.index(k) for k in set(kinds)}
        self.assertLess(first["alert_fired"], first["failed_check"])
        self.assertLess(first["failed_check"], tl["rows"].index(promoted[0]))

    def test_03_store_records_the_loop(self):
        with KilnServer(workdir=self.data) as srv:
            dep = get_json(srv, "/api/kiln/v1/deployments/churn-live")["deployment"]
            hist = get_json(srv, "/api/kiln/v1/deployments/churn-live/history")["rollouts"]
            runs = get_json(srv, "/api/kiln/v1/pipelines/retrain-churn/runs")["runs"]
            alerts = get_json(srv, "/api/kiln/v1/deployments/churn-live/alerts?state=all")
            model = get_json(srv, "/api/2.0/mlflow/registered-models/get?name=churn")
            details = {r["run_id"]: get_json(srv, f"/api/kiln/v1/pipeline-runs/{r['run_id']}")
                       ["run"] for r in runs}

        def outputs(run, task):
            return next(t for t in run["tasks"] if t["task"] == task).get("outputs") or {}

        # A drift alert fired and started a pipeline run.
        drift = [a for a in alerts["alerts"] if a["kind"] == "drift"]
        self.assertTrue(drift, alerts)
        started = [rid for a in drift for rid in (a.get("pipeline_runs") or [])]
        self.assertTrue(started, drift)
        first_run = details[started[0]]
        self.assertEqual(first_run["trigger"], "drift")
        self.assertEqual(first_run["state"], "success")
        self.assertEqual(outputs(first_run, "collect")["fault"], "flip-labels")
        bad = int(outputs(first_run, "register")["version"])

        # The bad candidate was rolled back by the controller, on a failed quality metric.
        rolled = [r for r in hist if r["state"] == "rolled_back"]
        self.assertTrue(rolled, hist)
        self.assertEqual(rolled[-1]["candidate_version"], bad)
        self.assertRegex(rolled[-1]["reason"], r"analysis failed.*(accuracy|precision|recall)")
        self.assertLess(rolled[-1]["traffic_off_time"] - rolled[-1]["failed_check_time"], 10000)

        # The rollback started a second run, whose version went through every step to
        # production.
        second = [d for d in details.values() if d["trigger"] == "alias"
                  and (d.get("trigger_info") or {}).get("event_type") == "alias.rolled_back"]
        self.assertEqual(len(second), 1, [d["trigger_info"] for d in details.values()])
        self.assertEqual(outputs(second[0], "collect")["fault"], "none")
        good = int(outputs(second[0], "register")["version"])
        promoted = [r for r in hist if r["state"] == "promoted"]
        self.assertEqual([r["candidate_version"] for r in promoted], [good])
        self.assertEqual(promoted[0]["step"], len(dep["spec"]["steps"]))
        aliases = {a["alias"]: a["version"] for a in model["registered_model"]["aliases"]}
        self.assertEqual(aliases["production"], str(good))
        self.assertGreater(good, bad)

    def test_04_duration(self):
        m = re.search(r"closed loop done in ([0-9.]+)s", self.proc.stdout)
        self.assertIsNotNone(m, self.proc.stdout[-2000:])
        # The demo's own budget is 3 minutes on a 2-core machine; sanitizer builds are slower.
        limit = 400 if "asan" in KILN_BIN else 180
        self.assertLess(float(m.group(1)), limit)


if __name__ == "__main__":
    unittest.main()
