"""Built-in task kinds: validate, drift, evaluate, register, promote and train, each a thin
wrapper of a kiln command or REST call. The wrapped commands are the stand-in in
standin_kiln.py (through $KILN_PIPELINE_KILN_BIN) so the wrappers' own logic is tested:
arguments passed, exit codes mapped to task states, results turned into outputs and links.
Tracking runs (train nesting under the pipeline run) use the real kiln server; registering a
version uses the server's registry when it has one, else a minimal MLflow-registry stand-in."""
import http.server
import json
import os
import shutil
import sqlite3
import tempfile
import textwrap
import threading
import unittest

from kilntest import KilnServer, main, run_kiln

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "standin_kiln.py")


class RegistryStandIn(http.server.BaseHTTPRequestHandler):
    """registered-models/create and model-versions/create, MLflow's shapes."""
    models, versions = set(), {}

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        if self.path.endswith("/registered-models/create"):
            if body["name"] in self.models:
                return self.reply(400, {"error_code": "RESOURCE_ALREADY_EXISTS",
                                        "message": "exists"})
            self.models.add(body["name"])
            return self.reply(200, {"registered_model": {"name": body["name"]}})
        if self.path.endswith("/model-versions/create"):
            v = self.versions.get(body["name"], 0) + 1
            self.versions[body["name"]] = v
            return self.reply(200, {"model_version": {"name": body["name"], "version": str(v),
                                                      "source": body["source"],
                                                      "run_id": body.get("run_id", "")}})
        self.reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": self.path})

    def reply(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Steps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.srv.dir, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kiln-plst-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.log = os.path.join(self.dir, "standin.log")
        for name, rows in (("ref.csv", "x,y\n1,0\n2,1\n3,0\n"), ("same.csv", "x,y\n1,1\n2,0\n3,0\n"),
                           ("shifted.csv", "x,y\n5,1\n6,1\n7,0\n"), ("bad.csv", "x,y\n1,BAD\n")):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(rows)
        with open(os.path.join(self.dir, "profile.json"), "w") as f:
            f.write("{}")

    def env(self, **extra):
        env = {"KILN_PIPELINE_KILN_BIN": STANDIN, "STANDIN_LOG": self.log}
        env.update(extra)
        return env

    def run_pl(self, text, *args, env=None, tracking=None):
        path = os.path.join(self.dir, "p.yaml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        extra = ["--tracking-uri", tracking] if tracking else []
        rc, out, err = run_kiln("pipeline", "run", path, "--json", *extra, *args, cwd=self.dir,
                                env=env or self.env())
        self.assertIn(rc, (0, 1), err)
        return rc, json.loads(out)

    def calls(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f]

    def test_validate_drift_evaluate_promote(self):
        rc, run = self.run_pl("""\
            name: gates
            params: {batch: same.csv}
            tasks:
              check:
                kind: validate
                with: {data: '{{ params.batch }}', profile: profile.json, expectations: exp.yaml}
              drift:
                kind: drift
                with: {reference: ref.csv, current: '{{ params.batch }}', threshold: '0.5', columns: 'x,y'}
                depends_on: check
              evaluate:
                kind: evaluate
                with: {model: 'models:/fraud/3', data: ref.csv, target: y, dataset_name: holdout}
                depends_on: check
              promote:
                kind: promote
                with: {model: fraud, version: '3', to: staging, reason: 'acc {{ tasks.evaluate.outputs.accuracy }}'}
                depends_on: [drift, evaluate]
            """)
        self.assertEqual(rc, 0)
        tasks = {t["task"]: t for t in run["tasks"]}
        self.assertEqual({k: t["state"] for k, t in tasks.items()},
                         {"check": "success", "drift": "success", "evaluate": "success",
                          "promote": "success"})
        self.assertEqual(tasks["check"]["outputs"], {"valid": "true"})
        self.assertEqual(tasks["drift"]["outputs"],
                         {"dataset_drift": "false", "drift_share": "0", "drifted_columns": ""})
        self.assertEqual(tasks["evaluate"]["outputs"]["positive_rate"], "0.3333333333333333")
        self.assertEqual(tasks["promote"]["outputs"], {"model": "fraud", "version": "3",
                                                       "env": "staging"})
        calls = self.calls()
        self.assertIn(["validate", "same.csv", "--profile", "profile.json", "--expectations",
                       "exp.yaml"], calls)
        self.assertIn(["drift", "--reference", "ref.csv", "--current", "same.csv", "--json",
                       "--columns", "x,y", "--threshold", "0.5"], calls)
        self.assertIn(["evaluate", "models:/fraud/3", "--data", "ref.csv", "--target", "y",
                       "--json", "--dataset-name", "holdout"], calls)
        self.assertIn(["models", "promote", "fraud", "3", "--to", "staging", "--reason",
                       "acc 0.6666666666666667"], calls)

    def test_failures_and_skips(self):
        # Bad data fails validation and everything after it.
        rc, run = self.run_pl("""\
            name: badbatch
            tasks:
              check: {kind: validate, with: {data: bad.csv, profile: profile.json}}
              train: {run: 'echo never', depends_on: check}
            """)
        self.assertEqual(rc, 1)
        self.assertEqual([(t["task"], t["state"]) for t in run["tasks"]],
                         [("check", "failed"), ("train", "upstream_failed")])
        self.assertEqual(run["tasks"][0]["outputs"], {"valid": "false"})
        # No drift with require_drift: retraining is skipped and the run still succeeds.
        rc, run = self.run_pl("""\
            name: nodrift
            tasks:
              drift: {kind: drift, with: {reference: ref.csv, current: same.csv, require_drift: 'true'}}
              retrain: {run: 'echo never', depends_on: drift}
            """)
        self.assertEqual(rc, 0)
        self.assertEqual([t["state"] for t in run["tasks"]], ["skipped", "skipped"])
        # Drift with require_drift: retraining runs; with fail_on_drift the check fails.
        rc, run = self.run_pl("""\
            name: drifted
            tasks:
              drift: {kind: drift, with: {reference: ref.csv, current: shifted.csv, require_drift: 'true'}}
              retrain: {run: 'echo retrain', depends_on: drift}
              gate: {kind: drift, with: {reference: ref.csv, current: shifted.csv, fail_on_drift: 'true'}}
            """)
        self.assertEqual(rc, 1)
        tasks = {t["task"]: t for t in run["tasks"]}
        self.assertEqual(tasks["retrain"]["state"], "success")
        self.assertEqual(tasks["drift"]["outputs"]["dataset_drift"], "true")
        self.assertEqual(tasks["drift"]["outputs"]["drifted_columns"], "x")
        self.assertEqual(tasks["gate"]["state"], "failed")
        # A promotion refused by the registry's gates fails the task.
        rc, run = self.run_pl("""\
            name: refused
            tasks:
              promote: {kind: promote, with: {model: fraud, version: '4', to: production}}
            """, env=self.env(STANDIN_REFUSE="production"))
        self.assertEqual(rc, 1)
        self.assertEqual(run["tasks"][0]["state"], "failed")
        self.assertEqual(run["tasks"][0]["message"], "exit code 1")

    def test_train_nests_under_the_pipeline_run(self):
        rc, run = self.run_pl("""\
            name: nested
            tasks:
              train:
                kind: train
                with: {run_name: fit}
                run: [/usr/bin/python3, -c, 'import os; open("ids.txt", "w").write(os.environ["MLFLOW_RUN_ID"] + " " + os.environ["KILN_PARENT_RUN_ID"] + " " + os.environ["MLFLOW_TRACKING_URI"])']
            """, tracking=self.srv.base)
        self.assertEqual(rc, 0)
        with open(os.path.join(self.dir, "ids.txt")) as f:
            child, parent, uri = f.read().split()
        self.assertEqual(uri, self.srv.base)
        self.assertEqual(run["tasks"][0]["outputs"], {"run_id": child, "kiln.tracking_run": child})
        self.assertEqual(run["tracking_run_id"], parent)
        self.assertEqual(sorted((l["kind"], l["ref"]) for l in run["links"]),
                         sorted([("tracking_run", parent), ("tracking_run", child)]))
        c = self.srv.ok("GET", "/runs/get", {"run_id": child})["run"]
        tags = {t["key"]: t["value"] for t in c["data"]["tags"]}
        self.assertEqual(tags["mlflow.parentRunId"], parent)
        self.assertEqual(tags["kiln.task"], "train")
        self.assertEqual(c["info"]["run_name"], "fit")
        self.assertEqual(c["info"]["status"], "FINISHED")
        p = self.srv.ok("GET", "/runs/get", {"run_id": parent})["run"]
        self.assertEqual(p["info"]["status"], "FINISHED")
        self.assertEqual({t["key"]: t["value"] for t in p["data"]["tags"]}["kiln.pipeline_run_id"],
                         run["run_id"])

    def test_register_links_the_model_version(self):
        status, _ = self.srv.api("POST", "/registered-models/create", {"name": "probe"})
        if status in (200, 400):
            registry = self.srv.base  # the real registry has landed
            stand_in = None
        else:
            stand_in = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RegistryStandIn)
            threading.Thread(target=stand_in.serve_forever, daemon=True).start()
            registry = f"http://127.0.0.1:{stand_in.server_address[1]}"
        try:
            rc, run = self.run_pl("""\
                name: reg
                tasks:
                  register:
                    kind: register
                    with: {model: churn, run_id: 0123456789abcdef, artifact_path: model}
                  use:
                    run: 'echo serving {{ tasks.register.outputs.model_uri }}'
                    depends_on: register
                """, env=self.env(KILN_TRACKING_URI=registry))
        finally:
            if stand_in:
                stand_in.shutdown()
                stand_in.server_close()
        self.assertEqual(rc, 0, run)
        out = run["tasks"][0]["outputs"]
        self.assertEqual(out["model"], "churn")
        self.assertEqual(out["model_uri"], f"models:/churn/{out['version']}")
        self.assertIn(("model_version", f"churn/{out['version']}"),
                      [(l["kind"], l["ref"]) for l in run["links"]])


if __name__ == "__main__":
    main()
