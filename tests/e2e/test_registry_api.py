"""The MLflow model-registry REST API against the real server (mlflow-api.md §4.5, §7, §8, §10):
shapes, the observed quirks (RESOURCE_ALREADY_EXISTS is 400, an unknown alias is
INVALID_PARAMETER_VALUE, versions are strings, READY at creation, soft-deleted version numbers
are never reused, get-download-uri returns the storage location, stages are canonicalised,
archive_existing_versions, latest versions per stage, prompts excluded from searches), the
limits, and that bad input changes nothing."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KilnServer, main  # noqa: E402

API = "/api/2.0/mlflow"


class RegistryApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def err(self, method, endpoint, payload, status, code):
        got, body = self.srv.api(method, endpoint, payload)
        self.assertEqual((got, body and body.get("error_code")), (status, code), body)
        return body["message"]

    def model(self, name, **kw):
        return self.srv.ok("POST", "/registered-models/create", {"name": name, **kw})

    def version(self, name, source="mlflow-artifacts:/0/r/artifacts/model", **kw):
        return self.srv.ok("POST", "/model-versions/create",
                           {"name": name, "source": source, **kw})["model_version"]

    def count(self, endpoint, payload, key):
        return len(self.srv.ok("GET", endpoint, payload).get(key, []))

    def test_create_get_duplicate(self):
        rm = self.model("dup", tags=[{"key": "team", "value": "risk"}],
                        description="d")["registered_model"]
        self.assertEqual(rm["name"], "dup")
        self.assertEqual(rm["tags"], [{"key": "team", "value": "risk"}])
        self.assertEqual(rm["description"], "d")
        self.assertIsInstance(rm["creation_timestamp"], int)
        self.assertNotIn("latest_versions", rm)  # empty repeated fields are omitted
        msg = self.err("POST", "/registered-models/create", {"name": "dup"}, 400,
                       "RESOURCE_ALREADY_EXISTS")
        self.assertEqual(msg, "Registered Model (name=dup) already exists.")
        self.err("POST", "/registered-models/create", {"name": ""}, 400,
                 "INVALID_PARAMETER_VALUE")
        self.err("POST", "/registered-models/create", {}, 400, "INVALID_PARAMETER_VALUE")
        self.err("GET", "/registered-models/get", {"name": "absent"}, 404,
                 "RESOURCE_DOES_NOT_EXIST")
        got = self.srv.ok("GET", "/registered-models/get", {"name": "dup"})["registered_model"]
        self.assertEqual(got["name"], "dup")

    def test_versions_are_strings_ready_never_reused(self):
        self.model("ver")
        v1 = self.version("ver", run_id="r1", description="first", run_link="http://x",
                          tags=[{"key": "k", "value": "v"}])
        self.assertEqual(v1["version"], "1")
        self.assertEqual(v1["status"], "READY")
        self.assertEqual(v1["current_stage"], "None")
        self.assertEqual(v1["run_id"], "r1")
        self.assertEqual(v1["description"], "first")
        self.assertEqual(v1["run_link"], "http://x")
        self.assertEqual(v1["tags"], [{"key": "k", "value": "v"}])
        self.assertEqual(self.version("ver")["version"], "2")
        self.assertEqual(self.version("ver")["version"], "3")
        self.srv.ok("DELETE", "/model-versions/delete", {"name": "ver", "version": "3"})
        self.err("GET", "/model-versions/get", {"name": "ver", "version": "3"}, 404,
                 "RESOURCE_DOES_NOT_EXIST")
        self.assertEqual(self.version("ver")["version"], "4")
        got = self.srv.ok("GET", "/model-versions/get", {"name": "ver", "version": "1"})
        self.assertEqual(got["model_version"]["source"], "mlflow-artifacts:/0/r/artifacts/model")
        msg = self.err("GET", "/model-versions/get", {"name": "ver", "version": "abc"}, 400,
                       "INVALID_PARAMETER_VALUE")
        self.assertEqual(msg, "Parameter 'version' must be an integer, got 'abc'.")
        self.err("POST", "/model-versions/create", {"name": "absent", "source": "s3://b/k"}, 404,
                 "RESOURCE_DOES_NOT_EXIST")
        self.err("POST", "/model-versions/create", {"name": "ver"}, 400,
                 "INVALID_PARAMETER_VALUE")
        upd = self.srv.ok("PATCH", "/model-versions/update",
                          {"name": "ver", "version": "1", "description": "new"})
        self.assertEqual(upd["model_version"]["description"], "new")

    def test_download_uri_is_storage_location(self):
        exp = self.srv.ok("POST", "/experiments/create", {"name": "dl"})["experiment_id"]
        run = self.srv.ok("POST", "/runs/create", {"experiment_id": exp})["run"]["info"]
        lm = self.srv.ok("POST", "/logged-models",
                         {"experiment_id": exp, "name": "model",
                          "source_run_id": run["run_id"]})["model"]["info"]
        self.model("dl")
        v = self.version("dl", source=f"models:/{lm['model_id']}", model_id=lm["model_id"])
        self.assertEqual(v["source"], f"models:/{lm['model_id']}")
        self.assertEqual(v["run_id"], run["run_id"])  # defaulted from the logged model
        uri = self.srv.ok("GET", "/model-versions/get-download-uri",
                          {"name": "dl", "version": v["version"]})["artifact_uri"]
        self.assertEqual(uri, lm["artifact_uri"])
        v2 = self.version("dl", source="models:/dl/1")
        uri2 = self.srv.ok("GET", "/model-versions/get-download-uri",
                           {"name": "dl", "version": v2["version"]})["artifact_uri"]
        self.assertEqual(uri2, lm["artifact_uri"])
        self.err("POST", "/model-versions/create",
                 {"name": "dl", "source": "mlflow-artifacts:/0/%2e%2e/etc"}, 400,
                 "INVALID_PARAMETER_VALUE")
        self.err("POST", "/model-versions/create", {"name": "dl", "source": "/etc/passwd"}, 400,
                 "INVALID_PARAMETER_VALUE")

    def test_stages(self):
        self.model("stg")
        for _ in range(3):
            self.version("stg")
        mv = self.srv.ok("POST", "/model-versions/transition-stage",
                         {"name": "stg", "version": "1", "stage": "production",
                          "archive_existing_versions": False})["model_version"]
        self.assertEqual(mv["current_stage"], "Production")
        self.srv.ok("POST", "/model-versions/transition-stage",
                    {"name": "stg", "version": "2", "stage": "PRODUCTION",
                     "archive_existing_versions": True})
        self.err("POST", "/model-versions/transition-stage",
                 {"name": "stg", "version": "3", "stage": "Bogus",
                  "archive_existing_versions": False}, 400, "INVALID_PARAMETER_VALUE")
        self.err("POST", "/model-versions/transition-stage",
                 {"name": "stg", "version": "3", "stage": "Archived",
                  "archive_existing_versions": True}, 400, "INVALID_PARAMETER_VALUE")
        self.err("POST", "/model-versions/transition-stage",
                 {"name": "stg", "version": "3", "stage": "Staging"}, 400,
                 "INVALID_PARAMETER_VALUE")
        v1 = self.srv.ok("GET", "/model-versions/get", {"name": "stg", "version": "1"})
        self.assertEqual(v1["model_version"]["current_stage"], "Archived")
        # get-latest-versions: POST (the client's first choice) and GET; stages filter.
        latest = self.srv.ok("POST", "/registered-models/get-latest-versions",
                             {"name": "stg", "stages": ["production"]})["model_versions"]
        self.assertEqual([v["version"] for v in latest], ["2"])
        latest = self.srv.ok("GET", "/registered-models/get-latest-versions",
                             {"name": "stg"})["model_versions"]
        self.assertEqual(sorted((v["current_stage"], v["version"]) for v in latest),
                         [("Archived", "1"), ("None", "3"), ("Production", "2")])
        rm = self.srv.ok("GET", "/registered-models/get", {"name": "stg"})["registered_model"]
        self.assertEqual(len(rm["latest_versions"]), 3)

    def test_aliases(self):
        self.model("al")
        self.version("al")
        self.version("al")
        self.srv.ok("POST", "/registered-models/alias",
                    {"name": "al", "alias": "champion", "version": "1"})
        self.srv.ok("POST", "/registered-models/alias",
                    {"name": "al", "alias": "champion", "version": "2"})
        mv = self.srv.ok("GET", "/registered-models/alias",
                         {"name": "al", "alias": "champion"})["model_version"]
        self.assertEqual((mv["version"], mv["aliases"]), ("2", ["champion"]))
        rm = self.srv.ok("GET", "/registered-models/get", {"name": "al"})["registered_model"]
        self.assertEqual(rm["aliases"], [{"alias": "champion", "version": "2"}])
        msg = self.err("GET", "/registered-models/alias", {"name": "al", "alias": "nope"}, 400,
                       "INVALID_PARAMETER_VALUE")
        self.assertEqual(msg, "Registered model alias nope not found.")
        latest = self.srv.ok("GET", "/registered-models/alias",
                             {"name": "al", "alias": "latest"})["model_version"]
        self.assertEqual(latest["version"], "2")
        for bad in ("latest", "v3", "a b", ""):
            self.err("POST", "/registered-models/alias",
                     {"name": "al", "alias": bad, "version": "1"}, 400,
                     "INVALID_PARAMETER_VALUE")
        self.err("POST", "/registered-models/alias", {"name": "al", "alias": "x", "version": "9"},
                 404, "RESOURCE_DOES_NOT_EXIST")
        self.srv.ok("DELETE", "/registered-models/alias", {"name": "al", "alias": "absent"})
        self.srv.ok("DELETE", "/registered-models/alias", {"name": "al", "alias": "champion"})
        rm = self.srv.ok("GET", "/registered-models/get", {"name": "al"})["registered_model"]
        self.assertNotIn("aliases", rm)

    def test_tags(self):
        self.model("tg")
        self.version("tg")
        self.srv.ok("POST", "/registered-models/set-tag", {"name": "tg", "key": "a", "value": "1"})
        self.srv.ok("POST", "/model-versions/set-tag",
                    {"name": "tg", "version": "1", "key": "b", "value": "2"})
        self.err("POST", "/registered-models/set-tag",
                 {"name": "tg", "key": "../x", "value": "1"}, 400, "INVALID_PARAMETER_VALUE")
        self.err("POST", "/registered-models/set-tag",
                 {"name": "tg", "key": "big", "value": "x" * 100001}, 400,
                 "INVALID_PARAMETER_VALUE")
        self.srv.ok("DELETE", "/registered-models/delete-tag", {"name": "tg", "key": "absent"})
        self.srv.ok("DELETE", "/model-versions/delete-tag",
                    {"name": "tg", "version": "1", "key": "b"})
        rm = self.srv.ok("GET", "/registered-models/get", {"name": "tg"})["registered_model"]
        self.assertEqual(rm["tags"], [{"key": "a", "value": "1"}])
        mv = self.srv.ok("GET", "/model-versions/get", {"name": "tg", "version": "1"})
        self.assertNotIn("tags", mv["model_version"])

    def test_rename_update_delete(self):
        self.model("rn")
        self.model("rn-taken")
        self.version("rn")
        self.err("POST", "/registered-models/rename", {"name": "rn", "new_name": "rn-taken"}, 400,
                 "RESOURCE_ALREADY_EXISTS")
        rm = self.srv.ok("POST", "/registered-models/rename",
                         {"name": "rn", "new_name": "rn2"})["registered_model"]
        self.assertEqual(rm["name"], "rn2")
        self.assertEqual(rm["latest_versions"][0]["name"], "rn2")
        rm = self.srv.ok("PATCH", "/registered-models/update",
                         {"name": "rn2", "description": "x"})["registered_model"]
        self.assertEqual(rm["description"], "x")
        self.srv.ok("DELETE", "/registered-models/delete", {"name": "rn2"})
        self.err("GET", "/registered-models/get", {"name": "rn2"}, 404, "RESOURCE_DOES_NOT_EXIST")
        self.err("DELETE", "/registered-models/delete", {"name": "rn2"}, 404,
                 "RESOURCE_DOES_NOT_EXIST")

    def test_search(self):
        for i in range(12):
            self.model(f"srch-{i:02d}")
        self.srv.ok("POST", "/registered-models/set-tag",
                    {"name": "srch-03", "key": "mlflow.prompt.is_prompt", "value": "true"})
        self.srv.ok("POST", "/registered-models/set-tag",
                    {"name": "srch-04", "key": "team", "value": "risk"})
        page = self.srv.ok("GET", "/registered-models/search",
                           {"filter": "name LIKE 'srch-%'", "max_results": 5})
        self.assertEqual([m["name"] for m in page["registered_models"]],
                         ["srch-00", "srch-01", "srch-02", "srch-04", "srch-05"])
        names = [m["name"] for m in page["registered_models"]]
        while "next_page_token" in page:
            page = self.srv.ok("GET", "/registered-models/search",
                               {"filter": "name LIKE 'srch-%'", "max_results": 5,
                                "page_token": page["next_page_token"]})
            names += [m["name"] for m in page.get("registered_models", [])]
        self.assertEqual(len(names), 11)  # the prompt is excluded
        prompts = self.srv.ok("GET", "/registered-models/search",
                              {"filter": "tags.`mlflow.prompt.is_prompt` = 'true'"})
        self.assertEqual([m["name"] for m in prompts["registered_models"]], ["srch-03"])
        tagged = self.srv.ok("GET", "/registered-models/search", {"filter": "tags.team = 'risk' AND name LIKE 'srch%'"})
        self.assertEqual([m["name"] for m in tagged["registered_models"]], ["srch-04"])
        desc = self.srv.ok("GET", "/registered-models/search",
                           {"filter": "name ILIKE 'SRCH-1%'", "order_by": ["name DESC"]})
        self.assertEqual([m["name"] for m in desc["registered_models"]], ["srch-11", "srch-10"])
        self.err("GET", "/registered-models/search", {"max_results": 1001}, 400,
                 "INVALID_PARAMETER_VALUE")
        self.err("GET", "/registered-models/search", {"filter": "name = 'a' OR name = 'b'"}, 400,
                 "INVALID_PARAMETER_VALUE")
        self.err("GET", "/registered-models/search", {"order_by": ["creation_timestamp"]}, 400,
                 "INVALID_PARAMETER_VALUE")
        self.err("GET", "/registered-models/search", {"page_token": "garbage"}, 400,
                 "INVALID_PARAMETER_VALUE")

    def test_search_versions(self):
        self.model("sv")
        for i in range(4):
            self.version("sv", run_id="ra" if i % 2 else "rb")
        self.srv.ok("POST", "/model-versions/set-tag",
                    {"name": "sv", "version": "2", "key": "q", "value": "1"})
        got = self.srv.ok("GET", "/model-versions/search",
                          {"filter": "name = 'sv' AND version_number > 1",
                           "order_by": ["version_number ASC"]})
        self.assertEqual([v["version"] for v in got["model_versions"]], ["2", "3", "4"])
        got = self.srv.ok("GET", "/model-versions/search",
                          {"filter": "name = 'sv' AND run_id IN ('ra')"})
        self.assertEqual(sorted(v["version"] for v in got["model_versions"]), ["2", "4"])
        got = self.srv.ok("GET", "/model-versions/search", {"filter": "tags.q = '1'"})
        self.assertEqual([(v["name"], v["version"]) for v in got["model_versions"]], [("sv", "2")])
        # Default order: last_updated_timestamp DESC, then name, version DESC.
        got = self.srv.ok("GET", "/model-versions/search", {"filter": "name = 'sv'"})
        ts = [v["last_updated_timestamp"] for v in got["model_versions"]]
        self.assertEqual(ts, sorted(ts, reverse=True))
        self.err("GET", "/model-versions/search", {"max_results": 0}, 400,
                 "INVALID_PARAMETER_VALUE")
        self.err("GET", "/model-versions/search", {"max_results": 200001}, 400,
                 "INVALID_PARAMETER_VALUE")
        self.err("GET", "/model-versions/search", {"filter": "name IN ('sv')"}, 400,
                 "INVALID_PARAMETER_VALUE")

    def test_bad_requests_change_nothing(self):
        before = self.count("/registered-models/search", {"max_results": 1000},
                            "registered_models")
        r = self.srv.request("POST", API + "/registered-models/create", body=b'{"name":"x"}',
                             headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 400)
        r = self.srv.request("POST", API + "/registered-models/create", body=b'{"name":',
                             headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400)
        self.err("POST", "/registered-models/create",
                 {"name": "badtags", "tags": [{"key": "ok", "value": "1"}, {"key": "/abs"}]},
                 400, "INVALID_PARAMETER_VALUE")
        self.err("POST", "/registered-models/create", {"name": "x", "tags": "nope"}, 400,
                 "INVALID_PARAMETER_VALUE")
        after = self.count("/registered-models/search", {"max_results": 1000},
                           "registered_models")
        self.assertEqual(before, after)
        # Unknown registry paths answer JSON ENDPOINT_NOT_FOUND (the client's fallbacks need it).
        self.err("GET", "/registered-models/nope", None, 404, "ENDPOINT_NOT_FOUND")
        r = self.srv.request("PUT", API + "/registered-models/create", body=b"{}",
                             headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 405)

    def test_ajax_prefix(self):
        self.model("ajax")
        r = self.srv.request("GET", "/ajax-api/2.0/mlflow/registered-models/get",
                             query={"name": "ajax"})
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["registered_model"]["name"], "ajax")


if __name__ == "__main__":
    main()
