"""The registry's whole flow over HTTP and the CLI, against the real server: register from runs
(tracked through the real tracking API, model files through the real artifact proxy),
evaluate through the native endpoint, promote through dev -> staging -> canary -> production
under a YAML policy, a refused promotion with its report (exit 1, HTTP 422), rollback,
history, lineage, compare, download, the event feed (with a long-poll), a webhook, governed
aliases, and concurrent promotions over real HTTP (exactly one wins, the rest get 409)."""
import hashlib
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KilnServer, main  # noqa: E402

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
KILN = "/api/kiln/v1"

POLICY = """# promotion policy of 'fraud'
environments:
  dev: {}
  staging:
    dataset: holdout
    metrics:
      - roc_auc >= 0.90
    tags:
      validation_status: passed
  canary:
    dataset: holdout
    compare:
      - metric: roc_auc
        greater_is_better: true
        min_absolute_change: 0.0
  production:
    dataset: holdout
    pr_regression:
      tolerance: 0.02
      per_class: true
"""

BAD_POLICY = """environments:
  dev: {}
  staging:
    dataset: holdout
    metrics:
      - roc_auc >= high
"""


def evaluation(auc, p, r, p_fraud, r_fraud, digest="d41d8cd9"):
    return {"dataset_name": "holdout", "dataset_digest": digest, "threshold": 0.5,
            "metrics": {"roc_auc": auc, "precision": p, "recall": r, "log_loss": 0.3},
            "per_class": [{"label": "fraud", "precision": p_fraud, "recall": r_fraud,
                           "support": 40},
                          {"label": "ok", "precision": 0.99, "recall": 0.99, "support": 960}],
            "pr_curve": [{"threshold": 0.1, "precision": 0.4, "recall": 0.99},
                         {"threshold": 0.5, "precision": p, "recall": r},
                         {"threshold": 0.9, "precision": 0.99, "recall": 0.2}]}


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        Receiver.bodies.append(json.loads(self.rfile.read(n)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class RegistryFlow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()
        cls.tmp = tempfile.mkdtemp(prefix="kiln-registry-e2e-")
        cls.env = {"KILN_USER": "alice"}
        cls.exp = cls.srv.ok("POST", "/experiments/create", {"name": "fraud"})["experiment_id"]
        cls.parent = cls.run_with_model(None, b"parent")
        cls.runs = [cls.run_with_model(cls.parent[0], f"model v{i}".encode()) for i in (1, 2, 3)]

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_with_model(cls, parent, content):
        """A finished run with params, metrics, tags, a dataset input and model files."""
        info = cls.srv.ok("POST", "/runs/create", {"experiment_id": cls.exp, "run_name": "train",
                                                   "start_time": int(time.time() * 1000)})
        run = info["run"]["info"]
        rid = run["run_id"]
        tags = [{"key": "mlflow.source.git.commit", "value": "1a2b3c4"},
                {"key": "preprocessing", "value": "standard-scaler"},
                {"key": "dataset.version", "value": "2026-05"}]
        if parent:
            tags.append({"key": "mlflow.parentRunId", "value": parent})
        cls.srv.ok("POST", "/runs/log-batch", {
            "run_id": rid,
            "params": [{"key": "lr", "value": "0.1"}, {"key": "depth", "value": "6"}],
            "metrics": [{"key": "train_auc", "value": 0.97, "timestamp": 1, "step": 10}],
            "tags": tags})
        cls.srv.ok("POST", "/runs/log-inputs", {"run_id": rid, "datasets": [{
            "tags": [{"key": "mlflow.data.context", "value": "training"}],
            "dataset": {"name": "credit", "digest": "9f8e7d6c", "source_type": "local",
                        "source": "data/credit.csv"}}]})
        base = run["artifact_uri"][len("mlflow-artifacts:/"):]
        files = {"model/MLmodel": b"flavors:\n  kiln: {}\n", "model/model.json": content,
                 "model/sub/extra.bin": hashlib.sha256(content).digest()}
        for path, data in files.items():
            r = cls.srv.request("PUT", f"{PROXY}/{base}/{path}", body=data,
                                headers={"Content-Type": "application/octet-stream"})
            assert r.status == 200, r.body
        cls.srv.ok("POST", "/runs/update", {"run_id": rid, "status": "FINISHED",
                                            "end_time": int(time.time() * 1000)})
        return rid, files

    def cli(self, *args):
        return self.srv.cli(*args, env=self.env)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def kiln_api(self, method, endpoint, payload=None):
        return self.srv.api(method, endpoint, payload, prefix=KILN)

    def promote_cli(self, version, env, expect_exit=0):
        code, out, err = self.cli("models", "promote", "fraud", str(version), "--to", env,
                                  "--reason", f"v{version} to {env}")
        self.assertEqual(code, expect_exit, out + err)
        return out, err

    def test_flow(self):
        # Register three versions from their runs (the CLI creates the model the first time).
        for i, (rid, _) in enumerate(self.runs, start=1):
            code, out, err = self.cli("models", "register", f"runs:/{rid}/model", "fraud")
            self.assertEqual(code, 0, err)
            self.assertIn(f"registered 'fraud' version {i}", out)
        # A malformed policy is refused with the YAML line at fault; nothing is stored.
        code, out, err = self.cli("models", "policy", "set", "fraud",
                                  self.write("bad.yaml", BAD_POLICY))
        self.assertEqual(code, 2)
        self.assertIn("policy line 6, column 9", err)
        self.assertIn("bad.yaml", err)
        status, pol = self.kiln_api("GET", "/models/policy", {"name": "fraud"})
        self.assertIsNone(pol["yaml"])
        code, out, err = self.cli("models", "policy", "set", "fraud",
                                  self.write("policy.yaml", POLICY))
        self.assertEqual(code, 0, err)
        self.assertIn("dev=- staging=- canary=- production=-", out)

        # Evaluations through the native endpoint (what `kiln evaluate` posts) and the CLI.
        for v, ev in ((1, evaluation(0.92, 0.80, 0.70, 0.60, 0.50)),
                      (2, evaluation(0.95, 0.81, 0.71, 0.70, 0.40))):
            status, body = self.kiln_api("POST", "/models/evaluations",
                                         {"name": "fraud", "version": str(v), **ev})
            self.assertEqual(status, 200, body)
            self.assertFalse(body["replaced"])
        code, out, err = self.cli("models", "evaluations", "add", "fraud", "3",
                                  self.write("ev3.json", json.dumps(
                                      evaluation(0.96, 0.82, 0.72, 0.62, 0.51))))
        self.assertEqual(code, 0, err)
        status, body = self.kiln_api("POST", "/models/evaluations",
                                     {"name": "fraud", "version": "9", **evaluation(1, 1, 1, 1, 1)})
        self.assertEqual((status, body["error_code"]), (404, "RESOURCE_DOES_NOT_EXIST"))
        for v in (1, 2, 3):
            self.srv.ok("POST", "/model-versions/set-tag", {"name": "fraud", "version": str(v),
                                                            "key": "validation_status",
                                                            "value": "passed"})

        # Version 1 through all four environments.
        for env in ("dev", "staging", "canary", "production"):
            out, _ = self.promote_cli(1, env)
            self.assertIn(f"promoted fraud v1 to {env}", out)
        self.assertIn("nothing to compare against", out)
        # Version 2 passes dev..canary but its recall on class 'fraud' regressed: refused.
        for env in ("dev", "staging", "canary"):
            self.promote_cli(2, env)
        out, err = self.promote_cli(2, "production", expect_exit=1)
        self.assertIn("REFUSED", out)
        self.assertIn("recall[class=fraud]", out)
        self.assertIn("FAIL", out)
        self.assertIn("dropped from 0.5 to 0.4", out)
        self.assertIn("refused", err)
        # The same refusal over REST: 422 PROMOTION_REFUSED with the gate report; nothing moved.
        status, body = self.kiln_api("POST", "/models/promote",
                                     {"name": "fraud", "version": "2", "environment": "production"})
        self.assertEqual((status, body["error_code"]), (422, "PROMOTION_REFUSED"))
        self.assertFalse(body["moved"])
        failed = [g for g in body["report"]["gates"] if not g["passed"]]
        self.assertEqual([g["subject"] for g in failed], ["recall[class=fraud]"])
        self.assertEqual((failed[0]["observed"], failed[0]["baseline"]), (0.4, 0.5))
        mv = self.srv.ok("GET", "/registered-models/alias",
                         {"name": "fraud", "alias": "production"})["model_version"]
        self.assertEqual(mv["version"], "1")
        # An environment alias of a governed model cannot be moved around the gates.
        status, body = self.srv.api("POST", "/registered-models/alias",
                                    {"name": "fraud", "alias": "production", "version": "2"})
        self.assertEqual((status, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))
        self.assertIn("governed", body["message"])

        # Version 3 passes, over REST; then the emergency path takes production back.
        for env in ("dev", "staging", "canary", "production"):
            status, body = self.kiln_api("POST", "/models/promote",
                                         {"name": "fraud", "version": "3", "environment": env,
                                          "reason": "better recall", "user": "bob"})
            self.assertEqual(status, 200, body)
            self.assertTrue(body["moved"])
        self.assertEqual(body["from_version"], "1")
        code, out, err = self.cli("models", "rollback", "fraud", "--env", "production",
                                  "--reason", "incident 42")
        self.assertEqual(code, 0, err)
        self.assertIn("production: v3 -> v1", out)
        # --to works even for a version the gates refused.
        code, out, err = self.cli("models", "rollback", "fraud", "--env", "production", "--to",
                                  "2", "--reason", "hotfix")
        self.assertEqual(code, 0, err)
        self.assertIn("v1 -> v2", out)
        code, out, err = self.cli("models", "rollback", "fraud", "--env", "nowhere")
        self.assertEqual(code, 2)
        self.assertIn("'nowhere' is not an environment", err)

        # History: every move, newest first, with who, why and the gate report.
        code, out, err = self.cli("models", "history", "fraud", "--env", "production", "--json")
        self.assertEqual(code, 0, err)
        moves = json.loads(out)
        self.assertEqual([(m["action"], m["from_version"], m["to_version"]) for m in moves],
                         [("rollback", "1", "2"), ("rollback", "3", "1"), ("promote", "1", "3"),
                          ("refused", "1", "2"), ("refused", "1", "2"), ("promote", None, "1")])
        self.assertEqual(moves[0]["user"], "alice")
        self.assertEqual(moves[0]["reason"], "hotfix")
        self.assertEqual(moves[2]["user"], "bob")
        self.assertTrue(moves[2]["report"]["passed"])
        self.assertFalse(moves[3]["report"]["passed"])
        code, out, err = self.cli("models", "history", "fraud")
        self.assertEqual(code, 0, err)
        self.assertIn("refused", out)
        self.assertIn("1 of", out)

        # Lineage of what is in production (v2 now): run, params, metrics, tags, data, parent.
        code, out, err = self.cli("models", "lineage", "models:/fraud@production", "--json")
        self.assertEqual(code, 0, err)
        lin = json.loads(out)
        rid = self.runs[1][0]
        self.assertEqual(lin["model_version"]["version"], "2")
        self.assertEqual(lin["run"]["run_id"], rid)
        self.assertEqual(lin["run"]["params"], {"depth": "6", "lr": "0.1"})
        self.assertEqual(lin["run"]["metrics"], {"train_auc": 0.97})
        self.assertEqual(lin["run"]["tags"]["mlflow.source.git.commit"], "1a2b3c4")
        self.assertEqual(lin["run"]["tags"]["preprocessing"], "standard-scaler")
        self.assertEqual(lin["run"]["datasets"][0]["digest"], "9f8e7d6c")
        self.assertEqual(lin["run"]["datasets"][0]["context"], "training")
        self.assertEqual(lin["parent_run"]["run_id"], self.parent[0])
        self.assertEqual([e["dataset_digest"] for e in lin["evaluations"]], ["d41d8cd9"])
        self.assertEqual(lin["evaluations"][0]["metrics"]["roc_auc"], 0.95)
        code, out, err = self.cli("models", "lineage", "models:/fraud@production")
        self.assertEqual(code, 0, err)
        for text in ("git 1a2b3c4", "standard-scaler", "training: credit@9f8e7d6c", "lr = 0.1",
                     "parent run", "holdout@d41d8cd9"):
            self.assertIn(text, out)

        # Compare v1 and v2 on the same dataset digest.
        code, out, err = self.cli("models", "compare", "fraud", "1", "2")
        self.assertEqual(code, 0, err)
        self.assertIn("fraud v1 vs v2 on holdout@d41d8cd9", out)
        self.assertIn("+0.03", out)  # roc_auc 0.92 -> 0.95
        self.assertIn("-0.1", out)   # recall of class fraud 0.5 -> 0.4

        # Download the production model's files through the artifact proxy.
        dest = os.path.join(self.tmp, "prod-model")
        code, out, err = self.cli("models", "download", "models:/fraud@production", dest)
        self.assertEqual(code, 0, err)
        self.assertIn("downloaded 3 files", out)
        for path, data in self.runs[1][1].items():
            with open(os.path.join(dest, path[len("model/"):]), "rb") as f:
                self.assertEqual(f.read(), data)
        code, out, err = self.cli("models", "download", "models:/fraud@nope", dest + "2")
        self.assertEqual(code, 2)
        self.assertIn("alias nope not found", err)

        # The event feed holds every kind of event, in order.
        status, feed = self.kiln_api("GET", "/events", {"after": 0, "max_results": 1000})
        types = [e["type"] for e in feed["events"]]
        for t in ("registered_model.created", "model_version.created", "policy.updated",
                  "evaluation.created", "alias.moved", "promotion.refused", "alias.rolled_back"):
            self.assertIn(t, types)
        ids = [e["id"] for e in feed["events"]]
        self.assertEqual(ids, sorted(ids))
        status, feed = self.kiln_api("GET", "/events", {"after": 0, "model": "fraud",
                                                        "types": "alias.rolled_back"})
        self.assertEqual([(e["data"]["from_version"], e["data"]["to_version"])
                          for e in feed["events"]], [("3", "1"), ("1", "2")])

    def test_long_poll_and_webhook(self):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
            code, out, err = self.cli("models", "webhooks", "add", url, "--events",
                                      "registered_model.created,alias.moved")
            self.assertEqual(code, 0, err)
            status, feed = self.kiln_api("GET", "/events", {"after": 0, "max_results": 1000})
            last = feed["last_id"]
            got = {}

            def poll():
                t0 = time.time()
                got["answer"] = self.kiln_api("GET", "/events", {"after": last, "wait": 20})
                got["seconds"] = time.time() - t0

            t = threading.Thread(target=poll)
            t.start()
            time.sleep(0.5)
            self.assertTrue(t.is_alive())  # parked, waiting for an event
            self.srv.ok("POST", "/registered-models/create", {"name": "polled"})
            t.join(10)
            self.assertFalse(t.is_alive())
            status, body = got["answer"]
            self.assertEqual(status, 200)
            self.assertEqual([e["type"] for e in body["events"]], ["registered_model.created"])
            self.assertLess(got["seconds"], 5)
            # The webhook got the event (JSON POST).
            for _ in range(200):
                if any(b.get("model") == "polled" for b in Receiver.bodies):
                    break
                time.sleep(0.05)
            hook = [b for b in Receiver.bodies if b.get("model") == "polled"]
            self.assertEqual(len(hook), 1)
            self.assertEqual(hook[0]["type"], "registered_model.created")
            code, out, err = self.cli("models", "webhooks", "list")
            self.assertEqual(code, 0, err)
            self.assertIn(url, out)
            # A wait that sees nothing answers empty after the wait.
            t0 = time.time()
            status, body = self.kiln_api("GET", "/events", {"after": 10 ** 9, "wait": 1})
            self.assertEqual((status, body["events"]), (200, []))
            self.assertGreaterEqual(time.time() - t0, 0.9)
            status, body = self.kiln_api("GET", "/events", {"after": 0, "wait": 99})
            self.assertEqual(status, 400)
        finally:
            srv.shutdown()
            srv.server_close()

    def race(self, payloads):
        """Sends the promotions at the same moment over separate connections."""
        barrier = threading.Barrier(len(payloads))
        results = [None] * len(payloads)

        def go(i):
            barrier.wait()
            results[i] = self.kiln_api("POST", "/models/promote", payloads[i])

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(payloads))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return results

    def test_concurrent_promotions(self):
        self.srv.ok("POST", "/registered-models/create", {"name": "race"})
        for _ in range(6):
            self.srv.ok("POST", "/model-versions/create",
                        {"name": "race", "source": "mlflow-artifacts:/x"})
        # Every client saw 'dev' empty: exactly one wins, the others conflict.
        results = self.race([{"name": "race", "version": str(v), "environment": "dev",
                              "expected_version": "none"} for v in range(1, 7)])
        wins = [r for r in results if r[0] == 200]
        losers = [r for r in results if r[0] != 200]
        self.assertEqual(len(wins), 1, results)
        for status, body in losers:
            self.assertEqual((status, body["error_code"]), (409, "RESOURCE_CONFLICT"))
            self.assertIn("nothing was changed", body["message"])
        winner = wins[0][1]["to_version"]
        mv = self.srv.ok("GET", "/registered-models/alias", {"name": "race", "alias": "dev"})
        self.assertEqual(mv["model_version"]["version"], winner)
        status, hist = self.kiln_api("GET", "/models/history", {"name": "race"})
        self.assertEqual(len(hist["moves"]), 1)
        # Without an expectation, each promotion is judged against what it read: every answer
        # is a move or a conflict, and the history holds exactly the moves that were answered.
        results = self.race([{"name": "race", "version": str(v), "environment": "dev"}
                             for v in range(1, 7)])
        moved = [r for r in results if r[0] == 200 and r[1]["moved"]]
        for status, body in results:
            self.assertIn(status, (200, 409), body)
        status, hist = self.kiln_api("GET", "/models/history", {"name": "race"})
        self.assertEqual(len(hist["moves"]), 1 + len(moved))
        final = self.srv.ok("GET", "/registered-models/alias", {"name": "race", "alias": "dev"})
        self.assertEqual(final["model_version"]["version"], hist["moves"][0]["to_version"])
        # The CLI sends what it saw as the expectation: a stale one conflicts (exit 2).
        code, out, err = self.srv.cli("models", "promote", "race", "1", "--to", "dev",
                                      "--expect", "none")
        self.assertEqual(code, 2)
        self.assertIn("holds version", err)


if __name__ == "__main__":
    main()
