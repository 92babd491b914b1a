"""MLflow 3 logged models end to end: the request sequence of `mlflow.<flavor>.log_model`
(mlflow-api.md §5), every logged-model endpoint, and its validation and error codes."""
import json
import os
import re
import sqlite3
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
        cls.srv.stop()

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
        # 2. link it to the run (the runs side; skipped while that endpoint is absent).
        status, body = self.srv.api("POST", "/runs/outputs",
                                    {"run_id": run_id, "models": [{"model_id": model_id,
                                                                   "step": 0}]})
        self.assertIn(status, (200, 404), body)
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
        status, body = self.srv.api("POST", "/experiments/delete", {"experiment_id": exp})
        if status != 200:
            # Until experiments/delete exists, mark it deleted in the store directly.
            db = sqlite3.connect(os.path.join(self.srv.dir, "kiln.db"), timeout=30)
            db.execute("UPDATE experiments SET lifecycle_stage = 'deleted' WHERE experiment_id = ?",
                       (int(exp),))
            db.commit()
            db.close()
        msg = self.err("POST", "/logged-models", {"experiment_id": exp}, 400,
                       "INVALID_PARAMETER_VALUE")
        self.assertIn("active", msg)


if __name__ == "__main__":
    main()
