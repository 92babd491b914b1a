"""`kiln pipeline run` and `kiln pipeline validate`: a pipeline run to completion on the
embedded store with no server, streaming task states and output; params, templates, outputs
between tasks, retries, trigger rules, skips, timeouts, pools, cancel on Ctrl-C, and invalid
specs refused with their line."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import textwrap
import time
import unittest

from kilntest import KILN_BIN, check_sanitizers, main, run_kiln


class LocalRun(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kiln-pl-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def run_pl(self, spec, *args, timeout=120):
        return run_kiln("pipeline", "run", spec, "--no-color", *args, cwd=self.dir,
                        timeout=timeout)

    def db(self):
        return sqlite3.connect(os.path.join(self.dir, "kiln-data", "kiln.db"))

    def attempts(self, run_id, task):
        with self.db() as c:
            return c.execute("SELECT attempt, try_number, state, exit_code, signal, message, "
                             "start_time, end_time, host, pid FROM pipeline_attempts WHERE "
                             "run_id = ? AND task = ? ORDER BY attempt", (run_id, task)).fetchall()

    def test_params_templates_outputs_and_rules(self):
        spec = self.write("p.yaml", """\
            name: flow
            params:
              n: {type: integer, default: 3}
              word: hello
            tasks:
              make:
                run: echo making; echo size={{ params.n }} >> "$KILN_OUTPUTS"; echo "p=$KILN_PARAM_WORD" >> "$KILN_OUTPUTS"
              use:
                run: [sh, -c, 'echo "got {{ tasks.make.outputs.size }} {{ tasks.make.outputs.p }} run={{ run.id }} try={{ task.try_number }}" > used.txt']
                depends_on: make
              flaky:
                run: 'test "$KILN_TRY_NUMBER" -ge 2'
                retries: 2
                retry_delay: 0
              broken:
                run: exit 4
              after_broken:
                run: echo never
                depends_on: broken
              on_failure:
                run: echo "repair" > repaired.txt
                depends_on: broken
                trigger_rule: one_failed
              skipper:
                run: exit 99
              after_skip:
                run: echo never
                depends_on: skipper
              cleanup:
                run: echo done
                depends_on: [use, flaky, after_broken, on_failure, after_skip]
                trigger_rule: all_done
            """)
        rc, out, err = self.run_pl(spec, "--param", "n=7", "--json")
        self.assertEqual(rc, 0, out + err)  # the only leaf, cleanup, succeeded (Airflow's rule)
        run = json.loads(out)
        self.assertEqual(run["state"], "success")
        self.assertEqual(run["params"], {"n": "7", "word": "hello"})
        states = {t["task"]: t["state"] for t in run["tasks"]}
        self.assertEqual(states, {
            "make": "success", "use": "success", "flaky": "success", "broken": "failed",
            "after_broken": "upstream_failed", "on_failure": "success", "skipper": "skipped",
            "after_skip": "skipped", "cleanup": "success"})
        tasks = {t["task"]: t for t in run["tasks"]}
        self.assertEqual(tasks["make"]["outputs"], {"size": "7", "p": "hello"})
        with open(os.path.join(self.dir, "used.txt")) as f:
            self.assertEqual(f.read().strip(), f"got 7 hello run={run['run_id']} try=1")
        self.assertTrue(os.path.exists(os.path.join(self.dir, "repaired.txt")))
        # flaky failed once, then passed on its second try; broken had no retries.
        self.assertEqual([(a["try_number"], a["state"]) for a in tasks["flaky"]["attempt_list"]],
                         [(1, "failed"), (2, "success")])
        self.assertEqual(tasks["flaky"]["tries"], 2)
        self.assertEqual(tasks["broken"]["attempt_list"][0]["exit_code"], 4)
        self.assertEqual(tasks["after_broken"]["attempt_list"], [])
        # Attempts record host, pid, start and end; logs are files under the artifacts root.
        a = tasks["make"]["attempt_list"][0]
        self.assertTrue(a["host"] and a["pid"] > 0 and a["end_time"] >= a["start_time"])
        with open(a["log_path"]) as f:
            self.assertEqual(f.read(), "making\n")
        self.assertTrue(a["log_path"].startswith(os.path.join(self.dir, "kiln-data", "artifacts",
                                                              "pipelines", "flow")))

    def test_streams_task_output_and_summary(self):
        spec = self.write("s.yaml", """\
            name: stream
            tasks:
              first:
                run: printf 'line one\\nline two\\npartial'
              second:
                run: echo second says hi >&2
                depends_on: first
            """)
        rc, out, err = self.run_pl(spec)
        self.assertEqual(rc, 0, err)
        self.assertIn(" first | line one\n", out)
        self.assertIn(" first | partial\n", out)
        self.assertIn("second | second says hi\n", out)
        self.assertRegex(out, r"\] first\s+running")
        self.assertRegex(out, r"\] second\s+success")
        self.assertRegex(out, r"TASK\s+STATE\s+TRIES\s+DURATION")
        self.assertRegex(out, r"run [0-9a-f]{32} success")
        # State lines come in order: first succeeded before second ran.
        self.assertLess(out.index("first  success"), out.index("second running"))

    def test_failed_run_exits_1_and_timeout_kills(self):
        spec = self.write("f.yaml", """\
            name: slow
            tasks:
              hang:
                run: sleep 30
                timeout: 1s
              next:
                run: echo unreachable
                depends_on: hang
            """)
        t0 = time.time()
        rc, out, err = self.run_pl(spec, "--json")
        self.assertEqual(rc, 1, err)
        self.assertLess(time.time() - t0, 20)
        run = json.loads(out)
        self.assertEqual(run["state"], "failed")
        hang = run["tasks"][0]
        self.assertEqual(hang["state"], "failed")
        self.assertIn("timed out after 1.0 s", hang["message"])
        self.assertEqual(hang["attempt_list"][0]["signal"], signal.SIGTERM)

    def test_pool_and_parallelism_limits(self):
        spec = self.write("pool.yaml", """\
            name: pooled
            pools: {single: 1}
            tasks:
              a: {run: sleep 0.3, pool: single}
              b: {run: sleep 0.3, pool: single}
              c: {run: sleep 0.3, pool: single}
              d: {run: sleep 0.3}
              e: {run: sleep 0.3}
            """)
        rc, out, err = self.run_pl(spec, "--json", "--parallelism", "4")
        self.assertEqual(rc, 0, err)
        run = json.loads(out)
        spans = {t["task"]: (t["start_time"], t["end_time"]) for t in run["tasks"]}
        pooled = sorted(spans[k] for k in "abc")
        for (s1, e1), (s2, e2) in zip(pooled, pooled[1:]):
            self.assertLessEqual(e1, s2, f"pool of one slot ran two tasks at once: {pooled}")
        # Tasks outside the pool ran alongside the pooled ones.
        self.assertLess(spans["d"][0], pooled[1][0])

    def test_ctrl_c_cancels_and_kills_the_group(self):
        pidfile = os.path.join(self.dir, "child.pid")
        spec = self.write("c.yaml", f"""\
            name: long
            tasks:
              wait:
                run: sleep 60 & echo $! > {pidfile}; wait
              after:
                run: echo never
                depends_on: wait
            """)
        p = subprocess.Popen([KILN_BIN, "pipeline", "run", spec, "--no-color"], cwd=self.dir,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        while not os.path.exists(pidfile) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        with open(pidfile) as f:
            child = int(f.read())
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        check_sanitizers(err, "kiln pipeline run")
        self.assertEqual(p.returncode, 1, out + err)
        self.assertIn("canceling the run", err)
        self.assertRegex(out, r"run [0-9a-f]{32} canceled")
        self.assertFalse(_alive(child), "the task's background child survived the cancel")
        with self.db() as c:
            (state, msg), = c.execute("SELECT state, message FROM pipeline_runs").fetchall()
            tasks = dict(c.execute("SELECT task, state FROM pipeline_tasks").fetchall())
        self.assertEqual(state, "canceled")
        self.assertEqual(tasks, {"wait": "failed", "after": "skipped"})

    def test_killed_runner_is_cleaned_up_by_the_next(self):
        started = os.path.join(self.dir, "started")
        spec = self.write("k.yaml", f"""\
            name: killed
            tasks:
              hang:
                run: echo $$ > {started}; exec sleep 60
            """)
        p = subprocess.Popen([KILN_BIN, "pipeline", "run", spec, "--no-color"], cwd=self.dir,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while not os.path.exists(started) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        with open(started) as f:
            task_pid = int(f.read())
        p.kill()
        p.wait()
        p.stderr.close()
        # The task asked the kernel to die with its runner.
        self.assertFalse(_alive(task_pid), "the task outlived the killed kiln pipeline run")
        rc, out, err = self.run_pl(self.write("ok.yaml", "name: ok\ntasks:\n  a: {run: 'true'}\n"))
        self.assertEqual(rc, 0, err)
        with self.db() as c:
            state, msg = c.execute("SELECT state, message FROM pipeline_runs WHERE name = "
                                   "'killed'").fetchone()
        self.assertEqual(state, "failed")
        self.assertIn("process that owned this run died", msg)

    def test_invalid_specs_are_refused_with_line(self):
        spec = self.write("bad.yaml", """\
            name: bad
            tasks:
              a:
                run: echo a
                depends_on: [b]
              b:
                run: echo b
                depends_on: a
            """)
        rc, out, err = self.run_pl(spec)
        self.assertEqual(rc, 2)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("bad.yaml:5:", err)
        self.assertIn("dependency cycle", err)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "kiln-data", "kiln.db")) and
                         self._count("pipeline_versions"), "an invalid spec was recorded")
        spec2 = self.write("bad2.yaml", "name: b2\nschedule: '* * * *'\ntasks:\n  a: {run: x}\n")
        rc, _, err = run_kiln("pipeline", "validate", spec2, cwd=self.dir)
        self.assertEqual(rc, 2)
        self.assertIn("bad2.yaml:2:11: schedule: cron '* * * *': expected 5 fields", err)
        rc, _, err = self.run_pl(self.write("p.yaml", "name: p\ntasks:\n  a: {run: 'true'}\n"),
                                 "--param", "nope=1")
        self.assertEqual(rc, 2)
        self.assertIn("pipeline 'p' has no parameter 'nope'", err)

    def test_validate_prints_order_and_next_fires(self):
        spec = self.write("v.yaml", """\
            name: v
            schedule: {cron: '30 2 * * *', timezone: Europe/Berlin}
            tasks:
              z: {run: 'true', depends_on: y}
              y: {run: 'true'}
            """)
        rc, out, err = run_kiln("pipeline", "validate", spec, cwd=self.dir)
        self.assertEqual(rc, 0, err)
        self.assertIn("valid pipeline 'v' with 2 tasks", out)
        self.assertIn("order: y z", out)
        self.assertIn("next runs:", out)
        rc, out, _ = run_kiln("pipeline", "validate", spec, "--json", cwd=self.dir)
        self.assertEqual(json.loads(out)["order"], ["y", "z"])

    def _count(self, table):
        with self.db() as c:
            return c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


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
