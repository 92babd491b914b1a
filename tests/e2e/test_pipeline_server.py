"""Pipelines on a real `kiln server`: apply (and invalid specs refused with nothing applied),
list, trigger with parameters (CLI and REST), status, logs (text, JSON, --follow), cancel,
backfill (deduplicated), schedules with catchup, max_active_runs, drift events, and manual
triggers refused when a pipeline does not accept them."""
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import time
import unittest

from kilntest import KILN_BIN, KilnServer, check_sanitizers, main


def spec_file(dirname, name, text):
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    return path


class PipelineServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()
        cls.dir = tempfile.mkdtemp(prefix="kiln-pls-")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.srv.dir, ignore_errors=True)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def kapi(self, method, endpoint, payload=None, query=None):
        return self.srv.api(method, endpoint, payload, prefix="/api/kiln/v1", query=query)

    def ok(self, method, endpoint, payload=None, query=None):
        status, data = self.kapi(method, endpoint, payload, query)
        self.assertEqual(status, 200, data)
        return data

    def apply(self, name, text):
        path = spec_file(self.dir, name + ".yaml", text)
        rc, out, err = self.srv.cli("pipeline", "apply", path)
        self.assertEqual(rc, 0, err)
        return out

    def wait_run(self, run_id, timeout=60, states=("success", "failed", "canceled")):
        deadline = time.time() + timeout
        while time.time() < deadline:
            run = self.ok("GET", f"/pipeline-runs/{run_id}")["run"]
            if run["state"] in states:
                return run
            time.sleep(0.1)
        self.fail(f"run {run_id} did not finish: {run}")

    def test_apply_trigger_status_logs(self):
        out = self.apply("hello", """\
            name: hello
            params:
              who: world
            tasks:
              greet:
                run: echo "hello {{ params.who }}"; echo greeting=hi >> "$KILN_OUTPUTS"
              shout:
                run: for i in 1 2 3; do echo "{{ tasks.greet.outputs.greeting }} $i"; done
                depends_on: greet
            """)
        self.assertIn("applied pipeline hello: version 1 (new)", out)
        # Applying the same file again changes nothing.
        with open(os.path.join(self.dir, "hello.yaml")) as f:
            out = self.apply("hello", f.read())
        self.assertIn("version 1 (unchanged)", out)

        rc, out, err = self.srv.cli("pipeline", "trigger", "hello", "--param", "who=kiln", "--wait")
        self.assertEqual(rc, 0, err)
        self.assertIn("hello (version 1): success", out)
        self.assertRegex(out, r"greet\s+success\s+1/1")
        rc, out, err = self.srv.cli("pipeline", "list", "hello", "--json")
        run_id = json.loads(out)["runs"][0]["run_id"]
        run = self.ok("GET", f"/pipeline-runs/{run_id[:10]}")["run"]  # prefixes resolve
        self.assertEqual(run["params"], {"who": "kiln"})
        self.assertEqual(run["trigger"], "manual")
        rc, out, err = self.srv.cli("pipeline", "logs", run_id[:8], "greet")
        self.assertEqual((rc, out), (0, "hello kiln\n"), err)
        rc, out, err = self.srv.cli("pipeline", "logs", run_id, "shout", "--follow")
        self.assertEqual(out, "hi 1\nhi 2\nhi 3\n", err)
        # The log endpoint for curl: plain text with offset headers, resumable.
        r = self.srv.request("GET", f"/api/kiln/v1/pipeline-runs/{run_id}/tasks/shout/logs",
                             query={"offset": 5, "max_bytes": 5})
        self.assertEqual((r.status, r.body), (200, b"hi 2\n"))
        self.assertEqual(r.headers["X-Kiln-Log-Offset"], "10")
        self.assertEqual(r.headers["X-Kiln-Log-Complete"], "0")
        rc, out, _ = self.srv.cli("pipeline", "status", run_id)
        self.assertIn("trigger manual", out)
        rc, out, _ = self.srv.cli("pipeline", "list")
        self.assertRegex(out, r"hello\s+1\s+2\s+-\s+-\s+[0-9a-f]{12}\s+success")
        status, data = self.kapi("GET", f"/pipeline-runs/{run_id}/tasks/nope/logs")
        self.assertEqual(status, 404)

    def test_invalid_spec_refused_and_nothing_applied(self):
        bad = "name: broken\ntasks:\n  a:\n    run: x\n    depends_on: ghost\n"
        status, data = self.kapi("POST", "/pipelines", {"spec": bad, "file": "b.yaml"})
        self.assertEqual(status, 400)
        self.assertEqual(data["error_code"], "INVALID_PARAMETER_VALUE")
        self.assertEqual(data["message"],
                         "b.yaml:5:17: tasks.a.depends_on: unknown task 'ghost'")
        status, _ = self.kapi("GET", "/pipelines/broken")
        self.assertEqual(status, 404)
        path = spec_file(self.dir, "t.yaml", "name: tpl\ntasks:\n  a:\n    run: echo {{ params.x }}\n")
        rc, _, err = self.srv.cli("pipeline", "apply", path)
        self.assertEqual(rc, 2)
        self.assertIn("t.yaml:4:10: tasks.a.run: template uses undeclared parameter 'x'", err)
        status, data = self.kapi("POST", "/pipelines", {"spec": "name: x\n", "base_dir": "rel"})
        self.assertEqual(status, 400)

    def test_trigger_errors(self):
        self.apply("eventonly", """\
            name: eventonly
            triggers: [drift]
            params: {share: {type: number}}
            tasks:
              t: {run: 'echo {{ params.share }}'}
            """)
        status, data = self.kapi("POST", "/pipelines/eventonly/trigger", {})
        self.assertEqual(status, 403)
        self.assertIn("does not accept manual triggers", data["message"])
        status, data = self.kapi("POST", "/pipelines/nope/trigger", {})
        self.assertEqual(status, 404)
        # A drift trigger through the same endpoint, evidence filling the parameter.
        data = self.ok("POST", "/pipelines/eventonly/trigger",
                       {"reason": "drift", "evidence": {"share": 0.75, "column": "age"}})
        run = self.wait_run(data["run_id"])
        self.assertEqual((run["state"], run["trigger"], run["params"]),
                         ("success", "drift", {"share": "0.75"}))
        self.assertEqual(run["trigger_info"]["evidence"]["column"], "age")
        status, data = self.kapi("POST", "/pipelines/eventonly/trigger",
                                 {"reason": "drift", "params": {"share": "lots"}})
        self.assertEqual(status, 400)
        self.assertIn("parameter 'share': expected a number", data["message"])

    def test_drift_event_starts_matching_pipelines(self):
        self.apply("retrain_fraud", """\
            name: retrain_fraud
            triggers: [{type: drift, model: fraud}]
            params: {drift_share: {type: number, default: 0}, model: none}
            tasks:
              t: {run: 'echo retrain {{ params.model }} at {{ params.drift_share }}'}
            """)
        self.apply("retrain_other", """\
            name: retrain_other
            triggers: [{type: drift, model: other}]
            tasks:
              t: {run: 'true'}
            """)
        data = self.ok("POST", "/pipeline-events",
                       {"type": "drift", "model": "fraud", "evidence": {"drift_share": 0.6}})
        self.assertEqual(len(data["run_ids"]), 1, data)
        run = self.wait_run(data["run_ids"][0])
        self.assertEqual(run["pipeline"], "retrain_fraud")
        self.assertEqual(run["params"], {"drift_share": "0.6", "model": "fraud"})
        rc, out, _ = self.srv.cli("pipeline", "logs", run["run_id"], "t")
        self.assertEqual(out, "retrain fraud at 0.6\n")
        status, data = self.kapi("POST", "/pipeline-events", {"type": "earthquake"})
        self.assertEqual(status, 400)

    def test_cancel_kills_running_task(self):
        pidfile = os.path.join(self.dir, "cancel.pid")
        self.apply("cancelme", f"""\
            name: cancelme
            tasks:
              sleepy:
                run: sleep 60 & echo $! > {pidfile}; wait
              never:
                run: echo no
                depends_on: sleepy
            """)
        rc, out, err = self.srv.cli("pipeline", "trigger", "cancelme")
        run_id = out.split()[-1]
        deadline = time.time() + 20
        while not os.path.exists(pidfile) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        with open(pidfile) as f:
            child = int(f.read())
        rc, out, err = self.srv.cli("pipeline", "cancel", run_id[:12])
        self.assertEqual(rc, 0, err)
        run = self.wait_run(run_id, timeout=30)
        self.assertEqual(run["state"], "canceled")
        states = {t["task"]: (t["state"], t["message"]) for t in run["tasks"]}
        self.assertEqual(states, {"sleepy": ("failed", "canceled"), "never": ("skipped", "canceled")})
        self.assertFalse(_alive(child))
        rc, _, err = self.srv.cli("pipeline", "cancel", run_id)
        self.assertEqual(rc, 2)
        self.assertIn("already ended (canceled)", err)

    def test_backfill_and_catchup_schedule(self):
        self.apply("daily", """\
            name: daily
            schedule: {cron: '0 6 * * *', timezone: America/New_York}
            tasks:
              t: {run: 'echo {{ run.ds }} {{ run.logical_date }}'}
            """)
        rc, out, err = self.srv.cli("pipeline", "backfill", "daily", "--from", "2024-11-01",
                                    "--to", "2024-11-05", "--json")
        self.assertEqual(rc, 0, err)
        first = json.loads(out)
        self.assertEqual((len(first["run_ids"]), first["skipped"]), (5, 0))
        rc, out, err = self.srv.cli("pipeline", "backfill", "daily", "--from", "2024-11-04",
                                    "--to", "2024-11-06", "--json")
        second = json.loads(out)
        self.assertEqual((len(second["run_ids"]), second["skipped"]), (1, 2))
        for rid in first["run_ids"] + second["run_ids"]:
            self.assertEqual(self.wait_run(rid)["state"], "success")
        runs = self.ok("GET", "/pipelines/daily/runs")["runs"]
        dates = sorted(r["logical_date"] for r in runs)
        # 06:00 in New York: EDT (10:00Z) until Nov 3, EST (11:00Z) from then on.
        self.assertEqual(dates[0], 1730455200000)   # 2024-11-01T10:00Z
        self.assertEqual(dates[3], 1730718000000)   # 2024-11-04T11:00Z
        rc, out, _ = self.srv.cli("pipeline", "logs", first["run_ids"][2], "t")
        self.assertEqual(out, "2024-11-03 2024-11-03T11:00:00Z\n")
        status, data = self.kapi("POST", "/pipelines/hello_nosched/backfill", {"from": "2024-01-01", "to": "2024-01-02"})
        self.assertEqual(status, 404)

        # Catchup: a start date three minutes back yields the missed minutely runs at once.
        start = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 200))
        self.apply("minutely", f"""\
            name: minutely
            schedule: {{cron: '* * * * *', catchup: true, start_date: '{start}Z'}}
            max_active_runs: 2
            tasks:
              t: {{run: 'sleep 0.2'}}
            """)
        deadline = time.time() + 30
        while time.time() < deadline:
            runs = self.ok("GET", "/pipelines/minutely/runs")["runs"]
            if len(runs) >= 3 and all(r["state"] == "success" for r in runs):
                break
            time.sleep(0.2)
        self.assertGreaterEqual(len(runs), 3, runs)
        self.assertTrue(all(r["trigger"] == "schedule" for r in runs))
        self.assertTrue(all(r["logical_date"] % 60000 == 0 for r in runs))
        self.assertEqual(len({r["logical_date"] for r in runs}), len(runs))
        # max_active_runs 2: never three at once.
        spans = sorted((r["start_time"], r["end_time"]) for r in runs)
        for i in range(len(spans) - 2):
            self.assertLessEqual(spans[i][1], spans[i + 2][0])
        listed = self.ok("GET", "/pipelines/minutely")["pipeline"]
        self.assertEqual(listed["schedule"]["cron"], "* * * * *")
        self.assertGreater(listed["schedule"]["next_fire"], time.time() * 1000 - 61000)

    def test_max_active_runs_one(self):
        self.apply("serial", """\
            name: serial
            max_active_runs: 1
            tasks:
              t: {run: 'sleep 0.3'}
            """)
        ids = [self.ok("POST", "/pipelines/serial/trigger", {})["run_id"] for _ in range(3)]
        runs = [self.wait_run(i) for i in ids]
        spans = sorted((r["start_time"], r["end_time"]) for r in runs)
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            self.assertLessEqual(e1, s2, spans)


def _alive(pid):
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if ") Z " in f.read():
                    return False
        except OSError:
            return False
        time.sleep(0.02)
    return True


if __name__ == "__main__":
    main()
