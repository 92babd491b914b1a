"""Registry-triggered runs: a new model version and an alias move start the pipelines whose
triggers match, with the event's fields as parameters; after a restart the server neither
repeats nor misses events (the feed position is stored). Skipped when this build has no
registry event feed (GET /api/kiln/v1/events)."""
import os
import shutil
import tempfile
import textwrap
import time
import unittest

from kilntest import KilnServer, main

SPEC = """\
    name: on_registry
    params:
      model: none
      version: '0'
      alias: none
    triggers:
      - {type: model_version, model: churn}
      - {type: alias, model: churn, alias: staging}
    tasks:
      t:
        run: echo "{{ run.trigger }} {{ params.model }} {{ params.version }} {{ params.alias }}"
"""


class RegistryEvents(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="kiln-ple-")
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    def runs(self, srv):
        status, data = srv.api("GET", "/pipelines/on_registry/runs", prefix="/api/kiln/v1")
        self.assertEqual(status, 200, data)
        return data["runs"]

    def wait_runs(self, srv, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            runs = self.runs(srv)
            if len(runs) >= n and all(r["state"] == "success" for r in runs):
                return runs
            time.sleep(0.1)
        self.fail(f"expected {n} finished runs, got {self.runs(srv)}")

    def test_version_and_alias_events_start_runs(self):
        srv = KilnServer(workdir=self.work).start()
        try:
            status, _ = srv.api("GET", "/events", prefix="/api/kiln/v1", query={"after": 0})
            if status == 404:
                self.skipTest("this build has no registry event feed")
            path = os.path.join(self.work, "p.yaml")
            with open(path, "w") as f:
                f.write(textwrap.dedent(SPEC))
            rc, _, err = srv.cli("pipeline", "apply", path)
            self.assertEqual(rc, 0, err)
            time.sleep(0.5)  # the follower starts at the end of the feed
            run_id = srv.ok("POST", "/runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
            source = {"source": f"runs:/{run_id}/model", "run_id": run_id}
            srv.ok("POST", "/registered-models/create", {"name": "churn"})
            srv.ok("POST", "/registered-models/create", {"name": "other"})
            srv.ok("POST", "/model-versions/create", {"name": "other", **source})
            srv.ok("POST", "/model-versions/create", {"name": "churn", **source})
            runs = self.wait_runs(srv, 1)
            self.assertEqual(len(runs), 1, runs)  # "other" does not match the filter
            self.assertEqual(runs[0]["trigger"], "model_version")
            self.assertEqual(runs[0]["params"]["model"], "churn")
            self.assertEqual(runs[0]["params"]["version"], "1")
            self.assertEqual(runs[0]["trigger_info"]["run_id"], run_id)
            srv.ok("POST", "/registered-models/alias",
                   {"name": "churn", "alias": "staging", "version": "1"})
            srv.ok("POST", "/registered-models/alias",
                   {"name": "churn", "alias": "elsewhere", "version": "1"})
            runs = self.wait_runs(srv, 2)
            self.assertEqual(len(runs), 2, runs)
            alias_run = [r for r in runs if r["trigger"] == "alias"][0]
            self.assertEqual(alias_run["params"]["alias"], "staging")
            self.assertEqual(alias_run["trigger_info"]["event_type"], "alias.moved")
            srv.stop()
            srv = KilnServer(workdir=self.work, port=srv.port).start()
            time.sleep(3)
            self.assertEqual(len(self.runs(srv)), 2, "events were replayed after a restart")
            srv.ok("POST", "/model-versions/create", {"name": "churn", **source})
            runs = self.wait_runs(srv, 3)
            self.assertEqual(sorted(r["params"]["version"] for r in runs if
                                    r["trigger"] == "model_version"), ["1", "2"])
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
