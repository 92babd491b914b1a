"""MLflow tracking through the real server with the exact request shapes the MLflow 3.6 Python
client sends (shared/reference/mlflow-api.md §5): a whole training script, nested runs, the
client's search calls, datasets and models, experiments' lifecycle, and the UI's endpoints."""
import json
import math
import time
import unittest

from kilntest import KilnServer, main


def now_ms():
    return int(time.time() * 1000)


class TrainingScript(unittest.TestCase):
    """mlflow.set_experiment(E); with mlflow.start_run(run_name=...): log_param, log_params,
    log_metric x2, log_metrics, set_tag; end_run; then get_metric_history and search_runs."""

    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_whole_script(self):
        s = self.srv
        st, body = s.api("GET", "/experiments/get-by-name", {"experiment_name": "fraud"})
        self.assertEqual((st, body["error_code"]), (404, "RESOURCE_DOES_NOT_EXIST"))
        exp_id = s.ok("POST", "/experiments/create", {"name": "fraud"})["experiment_id"]
        self.assertTrue(exp_id.isdigit())
        exp = s.ok("GET", "/experiments/get", {"experiment_id": exp_id})["experiment"]
        self.assertEqual(exp["artifact_location"], f"mlflow-artifacts:/{exp_id}")
        self.assertEqual(exp["lifecycle_stage"], "active")

        t0 = now_ms()
        run = s.ok("POST", "/runs/create", {
            "experiment_id": exp_id, "user_id": "alice", "run_name": "baseline",
            "start_time": t0,
            "tags": [{"key": "mlflow.user", "value": "alice"},
                     {"key": "mlflow.source.name", "value": "train.py"},
                     {"key": "mlflow.source.type", "value": "LOCAL"},
                     {"key": "mlflow.runName", "value": "baseline"},
                     {"key": "mlflow.source.git.commit", "value": "abc123"}]})["run"]
        info = run["info"]
        rid = info["run_id"]
        self.assertEqual(info["run_uuid"], rid)
        self.assertRegex(rid, r"^[0-9a-f]{32}$")
        self.assertEqual((info["status"], info["lifecycle_stage"], info["run_name"]),
                         ("RUNNING", "active", "baseline"))
        self.assertEqual(info["artifact_uri"], f"mlflow-artifacts:/{exp_id}/{rid}/artifacts")
        self.assertEqual((info["experiment_id"], info["user_id"], info["start_time"]),
                         (exp_id, "alice", t0))
        self.assertNotIn("end_time", info)
        self.assertEqual(run["inputs"], {})

        s.ok("POST", "/runs/log-parameter", {"run_id": rid, "run_uuid": rid, "key": "lr",
                                              "value": "0.01"})
        s.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": [], "params": [
            {"key": "depth", "value": "6"}, {"key": "n_estimators", "value": "100"}],
            "tags": []})
        s.ok("POST", "/runs/log-metric", {"run_id": rid, "run_uuid": rid, "key": "acc",
                                           "value": 0.71, "timestamp": t0 + 1, "step": 0})
        s.ok("POST", "/runs/log-metric", {"run_id": rid, "run_uuid": rid, "key": "acc",
                                           "value": 0.83, "timestamp": t0 + 2, "step": 1})
        s.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": [
            {"key": "loss", "value": 0.5, "timestamp": t0 + 3, "step": 1},
            {"key": "auc", "value": "NaN", "timestamp": t0 + 3, "step": 1},
            {"key": "bound", "value": "Infinity", "timestamp": t0 + 3, "step": 1},
            {"key": "floor", "value": "-Infinity", "timestamp": t0 + 3, "step": 1}],
            "params": [], "tags": []})
        s.ok("POST", "/runs/set-tag", {"run_id": rid, "run_uuid": rid, "key": "stage",
                                        "value": "dev"})
        got = s.ok("GET", "/runs/get", {"run_uuid": rid, "run_id": rid})["run"]
        metrics = {m["key"]: m for m in got["data"]["metrics"]}
        self.assertEqual(metrics["acc"]["value"], 0.83)
        self.assertEqual(metrics["acc"]["step"], 1)
        self.assertEqual(metrics["auc"]["value"], "NaN")
        self.assertEqual(metrics["bound"]["value"], "Infinity")
        self.assertEqual(metrics["floor"]["value"], "-Infinity")
        params = {p["key"]: p["value"] for p in got["data"]["params"]}
        self.assertEqual(params, {"lr": "0.01", "depth": "6", "n_estimators": "100"})
        tags = {t["key"]: t["value"] for t in got["data"]["tags"]}
        self.assertEqual(tags["stage"], "dev")
        self.assertEqual(tags["mlflow.source.git.commit"], "abc123")

        t1 = now_ms()
        upd = s.ok("POST", "/runs/update", {"run_id": rid, "run_uuid": rid, "status": "FINISHED",
                                             "end_time": t1})["run_info"]
        self.assertEqual((upd["status"], upd["end_time"]), ("FINISHED", t1))

        # get_metric_history: the client always sends max_results=25000 and follows tokens.
        hist = s.ok("GET", "/metrics/get-history", {"run_uuid": rid, "metric_key": "acc",
                                                     "run_id": rid, "max_results": 25000})
        self.assertEqual([m["value"] for m in hist["metrics"]], [0.71, 0.83])
        self.assertNotIn("next_page_token", hist)

        # search_runs(experiment_names=["fraud"]) -> get-by-name + POST runs/search.
        exp = s.ok("GET", "/experiments/get-by-name", {"experiment_name": "fraud"})["experiment"]
        res = s.ok("POST", "/runs/search", {
            "experiment_ids": [exp["experiment_id"]],
            "filter": "metrics.acc > 0.5 and params.lr = '0.01'",
            "run_view_type": "ACTIVE_ONLY", "max_results": 100,
            "order_by": ["metrics.acc DESC"]})
        self.assertEqual([r["info"]["run_id"] for r in res["runs"]], [rid])
        self.assertNotIn("next_page_token", res)
        res = s.ok("POST", "/runs/search", {"experiment_ids": [exp_id],
                                             "filter": "metrics.acc > 0.9"})
        self.assertEqual(res, {})

    def test_metric_history_pages_and_absent_max_results(self):
        s = self.srv
        rid = s.ok("POST", "/runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
        metrics = [{"key": "x", "value": i, "timestamp": 100 + i, "step": i} for i in range(30)]
        s.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": metrics})
        all_ = s.ok("GET", "/metrics/get-history", {"run_id": rid, "metric_key": "x"})
        self.assertEqual(len(all_["metrics"]), 30)  # absent max_results means all
        seen, token = [], None
        while True:
            q = {"run_id": rid, "metric_key": "x", "max_results": 7}
            if token:
                q["page_token"] = token
            page = s.ok("GET", "/metrics/get-history", q)
            seen += [m["step"] for m in page["metrics"]]
            token = page.get("next_page_token")
            if not token:
                break
        self.assertEqual(seen, list(range(30)))
        st, body = s.api("GET", "/metrics/get-history", {"run_id": rid, "metric_key": "x",
                                                          "page_token": "%%%"})
        self.assertEqual((st, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))

    def test_nested_runs_and_parent_search(self):
        s = self.srv
        exp_id = s.ok("POST", "/experiments/create", {"name": "nested"})["experiment_id"]
        parent = s.ok("POST", "/runs/create", {"experiment_id": exp_id, "run_name": "sweep",
                                                "start_time": now_ms()})["run"]["info"]["run_id"]
        children = []
        for i, lr in enumerate(("0.1", "0.01", "0.001")):
            c = s.ok("POST", "/runs/create", {
                "experiment_id": exp_id, "start_time": now_ms() + i,
                "tags": [{"key": "mlflow.parentRunId", "value": parent}]})["run"]
            children.append(c["info"]["run_id"])
            self.assertRegex(c["info"]["run_name"], r"^[a-z]+-[a-z]+-\d+$")
            s.ok("POST", "/runs/log-batch", {
                "run_id": c["info"]["run_id"], "params": [{"key": "lr", "value": lr}],
                "metrics": [{"key": "val_loss", "value": 1.0 / (i + 1), "timestamp": 1,
                             "step": 0}]})
        res = s.ok("POST", "/runs/search", {
            "experiment_ids": [exp_id],
            "filter": f"tags.mlflow.parentRunId = '{parent}'",
            "order_by": ["metrics.`val_loss` ASC"]})
        self.assertEqual([r["info"]["run_id"] for r in res["runs"]], children[::-1])
        # The same search through GET with repeated query keys (the UI and curl users).
        st, res2 = s.api("GET", "/runs/search", {
            "experiment_ids": [exp_id], "filter": f"tags.mlflow.parentRunId = '{parent}'",
            "order_by": ["metrics.`val_loss` ASC"]})
        self.assertEqual(st, 200)
        self.assertEqual([r["info"]["run_id"] for r in res2["runs"]], children[::-1])

    def test_run_name_rules(self):
        s = self.srv
        st, body = s.api("POST", "/runs/create", {
            "experiment_id": "0", "run_name": "a",
            "tags": [{"key": "mlflow.runName", "value": "b"}]})
        self.assertEqual((st, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))
        rid = s.ok("POST", "/runs/create", {"experiment_id": "0", "run_name": "a"})["run"]
        rid = rid["info"]["run_id"]
        s.ok("POST", "/runs/set-tag", {"run_id": rid, "key": "mlflow.runName", "value": "c"})
        self.assertEqual(s.ok("GET", "/runs/get", {"run_id": rid})["run"]["info"]["run_name"],
                         "c")
        s.ok("POST", "/runs/update", {"run_id": rid, "run_name": "d"})
        run = s.ok("GET", "/runs/get", {"run_id": rid})["run"]
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        self.assertEqual((run["info"]["run_name"], tags["mlflow.runName"]), ("d", "d"))

    def test_datasets_models_and_outputs(self):
        s = self.srv
        exp_id = s.ok("POST", "/experiments/create", {"name": "with-data"})["experiment_id"]
        rid = s.ok("POST", "/runs/create", {"experiment_id": exp_id})["run"]["info"]["run_id"]
        dataset = {"name": "iris", "digest": "4a5b6c7d", "source_type": "local",
                   "source": json.dumps({"uri": "/data/iris.csv"}),
                   "schema": json.dumps({"mlflow_colspec": [{"type": "double", "name": "x"}]}),
                   "profile": json.dumps({"num_rows": 150})}
        s.ok("POST", "/runs/log-inputs", {"run_id": rid, "datasets": [
            {"tags": [{"key": "mlflow.data.context", "value": "training"}],
             "dataset": dataset}]})
        s.ok("POST", "/runs/log-inputs", {"run_id": rid, "models": [{"model_id": "m-0123"}]})
        s.ok("POST", "/runs/outputs", {"run_id": rid, "models": [{"model_id": "m-0123",
                                                                   "step": 0}]})
        s.ok("POST", "/runs/log-metric", {"run_id": rid, "key": "acc", "value": 0.9,
                                           "timestamp": 5, "step": 0, "model_id": "m-0123",
                                           "dataset_name": "iris", "dataset_digest": "4a5b6c7d"})
        run = s.ok("GET", "/runs/get", {"run_id": rid})["run"]
        di = run["inputs"]["dataset_inputs"]
        self.assertEqual(len(di), 1)
        self.assertEqual(di[0]["dataset"], dataset)
        self.assertEqual(di[0]["tags"], [{"key": "mlflow.data.context", "value": "training"}])
        self.assertEqual(run["inputs"]["model_inputs"], [{"model_id": "m-0123"}])
        self.assertEqual(run["outputs"]["model_outputs"], [{"model_id": "m-0123", "step": 0}])
        hist = s.ok("GET", "/metrics/get-history", {"run_id": rid, "metric_key": "acc"})
        self.assertEqual(hist["metrics"][0]["dataset_name"], "iris")
        self.assertEqual(hist["metrics"][0]["model_id"], "m-0123")
        res = s.ok("POST", "/runs/search", {"experiment_ids": [exp_id],
                                             "filter": "datasets.name = 'iris' and "
                                                       "datasets.context = 'training'"})
        self.assertEqual(len(res["runs"]), 1)

    def test_log_model_history_tag_mlflow2(self):
        s = self.srv
        rid = s.ok("POST", "/runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
        model = {"artifact_path": "model", "run_id": rid,
                 "utc_time_created": "2025-01-01 00:00:00.000000",
                 "flavors": {"python_function": {"loader_module": "mlflow.sklearn",
                                                 "env": {"conda": "conda.yaml"}},
                             "sklearn": {"pickled_model": "model.pkl", "config": {"k": 1}}},
                 "model_uuid": "abc", "mlflow_version": "2.9.2"}
        s.ok("POST", "/runs/log-model", {"run_id": rid, "model_json": json.dumps(model)})
        run = s.ok("GET", "/runs/get", {"run_id": rid})["run"]
        tag = {t["key"]: t["value"] for t in run["data"]["tags"]}["mlflow.log-model.history"]
        hist = json.loads(tag)
        self.assertEqual(len(hist), 1)
        self.assertEqual(hist[0]["artifact_path"], "model")
        self.assertNotIn("config", hist[0]["flavors"]["sklearn"])
        st, body = s.api("POST", "/runs/log-model", {"run_id": rid, "model_json": "{"})
        self.assertEqual((st, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))


class Experiments(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_lifecycle_and_cascade(self):
        s = self.srv
        exp_id = s.ok("POST", "/experiments/create", {
            "name": "churn", "tags": [{"key": "team", "value": "growth"}]})["experiment_id"]
        runs = [s.ok("POST", "/runs/create", {"experiment_id": exp_id})["run"]["info"]["run_id"]
                for _ in range(3)]
        s.ok("POST", "/runs/delete", {"run_id": runs[0]})
        time.sleep(0.01)
        s.ok("POST", "/experiments/update", {"experiment_id": exp_id, "new_name": "churn-v2"})
        s.ok("POST", "/experiments/set-experiment-tag", {"experiment_id": exp_id,
                                                          "key": "owner", "value": "bo"})
        s.ok("POST", "/experiments/delete-experiment-tag", {"experiment_id": exp_id,
                                                             "key": "team"})
        e = s.ok("GET", "/experiments/get", {"experiment_id": exp_id})["experiment"]
        self.assertEqual(e["name"], "churn-v2")
        self.assertEqual(e["tags"], [{"key": "owner", "value": "bo"}])
        s.ok("POST", "/experiments/delete", {"experiment_id": exp_id})
        stages = [s.ok("GET", "/runs/get", {"run_id": r})["run"]["info"]["lifecycle_stage"]
                  for r in runs]
        self.assertEqual(stages, ["deleted"] * 3)
        st, body = s.api("POST", "/runs/create", {"experiment_id": exp_id})
        self.assertEqual((st, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))
        st, body = s.api("POST", "/experiments/create", {"name": "churn-v2"})
        self.assertEqual((st, body["error_code"]), (400, "RESOURCE_ALREADY_EXISTS"))
        deleted = s.ok("POST", "/experiments/search", {"view_type": "DELETED_ONLY"})
        self.assertIn(exp_id, [x["experiment_id"] for x in deleted["experiments"]])
        s.ok("POST", "/experiments/restore", {"experiment_id": exp_id})
        stages = [s.ok("GET", "/runs/get", {"run_id": r})["run"]["info"]["lifecycle_stage"]
                  for r in runs]
        self.assertEqual(stages, ["deleted", "active", "active"])
        st, body = s.api("POST", "/experiments/delete", {"experiment_id": "0"})
        self.assertEqual((st, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))

    def test_search_filters_order_and_pages(self):
        s = self.srv
        ids = {}
        for name in ("srch-a", "srch-b", "srch-c", "srch-d", "srch-e"):
            ids[name] = s.ok("POST", "/experiments/create", {
                "name": name, "tags": [{"key": "kind", "value": name[-1]}]})["experiment_id"]
            time.sleep(0.002)
        res = s.ok("POST", "/experiments/search", {"filter": "name LIKE 'srch-%'",
                                                    "order_by": ["name DESC"]})
        self.assertEqual([e["name"] for e in res["experiments"]],
                         ["srch-e", "srch-d", "srch-c", "srch-b", "srch-a"])
        res = s.ok("POST", "/experiments/search", {"filter": "tags.kind = 'c'"})
        self.assertEqual([e["name"] for e in res["experiments"]], ["srch-c"])
        got, token = [], None
        while True:
            q = {"filter": "name LIKE 'srch-%'", "max_results": 2}
            if token:
                q["page_token"] = token
            page = s.ok("POST", "/experiments/search", q)
            got += [e["name"] for e in page["experiments"]]
            token = page.get("next_page_token")
            if not token:
                break
        self.assertEqual(got, ["srch-e", "srch-d", "srch-c", "srch-b", "srch-a"])  # newest first
        st, res = s.api("GET", "/experiments/search", {"filter": "name = 'srch-b'",
                                                        "max_results": "10"})
        self.assertEqual((st, [e["name"] for e in res["experiments"]]), (200, ["srch-b"]))
        for bad in ({"max_results": 50001}, {"page_token": "bad"}, {"filter": "name = 1"},
                    {"order_by": ["tags.kind"]}, {"view_type": "SOMETIMES"}):
            st, body = s.api("POST", "/experiments/search", bad)
            self.assertEqual((st, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"), bad)


class UiEndpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_ajax_prefix_and_history_bulk(self):
        s = self.srv
        runs = []
        for i in range(2):
            rid = s.ok("POST", "/runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
            s.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": [
                {"key": "loss", "value": 1.0 / (k + 1), "timestamp": k, "step": k}
                for k in range(5)]})
            runs.append(rid)
        st, res = s.api("GET", "/metrics/get-history-bulk", {"run_id": runs, "metric_key": "loss"},
                        prefix="/ajax-api/2.0/mlflow")
        self.assertEqual(st, 200)
        self.assertEqual(len(res["metrics"]), 10)
        self.assertEqual(sorted({m["run_id"] for m in res["metrics"]}), sorted(runs))
        self.assertEqual([m["run_id"] for m in res["metrics"]],
                         sorted(m["run_id"] for m in res["metrics"]))


if __name__ == "__main__":
    main()
