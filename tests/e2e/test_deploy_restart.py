"""The control plane goes away in the middle of a rollout.

- kill -9 of `kiln server` during a step: the replica keeps serving the plan it has (the
  candidate keeps its share), keeps its counters, and when the server is back it reports how
  long it was cut off; the restarted server resumes the same rollout at the same step (its
  start time and checkpointed statistics survive) and finishes it.
- a graceful stop (SIGTERM) during a rollout: the same, and parked plan polls are answered at
  stop so the server stops at once.
"""
import shutil
import tempfile
import time
import unittest

from deploylib import kok, make_model, status, wait_for, wait_rollout_end
from kilntest import KilnServer, main
from replica_sim import Behaviour, Replica

SPEC = """
name: {name}
model: {model}
steps:
  - {{weight: 30, min_duration: 4s, min_requests: 50}}
  - {{weight: 60, min_duration: 1s, min_requests: 50}}
analysis:
  interval: 200ms
  min_samples: 50
monitoring:
  report_interval: 300ms
"""


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kiln-e2e-deploy-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.srv = KilnServer(workdir=self.dir).start()
        self.addCleanup(self.stop_server)

    def stop_server(self):
        if self.srv.proc is not None:
            self.srv.stop()

    def restart(self):
        self.srv = KilnServer(workdir=self.dir, port=self.srv.port).start()

    def begin(self, model):
        make_model(self.srv, model, 2)
        name = model + "-live"
        kok(self.srv, "POST", "/deployments", {"spec": SPEC.format(name=name, model=model)})
        rep = Replica(self.srv.port, name, {2: Behaviour()}, rps=300, report_interval=0.3,
                      wait=2).start()
        self.addCleanup(rep.stop)
        code, _, err = self.srv.cli("deploy", "start", name, "--version", "2")
        self.assertEqual(code, 0, err)
        # Let step 1 run for a while (it is held 4 s).
        wait_for(lambda: status(self.srv, name)["rollout"]["stable_step_requests"] > 100, 10,
                 what="traffic in step 1")
        before = status(self.srv, name)
        self.assertEqual(before["rollout"]["step"], 1)
        return name, rep, before

    def check_resumed(self, name, rep, before, outage_start, outage_end):
        # During the outage the replica kept serving the plan it had: v2 kept its share.
        during = [v for t, v, _ in rep.served if outage_start + 0.3 < t < outage_end - 0.1]
        self.assertGreater(len(during), 100)
        share = during.count(2) / len(during)
        self.assertGreater(share, 0.15)
        self.assertLess(share, 0.45)
        # The restarted server resumed the same rollout, at the same step and step start.
        after = status(self.srv, name)
        self.assertIsNotNone(after["rollout"], after)
        self.assertEqual(after["rollout"]["id"], before["rollout"]["id"])
        self.assertEqual(after["rollout"]["step"], 1)
        self.assertEqual(after["rollout"]["step_start_time"], before["rollout"]["step_start_time"])
        self.assertEqual(after["generation"], before["generation"])
        last = wait_rollout_end(self.srv, name)
        self.assertEqual((last["id"], last["state"]), (before["rollout"]["id"], "promoted"))
        hist = kok(self.srv, "GET", f"/deployments/{name}/history")["rollouts"]
        self.assertEqual(len(hist), 1)
        # The replica reported the gap once the control plane was back.
        wait_for(lambda: status(self.srv, name)["replicas"][0]["gaps"] >= 1, 10,
                 what="the replica to report its gap")
        r = status(self.srv, name)["replicas"][0]
        self.assertGreaterEqual(r["max_gap_ms"], (outage_end - outage_start) * 1000 * 0.5)
        self.assertEqual(r["gap_generation"], before["generation"])
        self.assertGreater(rep.reports_failed, 0)
        code, out, _ = self.srv.cli("deploy", "status", name)
        self.assertIn("LONGEST GAP", out)

    def test_kill9_during_rollout_resumes(self):
        name, rep, before = self.begin("crash")
        t0 = time.time()
        self.srv.kill9()
        time.sleep(2.0)
        t1 = time.time()
        self.restart()
        self.check_resumed(name, rep, before, t0, t1)

    def test_graceful_stop_during_rollout_resumes(self):
        name, rep, before = self.begin("graceful")
        t0 = time.time()
        # Parked plan polls are answered at stop: the server must not wait for them.
        code = self.srv.stop()
        self.assertEqual(code, 0)
        self.assertLess(time.time() - t0, 5)
        self.assertIn("stopped", self.srv.stderr())
        time.sleep(1.5)
        t1 = time.time()
        self.restart()
        self.check_resumed(name, rep, before, t0, t1)


if __name__ == "__main__":
    main()
