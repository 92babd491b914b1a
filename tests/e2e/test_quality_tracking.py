"""`kiln drift|validate --run-id`: results logged to a real `kiln server` run.

Metrics arrive through runs/log-batch (read back with runs/get), tags too, and the HTML
report is uploaded to the run's artifacts through the artifact proxy (read back byte for
byte). Logging errors (an unknown run, a server that is down) exit 2 with one line.
"""
import json
import os
import random
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kilntest import KilnServer, main, run_kiln  # noqa: E402
from artifactlib import create_run, get_bytes, list_dir  # noqa: E402


def write(path, n, seed, shift=0.0):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        f.write("x,y,city\n")
        for _ in range(n):
            f.write("%r,%d,%s\n" % (rnd.gauss(shift, 1), rnd.randint(0, 9),
                                    rnd.choice(["a", "b", "c"])))


class QualityTrackingTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kiln-qtrack-")
        write(os.path.join(self.dir, "ref.csv"), 1500, 1)
        write(os.path.join(self.dir, "cur.csv"), 1500, 2, shift=1.0)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.dir, name)

    def run_metrics(self, srv, run_id):
        run = srv.ok("GET", "/runs/get", {"run_id": run_id})["run"]
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        return run, metrics, tags

    def test_drift_logged_to_run(self):
        with KilnServer() as srv:
            run_id, artifact_uri = create_run(srv)
            code, out, err = srv.cli("drift", "--reference", self.p("ref.csv"), "--current",
                                     self.p("cur.csv"), "--run-id", run_id, "--json")
            self.assertIn(code, (0, 1), err)
            res = json.loads(out)
            run, metrics, tags = self.run_metrics(srv, run_id)
            self.assertEqual(metrics["drift.dataset_drift"], 1.0 if res["dataset_drift"] else 0.0)
            self.assertEqual(metrics["drift.checked_columns"], 3)
            self.assertAlmostEqual(metrics["drift.drift_share"], res["drift_share"])
            x = [c for c in res["columns"] if c["name"] == "x"][0]
            self.assertAlmostEqual(metrics["drift.x.statistic"], x["statistic"], places=12)
            self.assertEqual(metrics["drift.x.drifted"], 1.0)
            self.assertEqual(tags["kiln.drift.current"], self.p("cur.csv"))
            root = artifact_uri.split("mlflow-artifacts:/", 1)[1]
            r = get_bytes(srv, root + "/drift_report.html")
            self.assertEqual(r.status, 200)
            self.assertIn(b"<svg", r.body)
            self.assertIn(b"Drift report", r.body)
            status, listing = list_dir(srv, root)
            self.assertEqual(status, 200)
            self.assertIn("drift_report.html", [f["path"].split("/")[-1]
                                                for f in listing.get("files", [])])

    def test_validation_logged_to_run(self):
        with KilnServer() as srv:
            run_id, artifact_uri = create_run(srv)
            code, _, err = run_kiln("profile", self.p("ref.csv"), "--out", self.p("p.json"))
            self.assertEqual(code, 0, err)
            code, out, err = run_kiln("validate", self.p("cur.csv"), "--profile",
                                      self.p("p.json"), "--run-id", run_id, "--tracking-uri",
                                      srv.base)
            self.assertEqual(code, 1, out + err)  # x drifted and left its range
            run, metrics, tags = self.run_metrics(srv, run_id)
            self.assertEqual(metrics["validation.success"], 0.0)
            self.assertEqual(metrics["validation.rows"], 1500)
            self.assertEqual(metrics["validation.evaluated_expectations"],
                             metrics["validation.successful_expectations"] +
                             metrics["validation.unsuccessful_expectations"])
            self.assertEqual(tags["kiln.validation.suite"], "ref")  # the suggested suite
            root = artifact_uri.split("mlflow-artifacts:/", 1)[1]
            r = get_bytes(srv, root + "/validation_report.html")
            self.assertEqual(r.status, 200)
            self.assertIn(b"Validation report", r.body)

    def test_logging_errors(self):
        with KilnServer() as srv:
            code, _, err = srv.cli("drift", "--reference", self.p("ref.csv"), "--current",
                                   self.p("cur.csv"), "--run-id", "nosuchrun")
            self.assertEqual(code, 2)
            self.assertEqual(err.count("\n"), 1, err)
            self.assertIn("nosuchrun", err)
            base = srv.base
        code, _, err = run_kiln("drift", "--reference", self.p("ref.csv"), "--current",
                                self.p("cur.csv"), "--run-id", "r1", "--tracking-uri", base)
        self.assertEqual(code, 2)
        self.assertEqual(err.count("\n"), 1, err)
        code, _, err = run_kiln("drift", "--reference", self.p("ref.csv"), "--current",
                                self.p("cur.csv"), "--tracking-uri", base)
        self.assertEqual(code, 2)
        self.assertIn("--tracking-uri needs --run-id", err)


if __name__ == "__main__":
    main()
