"""MLflow 3 logged models end to end: the request sequence of `mlflow.<flavor>.log_model`
(mlflow-api.md §5), every logged-model endpoint, and its validation and error codes."""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KilnServer, main  # noqa: E402
from artifactlib import PROXY, create_run, get_bytes, list_dir, put_bytes  # noqa: E402

MLMODEL = b"""artifact_path: null
flavors:
  python_function:
    loader_module: mlflow.sklearn
  sklearn:
    pickled_model: model.pkl
model_id: M
"""


class LoggedModels(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()
        cls.exp = cls.srv.ok("POST", "/experiments/create", {"name": "lm"})["experiment_id"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def err(self, method, endpoint, payload, status, code):
        got_status, body = self.srv.api(method, endpoint, payload)
        self.assertEqual((got_status, body and body.get("error_code")), (status, code), body)
        return body["message"]

    def create(self, **fields):
        payload = {"experiment_id": self.exp, **fields}
        return self.srv.ok("POST", "/logged-models", payload)["model"]

    def test_log_model_sequence(self):
        run_id, _ = create_run(self.srv, self.exp)
        # 1. create the logged model (PENDING) with params and tags.
        model = self.create(name="model", source_run_id=run_id, model_type="classifier",
                            params=[{"key": "alpha", "value": "0.5"},
                                    {"key": "max_iter", "value": "100"}],
                            tags=[{"key": "mlflow.source.type", "value": "LOCAL"}])
        info = model["info"]
        model_id = info["model_id"]
        self.assertRegex(model_id, r"^m-[0-9a-f]{32}$")
        self.assertEqual(info["status"], "LOGGED_MODEL_PENDING")
        self.assertEqual(info["experiment_id"], self.exp)
        self.assertEqual(info["name"], "model")
        self.assertEqual(info["source_run_id"], run_id)
        self.assertEqual(info["model_type"], "classifier")
        self.assertEqual(info["artifact_uri"],
                         f"mlflow-artifacts:/{self.exp}/models/{model_id}/artifacts")
        self.assertEqual(info["creation_timestamp_ms"], info["last_updated_timestamp_ms"])
        self.assertEqual(info["tags"], [{"key": "mlflow.source.type", "value": "LOCAL"}])
        self.assertEqual(model["data"]["params"], [{"key": "alpha", "value": "0.5"},
                                                   {"key": "max_iter", "value": "100"}])
        # 2. link it to the run.
        self.srv.ok("POST", "/runs/outputs",
                    {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]})
        # 3. get it back to learn artifact_uri, 4. upload every file through the proxy.
        got = self.srv.ok("GET", f"/logged-models/{model_id}")["model"]
        self.assertEqual(got, model)
        rel = got["info"]["artifact_uri"][len("mlflow-artifacts:/"):]
        files = {"MLmodel": MLMODEL.replace(b"M", model_id.encode()),
                 "model.pkl": os.urandom(4096), "conda.yaml": b"name: env\n",
                 "requirements.txt": b"scikit-learn\n", "python_env.yaml": b"python: 3.11\n"}
        for name, data in files.items():
            self.assertEqual(put_bytes(self.srv, f"{rel}/{name}", data).status, 200)
        # 5. finalize READY.
        final = self.srv.ok("PATCH", f"/logged-models/{model_id}",
                            {"model_id": model_id, "status": "LOGGED_MODEL_READY"})["model"]
        self.assertEqual(final["info"]["status"], "LOGGED_MODEL_READY")
        self.assertGreaterEqual(final["info"]["last_updated_timestamp_ms"],
                                info["creation_timestamp_ms"])
        got = self.srv.ok("GET", f"/logged-models/{model_id}")["model"]
        self.assertEqual(got["info"]["status"], "LOGGED_MODEL_READY")
        # The files are where the model says, byte for byte.
        for name, data in files.items():
            self.assertEqual(get_bytes(self.srv, f"{rel}/{name}").body, data)
        self.assertEqual(sorted(f["path"] for f in list_dir(self.srv, rel)[1]["files"]),
                         sorted(files))
        # 6. the run records the model as an input and logs a metric against it.
        self.srv.ok("POST", "/runs/log-inputs", {"run_id": run_id,
                                                 "models": [{"model_id": model_id}]})
        self.srv.ok("POST", "/runs/log-metric", {"run_id": run_id, "key": "accuracy",
                                                 "value": 0.93, "timestamp": 1700000000000,
                                                 "step": 3, "model_id": model_id,
                                                 "dataset_name": "val", "dataset_digest": "d1"})
        metrics = self.srv.ok("GET", f"/logged-models/{model_id}")["model"]["data"]["metrics"]
        self.assertEqual(metrics, [{"key": "accuracy", "value": 0.93,
                                    "timestamp": 1700000000000, "step": 3,
                                    "dataset_name": "val", "dataset_digest": "d1",
                                    "model_id": model_id, "run_id": run_id}])
        found = self.srv.ok("POST", "/logged-models/search", {
            "experiment_ids": [self.exp], "filter": "metrics.accuracy > 0.9",
            "datasets": [{"dataset_name": "val", "dataset_digest": "d1"}]})["models"]
        self.assertEqual([m["info"]["model_id"] for m in found], [model_id])
        run = self.srv.ok("GET", "/runs/get", {"run_id": run_id})["run"]
        self.assertIn({"model_id": model_id}, run["inputs"].get("model_inputs", []))
        # Registration tags the model afterwards (PATCH tags answers {}).
        self.assertEqual(self.srv.ok("PATCH", f"/logged-models/{model_id}/tags",
                                     {"tags": [{"key": "mlflow.modelVersions",
                                                "value": '[{"name": "m", "version": "1"}]'}]}),
                         {})
        tags = self.srv.ok("GET", f"/logged-models/{model_id}")["model"]["info"]["tags"]
        self.assertIn({"key": "mlflow.modelVersions", "value": '[{"name": "m", "version": "1"}]'},
                      tags)
        # The UI's directory listing of the model's artifacts.
        data = self.srv.ok("GET", f"/logged-models/{model_id}/artifacts/directories")
        self.assertEqual(data["root_uri"], got["info"]["artifact_uri"])
        self.assertEqual(sorted(f["path"] for f in data["files"]), sorted(files))
        self.assertTrue(all(f["is_dir"] is False and f["file_size"] == len(files[f["path"]])
                            for f in data["files"]))

    def test_random_name_and_upload_failed(self):
        model = self.create()
        self.assertRegex(model["info"]["name"], r"^[a-z]+-[a-z]+-\d+$")
        model_id = model["info"]["model_id"]
        final = self.srv.ok("PATCH", f"/logged-models/{model_id}",
                            {"model_id": model_id, "status": "LOGGED_MODEL_UPLOAD_FAILED"})
        self.assertEqual(final["model"]["info"]["status"], "LOGGED_MODEL_UPLOAD_FAILED")
        # Status as its enum number (proto-JSON also allows it).
        final = self.srv.ok("PATCH", f"/logged-models/{model_id}", {"status": 2})
        self.assertEqual(final["model"]["info"]["status"], "LOGGED_MODEL_READY")
        # An empty name also means a random one.
        self.assertRegex(self.create(name="")["info"]["name"], r"^[a-z]+-[a-z]+-\d+$")
        # Ids are unique.
        ids = {self.create()["info"]["model_id"] for _ in range(20)}
        self.assertEqual(len(ids), 20)

    def test_params_tags_delete(self):
        model_id = self.create(params=[{"key": "a", "value": "1"}])["info"]["model_id"]
        ep = f"/logged-models/{model_id}"
        self.assertEqual(self.srv.ok("POST", ep + "/params",
                                     {"model_id": model_id,
                                      "params": [{"key": "a", "value": "1"},
                                                 {"key": "b", "value": "2"}]}), {})
        msg = self.err("POST", ep + "/params", {"params": [{"key": "a", "value": "9"},
                                                          {"key": "c", "value": "3"}]},
                       400, "INVALID_PARAMETER_VALUE")
        self.assertIn("Changing param values is not allowed", msg)
        params = self.srv.ok("GET", ep)["model"]["data"]["params"]
        # The rejected call wrote nothing (not even "c").
        self.assertEqual(params, [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
        self.srv.ok("PATCH", ep + "/tags", {"tags": [{"key": "t1", "value": "x"},
                                                    {"key": "dotted.key/with slash", "value": "y"}]})
        self.srv.ok("PATCH", ep + "/tags", {"tags": [{"key": "t1", "value": "x2"}]})
        tags = self.srv.ok("GET", ep)["model"]["info"]["tags"]
        self.assertEqual(tags, [{"key": "dotted.key/with slash", "value": "y"},
                                {"key": "t1", "value": "x2"}])
        r = self.srv.request("DELETE", "/api/2.0/mlflow" + ep + "/tags/dotted.key%2Fwith%20slash")
        self.assertEqual((r.status, json.loads(r.body)), (200, {}))
        self.assertEqual(self.srv.ok("GET", ep)["model"]["info"]["tags"],
                         [{"key": "t1", "value": "x2"}])
        r = self.srv.request("DELETE", "/api/2.0/mlflow" + ep + "/tags/nope")
        self.assertEqual((r.status, json.loads(r.body)["error_code"]),
                         (404, "RESOURCE_DOES_NOT_EXIST"))
        # Delete: gone from get and every other call; deleting again is 404.
        self.assertEqual(self.srv.ok("DELETE", ep, {"model_id": model_id}), {})
        for method, sub, payload in [("GET", "", None), ("DELETE", "", {}),
                                     ("PATCH", "", {"status": "LOGGED_MODEL_READY"}),
                                     ("PATCH", "/tags", {"tags": [{"key": "k", "value": "v"}]}),
                                     ("POST", "/params", {"params": [{"key": "k", "value": "v"}]}),
                                     ("GET", "/artifacts/directories", None)]:
            msg = self.err(method, ep + sub, payload, 404, "RESOURCE_DOES_NOT_EXIST")
            self.assertIn(model_id, msg)

    def test_validation(self):
        for bad in ["a/b", "a:b", "a.b", "50%", 'say "hi"', "it's"]:
            msg = self.err("POST", "/logged-models", {"experiment_id": self.exp, "name": bad},
                           400, "INVALID_PARAMETER_VALUE")
            self.assertIn("Invalid model name", msg)
        msg = self.err("POST", "/logged-models", {"name": "x"}, 400, "INVALID_PARAMETER_VALUE")
        self.assertIn("experiment_id", msg)
        self.err("POST", "/logged-models", {"experiment_id": "abc"}, 400, "INVALID_PARAMETER_VALUE")
        self.err("POST", "/logged-models", {"experiment_id": "987654"}, 404,
                 "RESOURCE_DOES_NOT_EXIST")
        self.err("POST", "/logged-models", {"experiment_id": self.exp, "params": [{"value": "1"}]},
                 400, "INVALID_PARAMETER_VALUE")
        self.err("POST", "/logged-models", {"experiment_id": self.exp, "tags": "nope"},
                 400, "INVALID_PARAMETER_VALUE")
        self.err("POST", "/logged-models",
                 {"experiment_id": self.exp, "params": [{"key": "p", "value": "x" * 6001}]},
                 400, "INVALID_PARAMETER_VALUE")
        model_id = self.create()["info"]["model_id"]
        for status in [None, "", "BOGUS", "LOGGED_MODEL_PENDING", 7, True]:
            payload = {} if status is None else {"status": status}
            self.err("PATCH", f"/logged-models/{model_id}", payload, 400,
                     "INVALID_PARAMETER_VALUE")
        self.err("PATCH", f"/logged-models/{model_id}",
                 {"model_id": "m-" + "0" * 32, "status": "LOGGED_MODEL_READY"}, 400,
                 "INVALID_PARAMETER_VALUE")
        # Still pending: nothing above changed it.
        self.assertEqual(self.srv.ok("GET", f"/logged-models/{model_id}")["model"]["info"]
                         ["status"], "LOGGED_MODEL_PENDING")
        self.err("GET", "/logged-models/m-" + "f" * 32, None, 404, "RESOURCE_DOES_NOT_EXIST")
        status, body = self.srv.api("GET", f"/logged-models/{model_id}/artifacts/directories",
                                    {"artifact_directory_path": "../../x"})
        self.assertEqual((status, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))
        # A body that is not JSON, or not sent as JSON.
        r = self.srv.request("POST", "/api/2.0/mlflow/logged-models", body=b"{nope",
                             headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400)
        r = self.srv.request("POST", "/api/2.0/mlflow/logged-models",
                             body=json.dumps({"experiment_id": self.exp}),
                             headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 400)

    def test_deleted_experiment_refuses_new_models(self):
        exp = self.srv.ok("POST", "/experiments/create", {"name": "lm-deleted"})["experiment_id"]
        self.srv.ok("POST", "/experiments/delete", {"experiment_id": exp})
        msg = self.err("POST", "/logged-models", {"experiment_id": exp}, 400,
                       "INVALID_PARAMETER_VALUE")
        self.assertIn("active", msg)


class LoggedModelSearch(unittest.TestCase):
    """POST /logged-models/search: filters (attributes, params, tags, metrics with datasets),
    structured order_by, page tokens, and the lookup `register_model("runs:/R/model")` does."""

    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()
        srv = cls.srv
        cls.a = srv.ok("POST", "/experiments/create", {"name": "search-a"})["experiment_id"]
        cls.b = srv.ok("POST", "/experiments/create", {"name": "search-b"})["experiment_id"]

        def make(exp, name, **kw):
            return srv.ok("POST", "/logged-models", {"experiment_id": exp, "name": name,
                                                     **kw})["model"]["info"]

        cls.alpha = make(cls.a, "alpha", model_type="clf", params=[{"key": "lr", "value": "0.1"}],
                         tags=[{"key": "team", "value": "x"}])
        cls.beta = make(cls.a, "beta", params=[{"key": "lr", "value": "0.2"}])
        cls.gamma = make(cls.a, "gamma")
        cls.delta = make(cls.b, "delta")
        cls.gone = make(cls.a, "alpha-deleted")
        srv.ok("PATCH", f"/logged-models/{cls.gamma['model_id']}", {"status": "LOGGED_MODEL_READY"})
        srv.ok("DELETE", f"/logged-models/{cls.gone['model_id']}")
        # Metrics reach models through log-metric with a model_id, as the client logs them.
        run_id, _ = create_run(srv, cls.a)
        rows = [(cls.alpha, "acc", 0.9, 1, "ds1", "d1"),
                (cls.alpha, "acc", 0.95, 2, None, None),
                (cls.beta, "acc", 0.7, 1, "ds2", "d2"),
                (cls.gamma, "acc", "NaN", 1, None, None),
                (cls.gamma, "loss", 1.0, 1, None, None)]
        for m, key, value, ts, dn, dd in rows:
            payload = {"run_id": run_id, "key": key, "value": value, "timestamp": ts, "step": 0,
                       "model_id": m["model_id"]}
            if dn is not None:
                payload.update(dataset_name=dn, dataset_digest=dd)
            srv.ok("POST", "/runs/log-metric", payload)

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def search(self, **payload):
        payload.setdefault("experiment_ids", [self.a])
        return self.srv.ok("POST", "/logged-models/search", payload)

    def names(self, **payload):
        return [m["info"]["name"] for m in self.search(**payload).get("models", [])]

    def bad(self, **payload):
        payload.setdefault("experiment_ids", [self.a])
        status, body = self.srv.api("POST", "/logged-models/search", payload)
        self.assertEqual((status, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"), body)
        return body["message"]

    def test_default_order_and_experiments(self):
        models = [self.alpha, self.beta, self.gamma]
        expect = [m["name"] for m in sorted(models, key=lambda m: (-m["creation_timestamp_ms"],
                                                                   m["model_id"]))]
        self.assertEqual(self.names(), expect)
        self.assertEqual(sorted(self.names(experiment_ids=[self.a, self.b])),
                         ["alpha", "beta", "delta", "gamma"])
        self.assertEqual(self.names(experiment_ids=[self.b]), ["delta"])
        self.assertEqual(self.srv.ok("POST", "/logged-models/search",
                                     {"experiment_ids": ["424242"]}), {})
        # Full entities, with data.
        alpha = [m for m in self.search()["models"] if m["info"]["name"] == "alpha"][0]
        self.assertEqual(alpha["data"]["params"], [{"key": "lr", "value": "0.1"}])
        self.assertEqual(len(alpha["data"]["metrics"]), 2)

    def test_filters(self):
        cases = {
            "name = 'alpha'": ["alpha"],
            "name LIKE 'a%'": ["alpha"],
            "name ILIKE 'A%'": ["alpha"],
            "name != 'alpha'": ["beta", "gamma"],
            "name IN ('alpha', 'gamma')": ["alpha", "gamma"],
            "attributes.model_type = 'clf'": ["alpha"],
            f"model_id = '{self.beta['model_id']}'": ["beta"],
            "params.lr = '0.2'": ["beta"],
            "params.lr LIKE '0.%'": ["alpha", "beta"],
            "tags.team = 'x'": ["alpha"],
            "metrics.acc > 0.8": ["alpha"],
            "metrics.acc >= 0.7 AND params.lr = '0.2'": ["beta"],
            "metrics.acc != 0.5": ["alpha", "beta", "gamma"],
            "metrics.loss = 1": ["gamma"],
            "status = 'LOGGED_MODEL_READY'": ["gamma"],
            "status = 'READY'": ["gamma"],
            "status != 'READY'": ["alpha", "beta"],
            "status IN ('PENDING')": ["alpha", "beta"],
            "creation_timestamp >= 0": ["alpha", "beta", "gamma"],
            f"creation_time > {self.gamma['creation_timestamp_ms'] + 60000}": [],
            "name = 'alpha-deleted'": [],
        }
        for flt, expect in cases.items():
            self.assertEqual(sorted(self.names(filter=flt)), expect, flt)

    def test_datasets_restrict_metric_filters(self):
        self.assertEqual(self.names(filter="metrics.acc > 0.5",
                                    datasets=[{"dataset_name": "ds2"}]), ["beta"])
        self.assertEqual(self.names(filter="metrics.acc > 0.5",
                                    datasets=[{"dataset_name": "ds1", "dataset_digest": "d1"}]),
                         ["alpha"])
        self.assertEqual(self.names(filter="metrics.acc > 0.5",
                                    datasets=[{"dataset_name": "ds1", "dataset_digest": "zz"}]),
                         [])
        self.assertEqual(sorted(self.names(filter="metrics.acc > 0.5",
                                           datasets=[{"dataset_name": "ds1"},
                                                     {"dataset_name": "ds2"}])),
                         ["alpha", "beta"])
        self.assertIn("dataset_name", self.bad(datasets=[{"dataset_digest": "d1"}]))

    def test_order_by(self):
        self.assertEqual(self.names(order_by=[{"field_name": "metrics.acc", "ascending": False}]),
                         ["alpha", "beta", "gamma"])  # latest acc: 0.95, 0.7, NaN last
        self.assertEqual(self.names(order_by=[{"field_name": "metrics.acc", "ascending": True}]),
                         ["beta", "alpha", "gamma"])
        self.assertEqual(self.names(order_by=[{"field_name": "metrics.acc", "ascending": False,
                                               "dataset_name": "ds1"}])[0], "alpha")
        self.assertEqual(self.names(order_by=[{"field_name": "name"}]), ["alpha", "beta", "gamma"])
        self.assertEqual(self.names(order_by=[{"field_name": "name", "ascending": False}]),
                         ["gamma", "beta", "alpha"])
        # model_type is only set on alpha: models without it come last.
        self.assertEqual(self.names(order_by=[{"field_name": "model_type", "ascending": False}])[0],
                         "alpha")
        self.assertIn("order_by", self.bad(order_by=[{"field_name": "bogus"}]))
        self.bad(order_by=[{"ascending": True}])
        self.bad(order_by=["name"])

    def test_pages(self):
        first = self.search(max_results=2, order_by=[{"field_name": "name"}])
        self.assertEqual([m["info"]["name"] for m in first["models"]], ["alpha", "beta"])
        token = first["next_page_token"]
        second = self.search(max_results=2, order_by=[{"field_name": "name"}], page_token=token)
        self.assertEqual([m["info"]["name"] for m in second["models"]], ["gamma"])
        self.assertNotIn("next_page_token", second)
        # A token only works for the search that made it; garbage is refused.
        self.assertIn("different search", self.bad(max_results=2, page_token=token,
                                                   order_by=[{"field_name": "name",
                                                              "ascending": False}]))
        self.bad(page_token="not-a-token")
        self.bad(page_token="eyJvZmZzZXQiOiAtMX0=")  # {"offset": -1}
        # Exactly one full page: no token pointing at an empty page.
        full = self.search(max_results=3)
        self.assertEqual(len(full["models"]), 3)
        self.assertNotIn("next_page_token", full)
        self.assertEqual(len(self.search(max_results=0)["models"]), 3)  # 0 = default (50)

    def test_errors(self):
        status, body = self.srv.api("POST", "/logged-models/search", {})
        self.assertEqual((status, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))
        self.assertIn("experiment_ids", body["message"])
        for flt in ["name = ", "name = 'a' OR name = 'b'", "bogus = 'x'", "metrics.acc = 'x'",
                    "params.lr > 1", "(name = 'a')", "datasets.name = 'x'"]:
            self.bad(filter=flt)
        self.bad(max_results=-1)
        self.bad(max_results=50001)
        self.bad(experiment_ids=["abc"])

    def test_register_model_lookup(self):
        # register_model("runs:/R/model") without an MLmodel: the client searches by name.
        data = self.srv.ok("POST", "/logged-models/search",
                           {"experiment_ids": [self.a], "filter": "name = 'beta'"})
        self.assertEqual([m["info"]["model_id"] for m in data["models"]], [self.beta["model_id"]])


if __name__ == "__main__":
    main()
