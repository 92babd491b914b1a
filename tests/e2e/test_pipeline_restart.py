"""The server dies in the middle of a run: after `kill -9` and a restart the run resumes, no
finished task runs again, the task whose process vanished is failed and retried per its policy
(its leftover processes killed), and a task with no retries left fails the run. A graceful stop
interrupts running tasks without using a retry."""
import os
import shutil
import tempfile
import textwrap
import time
import unittest

from kilntest import KilnServer, main

SPEC = """\
    name: resume
    tasks:
      done_first:
        run: echo ran >> {d}/done_first.count
      long:
        run: echo $KILN_TRY_NUMBER >> {d}/long.tries; if [ "$KILN_TRY_NUMBER" = 1 ]; then sleep 60 & echo $! > {d}/orphan.pid; echo started > {d}/long.started; wait; fi
        depends_on: done_first
        retries: 1
        retry_delay: 1s
      after:
        run: echo ran >> {d}/after.count
        depends_on: long
"""

NO_RETRY = """\
    name: fragile
    tasks:
      only:
        run: echo started > {d}/fragile.started; sleep 60
        retries: 0
      next:
        run: echo never
        depends_on: only
"""

GRACEFUL = """\
    name: graceful
    tasks:
      slow:
        run: echo $KILN_TRY_NUMBER >> {d}/slow.tries; test -e {d}/slow.second || {{ touch {d}/slow.second; echo up > {d}/slow.started; sleep 60; }}
        retries: 0
"""


def wait_file(path, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def read_lines(path):
    with open(path) as f:
        return f.read().split()


def alive(pid):
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if ") Z " in f.read():
                    return False
        except OSError:
            return False
        time.sleep(0.02)
    return True


class Restart(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="kiln-plr-")
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)
        self.files = os.path.join(self.work, "files")
        os.makedirs(self.files)

    def apply(self, srv, name, text):
        path = os.path.join(self.files, name + ".yaml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(text).format(d=self.files))
        rc, out, err = srv.cli("pipeline", "apply", path)
        self.assertEqual(rc, 0, err)

    def run_state(self, srv, run_id):
        status, data = srv.api("GET", f"/pipeline-runs/{run_id}", prefix="/api/kiln/v1")
        self.assertEqual(status, 200, data)
        return data["run"]

    def wait_final(self, srv, run_id, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            run = self.run_state(srv, run_id)
            if run["state"] in ("success", "failed", "canceled"):
                return run
            time.sleep(0.1)
        self.fail(f"run did not finish: {run}")

    def trigger(self, srv, name):
        status, data = srv.api("POST", f"/pipelines/{name}/trigger", {}, prefix="/api/kiln/v1")
        self.assertEqual(status, 200, data)
        return data["run_id"]

    def test_kill_9_mid_run_resumes(self):
        srv = KilnServer(workdir=self.work).start()
        self.apply(srv, "resume", SPEC)
        run_id = self.trigger(srv, "resume")
        wait_file(os.path.join(self.files, "long.started"))
        orphan = int(read_lines(os.path.join(self.files, "orphan.pid"))[0])
        srv.kill9()
        # The task's shell died with the server (its parent-death signal); its background
        # child is an orphan until the restarted server finds it by its attempt marker.
        srv = KilnServer(workdir=self.work, port=srv.port).start()
        try:
            run = self.wait_final(srv, run_id)
            self.assertEqual(run["state"], "success", run)
            tasks = {t["task"]: t for t in run["tasks"]}
            self.assertEqual(read_lines(os.path.join(self.files, "done_first.count")), ["ran"])
            self.assertEqual(tasks["done_first"]["tries"], 1)
            self.assertEqual(read_lines(os.path.join(self.files, "long.tries")), ["1", "2"])
            long_atts = tasks["long"]["attempt_list"]
            self.assertEqual([a["state"] for a in long_atts], ["failed", "success"])
            self.assertIn("process vanished", long_atts[0]["message"])
            self.assertEqual(read_lines(os.path.join(self.files, "after.count")), ["ran"])
            self.assertFalse(alive(orphan), "the vanished attempt's leftover process survived")
            self.assertIn("killing leftover process", srv.stderr())
        finally:
            srv.stop()

    def test_kill_9_without_retries_fails_the_task(self):
        srv = KilnServer(workdir=self.work).start()
        self.apply(srv, "fragile", NO_RETRY)
        run_id = self.trigger(srv, "fragile")
        wait_file(os.path.join(self.files, "fragile.started"))
        srv.kill9()
        srv = KilnServer(workdir=self.work, port=srv.port).start()
        try:
            run = self.wait_final(srv, run_id)
            self.assertEqual(run["state"], "failed")
            tasks = {t["task"]: t for t in run["tasks"]}
            self.assertEqual(tasks["only"]["state"], "failed")
            self.assertIn("process vanished", tasks["only"]["message"])
            self.assertEqual(tasks["next"]["state"], "upstream_failed")
        finally:
            srv.stop()

    def test_graceful_stop_interrupts_without_using_a_retry(self):
        srv = KilnServer(workdir=self.work).start()
        self.apply(srv, "graceful", GRACEFUL)
        run_id = self.trigger(srv, "graceful")
        wait_file(os.path.join(self.files, "slow.started"))
        t0 = time.time()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.time() - t0, 15)
        srv = KilnServer(workdir=self.work, port=srv.port).start()
        try:
            run = self.wait_final(srv, run_id)
            self.assertEqual(run["state"], "success", run)
            slow = run["tasks"][0]
            self.assertEqual([a["state"] for a in slow["attempt_list"]], ["interrupted", "success"])
            self.assertEqual([a["try_number"] for a in slow["attempt_list"]], [1, 1])
            self.assertEqual(read_lines(os.path.join(self.files, "slow.tries")), ["1", "1"])
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
