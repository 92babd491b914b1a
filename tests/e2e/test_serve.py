"""`kiln serve` on model folders, as a real process: both protocols answer what scikit-learn
predicts (classifier labels and probabilities, regressor values, string categories through a
pipeline), CSV bodies, every request shape of MLflow's scoring protocol, bad requests getting
4xx that name the field and never hurting the server, body limits, SIGHUP reloads, start-up
failures, and /metrics accepted by promtool."""
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import main  # noqa: E402
from servelib import (Serve, breast_cancer, export, have_promtool, iris, metric_value,  # noqa: E402
                      persistent_conn, promtool_check, run_cli, split_payload)

TOL = 1e-9


class ServeFolders(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        cls.tmp = tempfile.mkdtemp(prefix="kiln-serve-")
        X, y, names = iris()
        cls.X, cls.y, cls.names = X, y, names
        cls.gb = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X, y)
        export(cls.gb, os.path.join(cls.tmp, "iris"), names, cls.tmp)
        Xb, yb, bnames = breast_cancer()
        cls.Xb, cls.yb, cls.bnames = Xb, yb, bnames
        cls.lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(Xb, yb)
        export(cls.lr, os.path.join(cls.tmp, "cancer"), bnames, cls.tmp)
        cls.ridge = Ridge(alpha=0.5).fit(X[:, :3], X[:, 3])
        export(cls.ridge, os.path.join(cls.tmp, "petal"), names[:3], cls.tmp)
        cls.srv = Serve(os.path.join(cls.tmp, "iris"), os.path.join(cls.tmp, "cancer"),
                        os.path.join(cls.tmp, "petal"), extra=["--max-body-mb", "1"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_every_mlflow_json_shape(self):
        X, names = self.X[::7], self.names
        want = self.gb.predict(X).tolist()
        shapes = [
            split_payload(X, names),
            {"dataframe_split": {"columns": names[::-1], "data": X[:, ::-1].tolist(),
                                 "index": list(range(len(X)))}},
            {"dataframe_records": [dict(zip(names, row)) for row in X.tolist()]},
            {"instances": X.tolist()},
            {"instances": [dict(zip(names, row)) for row in X.tolist()]},
            {"inputs": X.tolist()},
            {"inputs": {n: X[:, i].tolist() for i, n in enumerate(names)}, "params": {"a": 1}},
        ]
        for payload in shapes:
            status, body = self.srv.invocations(payload)
            self.assertEqual(status, 200, (payload, body))
            self.assertEqual(body, {"predictions": want}, payload)
        # A single row given column by column.
        status, body = self.srv.invocations({"inputs": dict(zip(names, X[0].tolist()))})
        self.assertEqual((status, body), (200, {"predictions": want[:1]}))
        # Extra columns are dropped, as MLflow's schema enforcement does.
        rec = [dict(zip(names, row), extra="ignored") for row in X.tolist()]
        self.assertEqual(self.srv.invocations({"dataframe_records": rec}),
                         (200, {"predictions": want}))

    def test_csv_and_content_types(self):
        X, names = self.Xb[::11], self.bnames
        csv = ",".join(names) + "\n" + "\n".join(",".join(repr(v) for v in r) for r in X) + "\n"
        want = self.lr.predict(X).tolist()
        for ct in ("text/csv", "text/csv; charset=utf-8", "TEXT/CSV;charset=UTF-8"):
            r = self.srv.request("POST", "/invocations?model=cancer", body=csv,
                                 headers={"Content-Type": ct})
            self.assertEqual((r.status, json.loads(r.body)), (200, {"predictions": want}), ct)
        for ct, frag in (("text/plain", "only supports the following content types"),
                         ("application/json; charset=latin-1", "only supports UTF-8"),
                         ("application/json; format=pandas-split", "Unrecognized content type")):
            r = self.srv.request("POST", "/invocations", body="{}", headers={"Content-Type": ct})
            self.assertEqual(r.status, 415, ct)
            self.assertIn(frag, r.body.decode())
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        # A CSV cell that is not a number names the line and the column.
        bad = "sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,2,x,4\n"
        r = self.srv.request("POST", "/invocations", body=bad, headers={"Content-Type": "text/csv"})
        self.assertEqual(r.status, 400)
        self.assertIn("line 3, column 'petal_length'", r.json()["message"])

    def test_probabilities_and_oip(self):
        X, names = self.X[::5], self.names
        proba = self.gb.predict_proba(X)
        payload = {"id": "req-1", "inputs": [{"name": "input-0", "shape": list(X.shape),
                                              "datatype": "FP64", "data": X.tolist()}]}
        status, body = self.srv.infer("iris", payload)
        self.assertEqual(status, 200, body)
        self.assertEqual((body["model_name"], body["model_version"], body["id"]),
                         ("iris", "1", "req-1"))
        out = {o["name"]: o for o in body["outputs"]}
        self.assertEqual(out["label"]["datatype"], "INT64")
        self.assertEqual(out["label"]["shape"], [len(X)])
        self.assertEqual(out["label"]["data"], self.gb.predict(X).tolist())
        self.assertEqual(out["probabilities"]["shape"], [len(X), 3])
        np.testing.assert_allclose(np.reshape(out["probabilities"]["data"], (-1, 3)), proba,
                                   atol=TOL)
        # One tensor per input (FP32 and nested [N, 1]), flat data, only the probabilities.
        per_input = {"inputs": [{"name": n, "shape": [len(X), 1] if i == 3 else [len(X)],
                                 "datatype": "FP32" if i % 2 else "FP64",
                                 "data": X[:, i].tolist()} for i, n in enumerate(names)],
                     "outputs": [{"name": "probabilities"}]}
        status, body = self.srv.infer("iris", per_input, version="1")
        self.assertEqual(status, 200, body)
        self.assertEqual([o["name"] for o in body["outputs"]], ["probabilities"])
        self.assertNotIn("id", body)
        np.testing.assert_allclose(np.reshape(body["outputs"][0]["data"], (-1, 3)), proba,
                                   atol=TOL)
        # Regressor: `prediction`.
        status, body = self.srv.infer("petal", {"inputs": [
            {"name": "x", "shape": [len(X), 3], "datatype": "FP64", "data": X[:, :3].tolist()}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["outputs"][0]["name"], "prediction")
        np.testing.assert_allclose(body["outputs"][0]["data"], self.ridge.predict(X[:, :3]),
                                   atol=TOL)
        # MLflow answers regressors with values.
        r = self.srv.request("POST", "/invocations?model=petal",
                             body=json.dumps({"inputs": X[:, :3].tolist()}),
                             headers={"Content-Type": "application/json"})
        np.testing.assert_allclose(r.json()["predictions"], self.ridge.predict(X[:, :3]),
                                   atol=TOL)

    def test_oip_metadata_and_health(self):
        self.assertEqual(self.srv.request("GET", "/v2/health/live").json(), {"live": True})
        self.assertEqual(self.srv.request("GET", "/v2/health/ready").json(), {"ready": True})
        meta = self.srv.request("GET", "/v2").json()
        self.assertEqual(meta["name"], "kiln")
        m = self.srv.request("GET", "/v2/models/iris").json()
        self.assertEqual(m["name"], "iris")
        self.assertEqual(m["versions"], ["1"])
        self.assertEqual([i["name"] for i in m["inputs"]], self.names)
        self.assertEqual({o["name"]: o["shape"] for o in m["outputs"]},
                         {"label": [-1], "probabilities": [-1, 3]})
        self.assertEqual(self.srv.request("GET", "/v2/models/iris/versions/1").status, 200)
        self.assertEqual(self.srv.request("GET", "/v2/models/iris/ready").json(),
                         {"name": "iris", "ready": True})
        r = self.srv.request("GET", "/v2/models/iris/versions/7/ready")
        self.assertEqual(r.status, 404)
        self.assertIn("version '7' is not served", r.json()["error"])
        r = self.srv.request("GET", "/v2/models/nope")
        self.assertEqual(r.status, 404)
        self.assertEqual(list(r.json()), ["error"])
        self.assertEqual(self.srv.request("GET", "/ping").status, 200)
        self.assertEqual(self.srv.request("GET", "/health").status, 200)
        self.assertEqual(self.srv.request("GET", "/version").status, 200)

    def test_bad_requests_name_the_field(self):
        names = self.names
        cases = [
            ({"inputs": [[1, 2, 3]]}, "inputs[0]: 3 values, expected 4"),
            ({"inputs": [[1, 2, "x", 4]]}, "inputs[0][2]: input 'petal_length' (double)"),
            ({"inputs": [[1, 2, None, 4]]}, "input 'petal_length': missing value (NaN)"),
            ({"inputs": [[1, 2, True, 4]]}, "got a boolean"),
            ({"dataframe_split": {"columns": names[:3], "data": [[1, 2, 3]]}},
             "missing input 'petal_width'"),
            ({"dataframe_split": {"columns": names + names[:1], "data": [[1, 2, 3, 4, 5]]}},
             "column 'sepal_length' appears twice"),
            ({"dataframe_split": {"columns": names}}, "missing field 'data'"),
            ({"dataframe_records": [dict(zip(names[:3], [1, 2, 3]))]},
             "dataframe_records[0]: missing input 'petal_width'"),
            ({"inputs": {"sepal_length": [1, 2], "sepal_width": [1], "petal_length": [1, 2],
                         "petal_width": [1, 2]}}, "values, but other columns have"),
            ({"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}, "exactly one of"),
            ({}, "exactly one of"),
            ([1, 2], "Received a list"),
        ]
        for payload, frag in cases:
            status, body = self.srv.invocations(payload)
            self.assertEqual(status, 400, payload)
            self.assertIn(frag, body["message"], payload)
        for text, frag in (("{\"inputs\": [[1, 2, 3, 4]", "malformed JSON at line 1"),
                           ("{\"inputs\": [[1e999999, 2, 3, 4]]}x", "unexpected text"),
                           ("\xff", "malformed JSON"), ("", "empty body")):
            status, body = self.srv.post_json("/invocations", text)
            self.assertEqual(status, 400, text)
            self.assertIn(frag, json.loads(body)["message"], text)
        oip = [
            ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3]}]},
             "inputs[0].data: 3 values, but shape [1, 4] needs 4"),
            ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT8",
                          "data": [1, 2, 3, 999]}]}, "999 is not a valid INT8"),
            ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES",
                          "data": ["a", "b", "c", "d"]}]}, "expects numbers, not BYTES"),
            ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP99", "data": [1]}]},
             "unknown datatype 'FP99'"),
            ({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1] * 6}]},
             "neither an input of the model nor a [N, 4] matrix"),
            ({"inputs": [{"name": "sepal_length", "shape": [1], "datatype": "FP64",
                          "data": [1]}]}, "missing input 'sepal_width'"),
            ({"inputs": []}, "no input tensors"),
            ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}],
              "outputs": [{"name": "prediction"}]}, "unknown output 'prediction'"),
            ({"id": 5, "inputs": []}, "id: expected a string"),
            ({"outputs": []}, "missing field 'inputs'"),
        ]
        for payload, frag in oip:
            status, body = self.srv.infer("iris", payload)
            self.assertEqual(status, 400, payload)
            self.assertEqual(list(body), ["error"])
            self.assertIn(frag, body["error"], payload)
        # A body over --max-body-mb is refused with 413 (OIP shape on /v2 routes).
        big = json.dumps({"inputs": [[1.0, 2.0, 3.0, 4.0]] * 60000})
        status, body = self.srv.post_json("/invocations", big)
        self.assertEqual(status, 413)
        status, body = self.srv.post_json("/v2/models/iris/infer", big)
        self.assertEqual(status, 413)
        self.assertIn("error", json.loads(body))
        # And the server still answers, quickly.
        t0 = time.time()
        self.assertEqual(self.srv.invocations({"inputs": [[1, 2, 3, 4]]})[0], 200)
        self.assertLess(time.time() - t0, 2)

    def test_hostile_bodies_do_not_hurt(self):
        rng = np.random.default_rng(1)
        conn = persistent_conn(self.srv.port)
        samples = [b"{" * 100000, b"[" * 5000, b"{\"inputs\": " + b"[" * 5000,
                   b"{\"inputs\": [[" + b"1," * 200000 + b"1]]}",
                   b"{\"dataframe_split\": {\"data\": [[1,2,3,4]], \"columns\": [\"a\\ud800\"]}}",
                   b"{\"inputs\": [[\"\\u0000\", 2, 3, 4]]}"]
        samples += [bytes(rng.integers(0, 256, size=int(rng.integers(1, 400))).tolist())
                    for _ in range(200)]
        for body in samples:
            for path in ("/invocations", "/v2/models/iris/infer"):
                status, _ = self.srv.post_json(path, body, conn=conn)
                self.assertIn(status, (400, 413), body[:60])
        conn.close()
        self.assertEqual(self.srv.invocations({"inputs": [[5.1, 3.5, 1.4, 0.2]]}),
                         (200, {"predictions": [0]}))

    @unittest.skipUnless(have_promtool(), "promtool is not installed")
    def test_metrics_with_promtool(self):
        for _ in range(3):
            self.srv.invocations({"inputs": self.X[:10].tolist()})
        self.srv.invocations({"inputs": [[1]]})
        text = self.srv.metrics()
        ok, out = promtool_check(text)
        self.assertTrue(ok, out)
        self.assertGreaterEqual(metric_value(text, "kiln_serve_requests_total", model="iris",
                                             version="1", protocol="mlflow", code="200"), 3)
        self.assertGreaterEqual(metric_value(text, "kiln_serve_requests_total", model="iris",
                                             code="400"), 1)
        self.assertGreaterEqual(metric_value(text, "kiln_serve_request_duration_seconds_count",
                                             model="iris", protocol="mlflow"), 4)
        self.assertIn('kiln_serve_request_duration_seconds_bucket{model="iris",version="1",'
                      'protocol="mlflow",le="0.0005"}', text)
        self.assertGreaterEqual(metric_value(text, "kiln_serve_prediction_score_count",
                                             model="iris"), 30)
        self.assertGreater(metric_value(text, "kiln_serve_model_load_seconds", model="iris"), 0)
        self.assertGreater(metric_value(text, "kiln_serve_model_warmup_seconds", model="iris"), 0)
        self.assertEqual(metric_value(text, "kiln_serve_model_info", model="iris", version="1",
                                      flavor="kiln", engine="trees", task="classifier"), 1)
        self.assertEqual(metric_value(text, "kiln_serve_requests_in_flight", model="iris"), 0)
        self.assertEqual(metric_value(text, "kiln_serve_ready"), 1)


class ServeLifecycle(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kiln-serve-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_sighup_reloads_under_load(self):
        from sklearn.linear_model import LogisticRegression
        X, y, names = iris()
        a = LogisticRegression(max_iter=300).fit(X, y)
        b = LogisticRegression(max_iter=300, C=0.01).fit(X, y)
        live = os.path.join(self.tmp, "live")
        export(a, live, names, self.tmp)
        export(b, os.path.join(self.tmp, "next"), names, self.tmp)
        with Serve(live) as srv:
            payload = {"inputs": [{"name": "x", "shape": [len(X), 4], "datatype": "FP64",
                                   "data": X.tolist()}], "outputs": [{"name": "probabilities"}]}
            status, body = srv.infer("live", payload)
            self.assertEqual((status, body["model_version"]), (200, "1"))
            np.testing.assert_allclose(np.reshape(body["outputs"][0]["data"], (-1, 3)),
                                       a.predict_proba(X), atol=TOL)
            failures, stop = [], threading.Event()

            def load():
                conn = persistent_conn(srv.port)
                while not stop.is_set():
                    s, _ = srv.post_json("/invocations", {"inputs": X[:3].tolist()}, conn=conn)
                    if s != 200:
                        failures.append(s)
                conn.close()
            threads = [threading.Thread(target=load) for _ in range(3)]
            for t in threads:
                t.start()
            shutil.rmtree(live)
            shutil.copytree(os.path.join(self.tmp, "next"), live)
            srv.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 20
            while time.time() < deadline:
                status, body = srv.infer("live", payload)
                if body.get("model_version") == "2":
                    break
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join()
            self.assertEqual(failures, [])
            self.assertEqual(body["model_version"], "2")
            np.testing.assert_allclose(np.reshape(body["outputs"][0]["data"], (-1, 3)),
                                       b.predict_proba(X), atol=TOL)
            text = srv.metrics()
            self.assertEqual(metric_value(text, "kiln_serve_model_reloads_total", model="live",
                                          result="swapped"), 2)
            self.assertIsNone(metric_value(text, "kiln_serve_model_info", version="1"))
            self.assertEqual(metric_value(text, "kiln_serve_model_info", version="2"), 1)
            # A reload that fails keeps serving the current version.
            with open(os.path.join(live, "model.json"), "w") as f:
                f.write("{\"format\": \"kiln-model\"")
            srv.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 20
            while time.time() < deadline and metric_value(
                    srv.metrics(), "kiln_serve_model_reloads_total", result="failed") != 1:
                time.sleep(0.05)
            self.assertEqual(metric_value(srv.metrics(), "kiln_serve_model_reloads_total",
                                          result="failed"), 1)
            status, body = srv.infer("live", payload)
            self.assertEqual((status, body["model_version"]), (200, "2"))
            self.assertIn("reload failed", srv.stderr())

    def test_start_failures(self):
        cases = [
            ((os.path.join(self.tmp, "missing"),), "missing"),
            (("sqlite:///x.db",), "store URI"),
            (("models:/",), "models:/"),
            ((self.tmp, "--name", "a/b"), "may not contain"),
            ((self.tmp, self.tmp), "two models are named"),
            (("--port", "99999", self.tmp), "out of range"),
            ((), "at least one model URI"),
        ]
        for args, frag in cases:
            rc, out, err = run_cli("serve", "--port", "0", *args, timeout=60)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn(frag, err, args)
        rc, out, _ = run_cli("serve", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("/invocations", out)


if __name__ == "__main__":
    main()
