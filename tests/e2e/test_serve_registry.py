"""`kiln serve models:/NAME@production` against a real `kiln server`: models trained with
scikit-learn, exported with tools/export_sklearn.py, logged as a run's artifacts and as an
MLflow 3 logged model, registered, and served through the registry; the served model
follows the alias through the event feed, and moving the alias under load swaps versions
with zero failed requests; a pinned version and a runs:/ URI do not move; a version whose
files are broken is refused and the current one keeps serving."""
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KilnServer, main  # noqa: E402
from servelib import (Serve, export, have_promtool, iris, log_logged_model,  # noqa: E402
                      log_run_model, metric_value, persistent_conn, promtool_check, register,
                      set_alias, upload_dir)

TOL = 1e-9


class ServeRegistry(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        cls.tmp = tempfile.mkdtemp(prefix="kiln-serve-reg-")
        cls.X, cls.y, cls.names = iris()
        cls.models = [LogisticRegression(max_iter=400).fit(cls.X, cls.y),
                      RandomForestClassifier(n_estimators=15, random_state=3).fit(cls.X, cls.y),
                      LogisticRegression(max_iter=400, C=0.05).fit(cls.X, cls.y)]
        cls.dirs = [export(m, os.path.join(cls.tmp, f"m{i}"), cls.names, cls.tmp)
                    for i, m in enumerate(cls.models)]
        cls.server = KilnServer().start()
        srv = cls.server
        run1 = log_run_model(srv, cls.dirs[0])
        model_id, run2 = log_logged_model(srv, cls.dirs[1])
        run3 = log_run_model(srv, cls.dirs[2])
        cls.v1 = register(srv, "flowers", f"runs:/{run1}/model", run1)
        cls.v2 = register(srv, "flowers", f"models:/{model_id}", run2)
        cls.v3 = register(srv, "flowers", f"runs:/{run3}/model", run3)
        cls.run1 = run1
        set_alias(srv, "flowers", "production", cls.v1)

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def proba(self, srv, version=None):
        payload = {"inputs": [{"name": "x", "shape": list(self.X.shape), "datatype": "FP64",
                               "data": self.X.tolist()}]}
        status, body = srv.infer("flowers", payload, version=version)
        self.assertEqual(status, 200, body)
        out = {o["name"]: o["data"] for o in body["outputs"]}
        return body["model_version"], np.reshape(out["probabilities"], (-1, 3)), out["label"]

    def wait_version(self, srv, version, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = srv.request("GET", "/v2/models/flowers")
            if r.status == 200 and r.json()["versions"] == [str(version)]:
                return
            time.sleep(0.02)
        raise AssertionError(f"version {version} not served after {timeout}s")

    def test_alias_follow_and_hot_swap_under_load(self):
        set_alias(self.server, "flowers", "production", self.v1)
        with Serve("models:/flowers@production", tracking=self.server.base,
                   extra=["--workers", "2"]) as srv:
            version, proba, labels = self.proba(srv)
            self.assertEqual(version, str(self.v1))
            np.testing.assert_allclose(proba, self.models[0].predict_proba(self.X), atol=TOL)
            self.assertEqual(labels, self.models[0].predict(self.X).tolist())
            status, body = srv.invocations({"dataframe_split": {"columns": self.names,
                                                                "data": self.X.tolist()}})
            self.assertEqual(body, {"predictions": self.models[0].predict(self.X).tolist()})

            # Load: keep-alive clients hammering both protocols while the alias moves.
            stop = threading.Event()
            results = {"ok": 0, "bad": [], "versions": set()}
            lock = threading.Lock()
            row = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                               "data": self.X[0].tolist()}]}

            def client(i):
                conn = persistent_conn(srv.port)
                ok, bad, seen = 0, [], set()
                while not stop.is_set():
                    try:
                        if i % 2:
                            s, b = srv.post_json("/invocations", {"inputs": [self.X[0].tolist()]},
                                                 conn=conn)
                        else:
                            s, b = srv.post_json("/v2/models/flowers/infer", row, conn=conn)
                            if s == 200:
                                seen.add(b.split(b'"model_version":"')[1].split(b'"')[0])
                    except OSError as e:
                        s = repr(e)
                        conn.close()
                        conn = persistent_conn(srv.port)
                    if s == 200:
                        ok += 1
                    else:
                        bad.append(s)
                conn.close()
                with lock:
                    results["ok"] += ok
                    results["bad"] += bad
                    results["versions"] |= seen

            threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.3)
            t0 = time.time()
            for v in (self.v2, self.v3, self.v1, self.v2):
                set_alias(self.server, "flowers", "production", v)
                self.wait_version(srv, v)
                time.sleep(0.3)
            swap_s = time.time() - t0
            stop.set()
            for t in threads:
                t.join()
            self.assertEqual(results["bad"], [], "failed requests during the swaps")
            self.assertGreater(results["ok"], 200)
            self.assertEqual(results["versions"],
                             {str(v).encode() for v in (self.v1, self.v2, self.v3)})
            self.assertLess(swap_s, 30)

            version, proba, _ = self.proba(srv)
            self.assertEqual(version, str(self.v2))
            np.testing.assert_allclose(proba, self.models[1].predict_proba(self.X), atol=TOL)
            text = srv.metrics()
            self.assertEqual(metric_value(text, "kiln_serve_model_reloads_total",
                                          model="flowers", result="swapped"), 5)
            self.assertEqual(metric_value(text, "kiln_serve_model_info", model="flowers",
                                          version=str(self.v2)), 1)
            for v in (self.v1, self.v3):
                self.assertIsNone(metric_value(text, "kiln_serve_model_info", version=str(v)))
            # Every request was counted, by version.
            total = sum(metric_value(text, "kiln_serve_requests_total", model="flowers",
                                     version=str(v), protocol=p, code="200") or 0
                        for v in (self.v1, self.v2, self.v3) for p in ("mlflow", "oip"))
            self.assertGreaterEqual(total, results["ok"])
            if have_promtool():
                ok, out = promtool_check(text)
                self.assertTrue(ok, out)
            self.assertIn(f"model 'flowers' version {self.v3} ready", srv.stderr())

    def test_broken_version_is_refused(self):
        set_alias(self.server, "flowers", "production", self.v1)
        bad_dir = os.path.join(self.tmp, "broken")
        shutil.copytree(self.dirs[0], bad_dir)
        with open(os.path.join(bad_dir, "model.json"), "w") as f:
            f.write("{\"format\": \"kiln-model\", \"format_version\": 1, \"task\": \"regression\"}")
        run = log_run_model(self.server, bad_dir)
        vbad = register(self.server, "flowers", f"runs:/{run}/model", run)
        with Serve("models:/flowers@production", tracking=self.server.base) as srv:
            self.assertEqual(self.proba(srv)[0], str(self.v1))
            set_alias(self.server, "flowers", "production", vbad)
            deadline = time.time() + 20
            while time.time() < deadline and metric_value(
                    srv.metrics(), "kiln_serve_model_reloads_total", result="failed") != 1:
                time.sleep(0.05)
            self.assertEqual(metric_value(srv.metrics(), "kiln_serve_model_reloads_total",
                                          result="failed"), 1)
            self.assertEqual(self.proba(srv)[0], str(self.v1))
            self.assertIn("reload failed, still serving version", srv.stderr())
            # Moving on to a good version works again.
            set_alias(self.server, "flowers", "production", self.v3)
            self.wait_version(srv, self.v3)
        set_alias(self.server, "flowers", "production", self.v1)

    def test_pinned_versions_and_runs(self):
        set_alias(self.server, "flowers", "production", self.v1)
        with Serve("models:/flowers/2", f"runs:/{self.run1}/model", "--name", "pinned",
                   "--name", "fromrun", tracking=self.server.base) as srv:
            status, body = srv.infer("pinned", {"inputs": [
                {"name": "x", "shape": [3, 4], "datatype": "FP64", "data": self.X[:3].tolist()}]})
            self.assertEqual((status, body["model_version"]), (200, "2"))
            self.assertEqual(body["outputs"][0]["data"], self.models[1].predict(self.X[:3]).tolist())
            status, body = srv.infer("fromrun", {"inputs": [
                {"name": "x", "shape": [3, 4], "datatype": "FP64", "data": self.X[:3].tolist()}]})
            self.assertEqual((status, body["model_version"]), (200, "1"))
            # /invocations answers with the first model.
            self.assertEqual(srv.invocations({"inputs": self.X[:3].tolist()})[1],
                             {"predictions": self.models[1].predict(self.X[:3]).tolist()})
            set_alias(self.server, "flowers", "production", self.v3)
            time.sleep(1)
            self.assertEqual(srv.request("GET", "/v2/models/pinned").json()["versions"], ["2"])
        set_alias(self.server, "flowers", "production", self.v1)

    def test_tracking_server_down_at_start(self):
        with KilnServer() as other:
            base = other.base
        rc_srv = Serve("models:/flowers@production", tracking=base)
        with self.assertRaises(AssertionError) as ctx:
            rc_srv.start(timeout=20)
        self.assertIn("exited with 2", str(ctx.exception))
        rc_srv.stop()
        shutil.rmtree(rc_srv.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
