"""Every way a tracking request can be wrong gets MLflow's error code and a 4xx status (never
5xx, which the client retries for minutes), names what is wrong, and changes nothing:
malformed JSON, wrong types, missing fields, over-limit values, unknown ids, bodies over the
limits, a POST without application/json, bad filters, tokens and enums, writes to deleted
runs."""
import json
import unittest

from kilntest import KilnServer, main

BAD = "INVALID_PARAMETER_VALUE"
MISSING = "RESOURCE_DOES_NOT_EXIST"


class Errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()
        s = cls.srv
        cls.exp = s.ok("POST", "/experiments/create", {"name": "errs"})["experiment_id"]
        cls.rid = s.ok("POST", "/runs/create", {"experiment_id": cls.exp,
                                                 "run_name": "r"})["run"]["info"]["run_id"]
        s.ok("POST", "/runs/log-batch", {"run_id": cls.rid,
                                          "metrics": [{"key": "m", "value": 1, "timestamp": 1}],
                                          "params": [{"key": "p", "value": "v"}],
                                          "tags": [{"key": "t", "value": "v"}]})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def state(self):
        run = self.srv.ok("GET", "/runs/get", {"run_id": self.rid})["run"]
        hist = self.srv.ok("GET", "/metrics/get-history", {"run_id": self.rid,
                                                            "metric_key": "m"})
        return json.dumps([run, hist], sort_keys=True)

    def expect(self, method, endpoint, payload, code, status=400, needle=None, **kw):
        before = self.state()
        st, body = self.srv.api(method, endpoint, payload, **kw)
        self.assertEqual((st, body and body.get("error_code")), (status, code),
                         f"{endpoint} {payload!r:.200}: {body}")
        self.assertTrue(body["message"])
        if needle:
            self.assertIn(needle, body["message"])
        self.assertEqual(self.state(), before, f"{endpoint} changed something")
        return body

    def raw(self, path, body, ctype="application/json"):
        headers = {"Content-Type": ctype} if ctype else {}
        return self.srv.request("POST", "/api/2.0/mlflow" + path, body=body, headers=headers)

    def test_malformed_json(self):
        for body in (b'{"run_id": ', b"[1, 2]", b'{"run_id": "x",}', b"\xff\xfe"):
            before = self.state()
            r = self.raw("/runs/log-batch", body)
            self.assertEqual(r.status, 400, body)
            self.assertIn(r.json()["error_code"], (BAD, "BAD_REQUEST"))
            self.assertEqual(self.state(), before)

    def test_post_without_json_content_type(self):
        body = json.dumps({"run_id": self.rid, "key": "p2", "value": "v"}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
            r = self.raw("/runs/log-parameter", body, ctype)
            self.assertEqual((r.status, r.json()["error_code"]), (400, BAD), ctype)
        r = self.raw("/runs/log-parameter", body, "application/json; charset=utf-8")
        self.assertEqual(r.status, 200)  # parameters after ';' are ignored

    def test_missing_fields(self):
        self.expect("POST", "/runs/log-metric", {"run_id": self.rid, "key": "m", "value": 1},
                    BAD, needle="'timestamp'")
        self.expect("POST", "/runs/log-metric", {"run_id": self.rid, "value": 1, "timestamp": 1},
                    BAD, needle="'key'")
        self.expect("POST", "/runs/log-metric", {"key": "m", "value": 1, "timestamp": 1}, BAD,
                    needle="'run_id'")
        self.expect("POST", "/runs/log-parameter", {"run_id": self.rid, "key": ""}, BAD,
                    needle="Missing value for required parameter 'key'")
        self.expect("POST", "/runs/log-batch", {"run_id": self.rid, "metrics": [
            {"key": "ok", "value": 1, "timestamp": 1}, {"key": "m2", "value": 2}]}, BAD,
            needle="metrics[1]")
        self.expect("POST", "/runs/log-batch", {"run_id": self.rid, "params": [{"value": "v"}]},
                    BAD, needle="params[0]")
        self.expect("POST", "/runs/set-tag", {"run_id": self.rid}, BAD, needle="'key'")
        self.expect("POST", "/runs/delete-tag", {"run_id": self.rid}, BAD)
        self.expect("GET", "/metrics/get-history", {"run_id": self.rid}, BAD,
                    needle="'metric_key'")
        self.expect("POST", "/experiments/update", {"experiment_id": self.exp}, BAD,
                    needle="'new_name'")
        self.expect("POST", "/experiments/set-experiment-tag", {"key": "k", "value": "v"}, BAD,
                    needle="'experiment_id'")
        self.expect("POST", "/runs/outputs", {"run_id": self.rid}, BAD, needle="'models'")
        self.expect("POST", "/runs/log-model", {"run_id": self.rid}, BAD, needle="'model_json'")

    def test_wrong_types(self):
        for value in ("abc", True, {"x": 1}, [1]):
            self.expect("POST", "/runs/log-metric", {"run_id": self.rid, "key": "m",
                                                      "value": value, "timestamp": 1}, BAD,
                        needle="'value'")
        self.expect("POST", "/runs/log-metric", {"run_id": self.rid, "key": "m", "value": 1,
                                                  "timestamp": "soon"}, BAD, needle="'timestamp'")
        self.expect("POST", "/runs/log-metric", {"run_id": self.rid, "key": "m", "value": 1,
                                                  "timestamp": 1, "step": 1.5}, BAD,
                    needle="'step'")
        self.expect("POST", "/runs/log-metric", {"run_id": self.rid, "key": "m", "value": 1,
                                                  "timestamp": -5}, BAD,
                    needle="Got invalid timestamp -5")
        self.expect("POST", "/runs/log-parameter", {"run_id": self.rid, "key": 5, "value": "v"},
                    BAD, needle="'key'")
        self.expect("POST", "/runs/log-batch", {"run_id": self.rid, "metrics": {"k": 1}}, BAD,
                    needle="'metrics'")
        self.expect("POST", "/runs/log-batch", {"run_id": self.rid, "params": ["lr=1"]}, BAD)
        self.expect("POST", "/runs/update", {"run_id": self.rid, "status": "DONE"}, BAD,
                    needle="'status'")
        self.expect("POST", "/runs/update", {"run_id": self.rid, "end_time": "later"}, BAD)
        self.expect("GET", "/experiments/get", {"experiment_id": "-1"}, BAD)
        self.expect("POST", "/runs/search", {"experiment_ids": ["x1"]}, BAD)
        self.expect("POST", "/runs/search", {"experiment_ids": [self.exp],
                                              "run_view_type": "SOME"}, BAD)
        self.expect("POST", "/runs/search", {"experiment_ids": [self.exp],
                                              "max_results": "many"}, BAD)

    def test_keys_and_limits(self):
        for key in ("a/../b", "/abs", "trailing/", "x//y", "bad$char", "..", "k" * 251):
            self.expect("POST", "/runs/log-parameter", {"run_id": self.rid, "key": key,
                                                         "value": "v"}, BAD, needle="'key'")
        big = "x" * 5001
        self.expect("POST", "/experiments/set-experiment-tag", {"experiment_id": self.exp,
                                                                 "key": "k", "value": big}, BAD,
                    needle="5000")
        self.expect("POST", "/runs/log-batch", {"run_id": self.rid, "metrics": [
            {"key": f"k{i}", "value": i, "timestamp": 1} for i in range(1001)]}, BAD,
            needle="at most 1000 metrics")
        self.expect("POST", "/runs/log-batch", {"run_id": self.rid, "params": [
            {"key": f"k{i}", "value": "v"} for i in range(101)]}, BAD,
            needle="at most 100 params")
        self.expect("POST", "/runs/log-batch", {"run_id": self.rid, "tags": [
            {"key": f"k{i}", "value": "v"} for i in range(101)]}, BAD,
            needle="at most 100 tags")
        self.expect("POST", "/runs/log-batch", {"run_id": self.rid, "params": [
            {"key": "d", "value": "1"}, {"key": "d", "value": "1"}]}, BAD,
            needle="Duplicate parameter keys")
        self.expect("POST", "/runs/log-parameter", {"run_id": self.rid, "key": "p",
                                                     "value": "changed"}, BAD,
                    needle="Changing param values is not allowed")
        # log-batch bodies are limited to 1 MiB (MLflow's documented size).
        body = {"run_id": self.rid, "tags": [{"key": "big", "value": "x" * (1 << 20)}]}
        self.expect("POST", "/runs/log-batch", body, BAD, needle="at most 1048576 bytes")
        self.expect("POST", "/experiments/create", {"name": "n" * 501}, BAD)

    def test_truncation_is_silent_as_in_mlflow(self):
        rid = self.srv.ok("POST", "/runs/create", {"experiment_id": self.exp})["run"]
        rid = rid["info"]["run_id"]
        self.srv.ok("POST", "/runs/log-parameter", {"run_id": rid, "key": "long",
                                                     "value": "é" * 7000})
        self.srv.ok("POST", "/runs/set-tag", {"run_id": rid, "key": "long", "value": "t" * 9000})
        run = self.srv.ok("GET", "/runs/get", {"run_id": rid})["run"]
        self.assertEqual(run["data"]["params"], [{"key": "long", "value": "é" * 6000}])
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        self.assertEqual(tags["long"], "t" * 8000)

    def test_unknown_ids(self):
        nope = "0" * 32
        self.expect("GET", "/runs/get", {"run_id": nope}, MISSING, 404, needle=nope)
        self.expect("POST", "/runs/log-metric", {"run_id": nope, "key": "m", "value": 1,
                                                  "timestamp": 1}, MISSING, 404)
        self.expect("POST", "/runs/log-batch", {"run_id": nope, "metrics": []}, MISSING, 404)
        self.expect("POST", "/runs/update", {"run_id": nope, "status": "FAILED"}, MISSING, 404)
        self.expect("POST", "/runs/delete", {"run_id": nope}, MISSING, 404)
        self.expect("POST", "/runs/delete-tag", {"run_id": self.rid, "key": "nope"}, MISSING,
                    404, needle="No tag with name: nope")
        self.expect("GET", "/experiments/get", {"experiment_id": "9999"}, MISSING, 404)
        self.expect("POST", "/experiments/delete", {"experiment_id": "9999"}, MISSING, 404)
        self.expect("POST", "/runs/create", {"experiment_id": "9999"}, MISSING, 404)
        self.expect("POST", "/experiments/delete-experiment-tag",
                    {"experiment_id": self.exp, "key": "nope"}, MISSING, 404)
        # An unknown run's history is empty, as in MLflow's SQL store.
        self.assertEqual(self.srv.ok("GET", "/metrics/get-history",
                                     {"run_id": nope, "metric_key": "m"}), {})

    def test_bad_search_input(self):
        for f in ("metrics.m > 1 OR metrics.m < 0", "(metrics.m > 1)", "metrics.m LIKE 'x'",
                  "params.p > '1'", "nope.x = 1", "attributes.nope = 'x'", "params.p = 'x",
                  "run_name IN ('a')", "metrics.m = 'x'", "metrics.m >"):
            self.expect("POST", "/runs/search", {"experiment_ids": [self.exp], "filter": f}, BAD)
        for o in ("metrics.m SIDEWAYS", "datasets.name", "nope", "metrics.m DESC extra"):
            self.expect("POST", "/runs/search", {"experiment_ids": [self.exp],
                                                  "order_by": [o]}, BAD)
        for token in ("%%%", "bm90IGpzb24=", "eyJvZmZzZXQiOiAiMSJ9"):
            self.expect("POST", "/runs/search", {"experiment_ids": [self.exp],
                                                  "page_token": token}, BAD,
                        needle="Invalid page token")
        self.expect("POST", "/runs/search", {"experiment_ids": [self.exp], "max_results": 50001},
                    BAD, needle="at most 50000")
        self.expect("GET", "/metrics/get-history-bulk-interval",
                    {"run_ids": [self.rid] * 101, "metric_key": "m"}, BAD, needle="at most 100")
        self.expect("GET", "/metrics/get-history-bulk-interval",
                    {"run_ids": [self.rid], "metric_key": "m", "max_results": 2501}, BAD)
        self.expect("GET", "/metrics/get-history-bulk-interval",
                    {"run_ids": [self.rid], "metric_key": "m", "start_step": 5}, BAD,
                    needle="both must be specified")
        self.expect("GET", "/metrics/get-history-bulk-interval",
                    {"run_ids": [self.rid], "metric_key": "m", "start_step": 5, "end_step": 1},
                    BAD)

    def test_writes_to_deleted_runs_are_refused(self):
        rid = self.srv.ok("POST", "/runs/create", {"experiment_id": self.exp})["run"]
        rid = rid["info"]["run_id"]
        self.srv.ok("POST", "/runs/delete", {"run_id": rid})
        for ep, payload in (
                ("/runs/log-metric", {"run_id": rid, "key": "m", "value": 1, "timestamp": 1}),
                ("/runs/log-parameter", {"run_id": rid, "key": "p", "value": "v"}),
                ("/runs/log-batch", {"run_id": rid, "params": [{"key": "p", "value": "v"}]}),
                ("/runs/set-tag", {"run_id": rid, "key": "t", "value": "v"}),
                ("/runs/update", {"run_id": rid, "status": "FINISHED"}),
                ("/runs/log-inputs", {"run_id": rid, "models": [{"model_id": "m-1"}]}),
                ("/runs/outputs", {"run_id": rid, "models": [{"model_id": "m-1", "step": 0}]})):
            st, body = self.srv.api("POST", ep, payload)
            self.assertEqual((st, body["error_code"]), (400, BAD), ep)
            self.assertIn("'active' state", body["message"])
        run = self.srv.ok("GET", "/runs/get", {"run_id": rid})["run"]
        self.assertNotIn("metrics", run["data"])
        self.assertNotIn("params", run["data"])

    def test_body_over_the_server_limit(self):
        big = json.dumps({"run_id": self.rid, "tags": [{"key": "k", "value": "v" * (17 << 20)}]})
        before = self.state()
        r = self.raw("/runs/log-batch", big.encode())
        self.assertEqual(r.status, 413)
        self.assertEqual(self.state(), before)


if __name__ == "__main__":
    main()
