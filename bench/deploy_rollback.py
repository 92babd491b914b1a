#!/usr/bin/python3
"""Deployment controller timings (bench/RESULTS.md, "Deployments").

Drives a real `kiln server` (the binary given as argv[1], a release build) with the simulated
serve replica of the end-to-end tests (tests/e2e/replica_sim.py: real plan long-polls, real
reports), and measures over repeated runs:

  1. failed check -> candidate traffic off: a candidate answering 20 % errors is rolled out
     again and again; from each rollout's failed_check_time (the analysis that failed) to
     - traffic_off_time: the plan without the candidate stored and sent (control plane),
     - the moment the replica received that plan (what a caller sees),
     - alias_time: the candidate alias moved back in the registry;
     and from the start of the rollout to the replica's traffic off (detection included), with
     the default analysis interval (5 s, reports every 2 s) and a fast one (200 ms / 300 ms).
  2. drift onset -> alert: the replica starts reporting a drifted window at t0; the time until
     the alert.fired event is in the registry's log (alerts are evaluated every second).

Usage: deploy_rollback.py KILN_BIN [--runs N] [--out results.json]
"""
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import kilntest  # noqa: E402
from deploylib import kok, make_model, status, wait_for  # noqa: E402
from replica_sim import Behaviour, Replica  # noqa: E402

SPEC = """
name: {name}
model: {model}
steps: [{{weight: 10, min_duration: 1h, min_requests: 100}}]
analysis:
  interval: {interval}
  min_samples: 100
  metrics: {{error_rate: {{max: 0.01}}}}
monitoring: {{report_interval: {report}}}
alerts:
  - {{kind: drift, min_rows: 100, window: 30s}}
"""

DRIFT = {"version": 1, "rows": 500, "dataset_drift": True, "drift_share": 0.6,
         "columns": [{"name": "age", "method": "wasserstein", "statistic": 0.3,
                      "threshold": 0.1, "drifted": True}]}


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def summary(xs):
    return {"n": len(xs), "median_ms": statistics.median(xs), "p90_ms": pct(xs, 0.9),
            "max_ms": max(xs)}


def rollouts(srv, model, interval, report, runs):
    name = model + "-live"
    make_model(srv, model, runs + 1)
    kok(srv, "POST", "/deployments",
        {"spec": SPEC.format(name=name, model=model, interval=interval, report=report)})
    bad = {v: Behaviour(error_rate=0.2) for v in range(2, runs + 2)}
    rep = Replica(srv.port, name, bad, rps=1000, report_interval=float(report[:-2]) / 1000
                  if report.endswith("ms") else float(report[:-1]), wait=30).start()
    out = {"check_to_off_server": [], "check_to_off_replica": [], "check_to_alias": [],
           "start_to_off_replica": []}
    try:
        for v in range(2, runs + 2):
            t0 = time.time()
            kok(srv, "POST", f"/deployments/{name}/start", {"version": v})
            last = wait_for(lambda: (lambda d: d["last_rollout"] if d["rollout"] is None and
                                     d["last_rollout"] and d["last_rollout"]["candidate_version"]
                                     == v else None)(status(srv, name)), 120, 0.05,
                            "the rollback")
            assert last["state"] == "rolled_back", last
            fc = last["failed_check_time"] / 1000.0
            off = rep.candidate_off_time(v, fc - 0.002)
            out["check_to_off_server"].append(last["traffic_off_time"] - last["failed_check_time"])
            out["check_to_off_replica"].append((off - fc) * 1000)
            out["check_to_alias"].append(last["alias_time"] - last["failed_check_time"])
            out["start_to_off_replica"].append((off - t0) * 1000)
        return out
    finally:
        rep.stop()


def drift_alerts(srv, runs):
    name = "drifty-live"
    make_model(srv, "drifty", 1)
    kok(srv, "POST", "/deployments",
        {"spec": SPEC.format(name=name, model="drifty", interval="5s", report="2s")})
    rep = Replica(srv.port, name, {}, rps=200, report_interval=2.0, wait=30).start()
    times = []
    try:
        for _ in range(runs):
            after = kok(srv, "GET", "/events", query={"after": 0, "max_results": 1})["last_id"]
            t0 = time.time()
            rep.drift = DRIFT
            ev = wait_for(lambda: [e for e in kok(srv, "GET", "/events",
                                                  query={"after": after, "types": "alert.fired",
                                                         "wait": 5})["events"]], 60, 0,
                          "the drift alert")[0]
            times.append(ev["time"] - t0 * 1000)
            rep.drift = dict(DRIFT, dataset_drift=False, drift_share=0.0)
            wait_for(lambda: [a for a in status(srv, name)["alerts"]
                              if a["state"] == "ok"], 60, 0.1, "the alert to resolve")
        return times
    finally:
        rep.stop()


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    kilntest.KILN_BIN = os.path.abspath(args[0])
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 10
    out_path = args[args.index("--out") + 1] if "--out" in args else None
    work = tempfile.mkdtemp(prefix="kiln-bench-deploy-")
    srv = kilntest.KilnServer(workdir=work).start()
    results = {"runs": runs, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        for label, interval, report in (("default", "5s", "2s"), ("fast", "200ms", "300ms")):
            r = rollouts(srv, "bench" + label, interval, report, runs)
            results[label] = {k: summary(v) for k, v in r.items()}
            results[label]["interval"] = interval
            results[label]["report_interval"] = report
        results["drift_to_alert"] = summary(drift_alerts(srv, runs))
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("deployment controller timings (ms), %d runs each" % runs)
    print("%-34s %10s %10s %10s" % ("", "median", "p90", "max"))
    for label in ("default", "fast"):
        for k in ("check_to_off_server", "check_to_off_replica", "check_to_alias",
                  "start_to_off_replica"):
            s = results[label][k]
            print("%-34s %10.1f %10.1f %10.1f" % ("%s %s" % (label, k), s["median_ms"],
                                                   s["p90_ms"], s["max_ms"]))
    s = results["drift_to_alert"]
    print("%-34s %10.1f %10.1f %10.1f" % ("drift onset -> alert", s["median_ms"], s["p90_ms"],
                                          s["max_ms"]))
    if out_path:
        with open(out_path, "a") as f:
            f.write(json.dumps(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
