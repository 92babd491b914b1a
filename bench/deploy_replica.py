#!/usr/bin/python3
"""Deployments, replica side: real `kiln serve --deployment` replicas against a real
`kiln server` (bench/deploy_rollback.py measures the control plane with simulated replicas).

Measures:
  1. serving overhead of traffic splitting + monitoring: p50/p99 at 5,000 req/s open loop
     (bench_serve_load, latency from each request's due time) for `kiln serve
     models:/m@production` and for `kiln serve --deployment` in a 50 % canary with agreement
     checks (`compare`), drift windows (the version's profile.json) and the feedback ring;
  2. failed check -> zero candidate traffic as a replica sees it: a candidate refusing every
     request, open traffic at 400 req/s; the time from the rollout's failed_check_time to the
     last request the candidate answered (upper bound: requests are 2.5 ms apart), and to
     the control plane's traffic_off_time;
  3. drift onset -> alert: traffic whose f2 and f3 move by 3 standard deviations starts at
     t0; the time until the drift alert is firing (polled every 20 ms).

Model: logistic regression on 4 features (tests/e2e/replicalib.py), one-row MLflow requests.

    /usr/bin/python3 bench/deploy_replica.py BUILD_DIR [--runs 5] [--duration 10]
        [--out bench/results/deploy_replica.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "deploy_replica.json"))
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    os.environ["KILN_BIN"] = os.path.join(build, "kiln")
    os.environ.setdefault("KILN_SRC", os.path.join(HERE, ".."))
    from kilntest import KilnServer
    from replicalib import (FEATURES, Load, Replica, add_versions, build_models, deployment,
                            kok, spec, wait_for, wait_rollout_end)

    driver = os.path.join(build, "bench", "bench_serve_load")
    tmp = tempfile.mkdtemp(prefix="kiln-bench-replica-")
    dirs = build_models(tmp, ("good", "good2", "broken"))
    body = os.path.join(tmp, "row.json")
    with open(body, "w") as f:
        json.dump({"dataframe_split": {"columns": FEATURES, "data": [[0.3, -0.2, 0.1, 1.2]]}}, f)
    results = {"rate": args.rate, "duration_s": args.duration}

    def load(port, label):
        p = subprocess.run([driver, "--url", f"http://127.0.0.1:{port}/invocations", "--body",
                            body, "--rate", str(args.rate), "--duration", str(args.duration),
                            "--warmup", "2", "--connections", "32", "--label", label],
                           capture_output=True, text=True, timeout=600)
        print(p.stdout.splitlines()[0] if p.stdout else p.stderr, flush=True)
        return json.loads(p.stdout.splitlines()[1])

    with KilnServer() as srv:
        # 1. overhead.
        v1, v2 = add_versions(srv, "bench", [dirs["good"], dirs["good2"]])
        plain = KilnServer("models:/bench@production", "--tracking-uri", srv.base, "--workers",
                           "2", command=("serve",), ready_path="/ping").start()
        results["plain"] = load(plain.port, "kiln serve")
        plain.__exit__(None, None, None)
        kok(srv, "POST", "/deployments", {"spec": spec(
            "bench-live", "bench", "    error_rate: {max: 0.05}\n    agreement: {min: 0.5}",
            weight=50, hold="1h", min_requests=10 ** 9, drift_rows=1000, drift_window="10s")})
        # The same pool of 2 as `plain`, so the difference is the deployment's own work (a
        # replica's default is a thread per connection, see src/serve/serve.c).
        rep = Replica(srv, "bench-live", extra=("--workers", "2")).start()
        code, _, err = srv.cli("deploy", "start", "bench-live", "--version", str(v2))
        assert code == 0, err
        wait_for(lambda: rep.score([0, 0, 0, 0]).headers.get("X-Kiln-Version") == str(v2) or
                 rep.score([1, 1, 1, 1]).headers.get("X-Kiln-Version") == str(v2), 20)
        results["deployment"] = load(rep.port, "kiln serve --deployment (50% canary, compare)")
        rep.__exit__(None, None, None)

        # 2. failed check -> zero candidate traffic.
        offs, planoffs = [], []
        for i in range(args.runs):
            model = f"rb{i}"
            a, b = add_versions(srv, model, [dirs["good"], dirs["broken"]])
            kok(srv, "POST", "/deployments", {"spec": spec(
                f"{model}-live", model, "    error_rate: {max: 0.05}", weight=50)})
            rep = Replica(srv, f"{model}-live").start()
            traffic = Load([rep], rps=400, threads=4).start()
            time.sleep(0.5)
            code, _, err = srv.cli("deploy", "start", f"{model}-live", "--version", str(b))
            assert code == 0, err
            last = wait_rollout_end(srv, f"{model}-live")
            time.sleep(0.5)
            traffic.stop()
            rep.__exit__(None, None, None)
            assert last["state"] == "rolled_back", last
            failed = last["failed_check_time"] / 1000.0
            refused = [e[0] for e in traffic.entries() if e[2] == 400]
            offs.append((max(refused) - failed) * 1000)
            planoffs.append(last["traffic_off_time"] - last["failed_check_time"])
            print(f"  run {i}: failed check -> last candidate request {offs[-1]:.1f} ms "
                  f"(control plane: plan without the candidate after {planoffs[-1]} ms)",
                  flush=True)
        results["rollback_ms"] = {"runs": offs, "median": statistics.median(offs),
                                  "max": max(offs), "plan_off_ms": planoffs}

        # 3. drift onset -> alert.
        add_versions(srv, "drift", [dirs["good"]])
        kok(srv, "POST", "/deployments", {"spec": spec(
            "drift-live", "drift", "    error_rate: {max: 0.05}", drift_rows=500,
            drift_window="1s", extra="alerts:\n  - {name: d, kind: drift, min_rows: 200, "
                                     "window: 30s}")})
        rep = Replica(srv, "drift-live").start()
        calm = Load([rep], rps=600).start()
        time.sleep(3)
        calm.stop()
        assert not [a for a in kok(srv, "GET", "/deployments/drift-live/alerts")["alerts"]]
        t0 = time.time()
        shifted = Load([rep], rps=600, shift=3.0, seed=9).start()
        wait_for(lambda: kok(srv, "GET", "/deployments/drift-live/alerts")["alerts"], 30, 0.02)
        took = (time.time() - t0) * 1000
        shifted.stop()
        rep.__exit__(None, None, None)
        results["drift_alert_ms"] = took
        results["drift_settings"] = {"rps": 600, "drift_window_rows": 500,
                                     "report_interval_ms": 250, "analysis_interval_ms": 200}
        print(f"  drift onset -> alert firing: {took:.0f} ms", flush=True)
        d = deployment(srv, "drift-live")["replicas"][0]["drift"]
        print(f"  replica drift: {d}", flush=True)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
