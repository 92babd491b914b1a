#!/usr/bin/python3
"""Follows the closed loop from the control plane's API and prints a line for everything that
happens, until the story is complete: a candidate rolled back, then a later one promoted to
production, and the alerts resolved (or --settle seconds passed). Exit 0 then, 1 on
--timeout (with what it was waiting for).

    watch.py --url http://127.0.0.1:5000 --deployment churn-live --pipeline retrain-churn
             --model churn [--status generator/status.json] [--t0 EPOCH_MS] [--timeout 170]

Everything it prints comes from the server's REST API (docs/deployments.md, pipelines.md):
the deployment (rollout, step, weight, last analysis, alerts, replicas) and the pipeline's runs
and their tasks; the traffic counts come from the generator's status file.
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class Watch:
    def __init__(self, a):
        self.a = a
        self.t0 = a.t0 / 1000.0 if a.t0 else time.time()
        self.seen = set()
        self.alert_state = {}
        self.rollout = None           # (id, step) last printed
        self.runs = {}                # run id -> last printed state
        self.tasks = {}               # (run id, task) -> last printed state
        self.quiet = set()            # runs that skip themselves (not shown)
        self.rolled_back = []         # rollout ids that ended rolled back
        self.promoted = []            # rollout ids that ended promoted (after a rollback)
        self.last_traffic = 0.0
        self.shift_said = 0
        self.last_analysis = None
        self.done_at = None

    def say(self, msg):
        print(f"[{time.time() - self.t0:6.1f}s] {msg}", flush=True)

    def get(self, path):
        try:
            with urllib.request.urlopen(self.a.url + path, timeout=10) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def traffic(self):
        if not self.a.status:
            return
        try:
            with open(self.a.status) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return
        shift = st.get("shift", 0)
        if shift > 0 and self.shift_said == 0:
            self.say("the customers start to change (distribution shift begins)")
            self.shift_said = 1
        if shift >= 1 and self.shift_said == 1:
            self.say("shift complete: tenure x0.6, +1.5 support calls, +10 usage hours; "
                     "heavy users now churn")
            self.shift_said = 2
        if time.time() - self.last_traffic >= 10:
            self.last_traffic = time.time()
            failed = st.get("failed", 0)
            self.say(f"traffic: {st.get('ok', 0)} predictions, {st.get('labels', 0)} labels "
                     f"sent back" + (f", {failed} failed requests" if failed else ""))

    def alerts(self, dep):
        for al in dep.get("alerts", []):
            rule, state = al["rule"], al["state"]
            old = self.alert_state.get(rule, "ok")
            if state != old:
                if state == "firing":
                    self.say(f"ALERT {rule} ({al['kind']}) firing: {al.get('summary', '')}")
                elif old == "firing" and state == "ok":
                    self.say(f"alert {rule} resolved")
                self.alert_state[rule] = state

    def deployment(self, dep):
        ro = dep.get("rollout")
        if ro is not None:
            key = (ro["id"], ro["step"])
            if self.rollout is None or self.rollout[0] != ro["id"]:
                self.say(f"rollout {ro['id']}: v{ro['candidate_version']} in canary against "
                         f"v{ro['stable_version']}; step {ro['step']}/{ro['steps']} at "
                         f"{ro['weight']:g} % of traffic")
            elif self.rollout != key:
                self.say(f"rollout {ro['id']}: step {ro['step'] - 1} passed"
                         f"{self.last_analysis or ''}; step {ro['step']}/{ro['steps']} at "
                         f"{ro['weight']:g} %")
            self.rollout = key
            summary = self.analysis_summary(ro.get("last_analysis") or {})
            if summary:
                self.last_analysis = summary

    def ended(self, dep):
        last = dep.get("last_rollout")
        if last is not None and ("end", last["id"]) not in self.seen:
            self.seen.add(("end", last["id"]))
            self.rollout = None
            self.last_analysis = None
            if last["state"] == "rolled_back":
                self.rolled_back.append(last["id"])
                off = ""
                if last.get("failed_check_time") and last.get("traffic_off_time"):
                    off = (f"; traffic off the candidate "
                           f"{last['traffic_off_time'] - last['failed_check_time']} ms after "
                           f"the failed check")
                self.say(f"ROLLED BACK rollout {last['id']}: v{last['candidate_version']} out, "
                         f"canary back to v{last['stable_version']}{off}")
                self.say(f"  why: {last.get('reason') or '?'}")
            elif last["state"] == "promoted":
                if self.rolled_back:
                    self.promoted.append(last["id"])
                self.say(f"PROMOTED rollout {last['id']}: v{last['candidate_version']} is "
                         f"production")
            else:
                self.say(f"rollout {last['id']} ended {last['state']}: {last.get('reason')}")

    @staticmethod
    def analysis_summary(la):
        """' (accuracy 0.78 vs stable 0.54, ...)' from a rollout's last analysis."""
        ms = (la.get("analysis") or la).get("metrics") or []
        parts = []
        for m in ms:
            if m["metric"] in ("accuracy", "precision", "recall") and m.get("observed") is not None:
                base = m.get("baseline")
                parts.append(f"{m['metric']} {m['observed']:.2f}"
                             + (f" vs {base:.2f}" if base is not None else ""))
        return f" ({', '.join(parts)})" if parts else None

    def pipeline(self):
        data = self.get(f"/api/kiln/v1/pipelines/{urllib.parse.quote(self.a.pipeline)}/runs"
                        "?max_results=20")
        if data is None:
            return
        for run in reversed(data.get("runs", [])):
            rid, state = run["run_id"], run["state"]
            short = rid[:8]
            if rid not in self.runs:
                trig = run.get("trigger", "?")
                info = run.get("trigger_info") or {}
                self.runs[rid] = None
                if trig == "alias" and info.get("event_type") == "alias.moved":
                    self.quiet.add(rid)   # its own promotion to canary: it skips itself
                    continue
                why = ""
                if trig == "drift":
                    ev = info.get("evidence") or {}
                    why = (f" by the drift alert (drift share {ev.get('drift_share')}, "
                           f"columns {ev.get('drifted_columns')})")
                elif trig == "alias":
                    why = f" by the canary rollback ({info.get('event_type', 'an alias event')})"
                self.say(f"pipeline run {short} started{why}")
            if rid in self.quiet:
                continue
            if state in ("queued", "running") or self.runs[rid] != state:
                detail = self.get(f"/api/kiln/v1/pipeline-runs/{rid}")
                if detail is not None:
                    self.run_tasks(short, rid, detail.get("run", detail))
            if state != self.runs[rid] and state in ("success", "failed", "canceled"):
                self.say(f"pipeline run {short} {state}")
            self.runs[rid] = state

    def run_tasks(self, short, rid, run):
        for t in run.get("tasks", []):
            name, state = t["task"], t["state"]
            if state not in ("success", "failed", "skipped", "upstream_failed"):
                continue
            if self.tasks.get((rid, name)) == state:
                continue
            self.tasks[(rid, name)] = state
            out = t.get("outputs") or {}
            note = ""
            if name == "why":
                continue
            elif name == "collect" and out.get("fault", "none") != "none":
                note = f": FAULT INJECTED ({out['fault']}) into this export"
            elif name == "collect":
                note = f": the next {out.get('rows', '?')} labelled rows of live traffic"
            elif name == "drift":
                note = (f": dataset drift {out.get('dataset_drift')}, share "
                        f"{out.get('drift_share')}")
            elif name == "register":
                note = f": {out.get('model')} v{out.get('version')}"
            elif name == "evaluate" and "roc_auc" in out:
                note = f": roc_auc {float(out['roc_auc']):.3f} on its held-out set"
            elif name.startswith("promote_"):
                note = f": v{out.get('version', '?')} -> {out.get('env', name[8:])}"
            self.say(f"  run {short}: {name} {state}{note}")

    def done(self):
        return bool(self.promoted)

    def loop(self):
        deadline = self.t0 + self.a.timeout
        while time.time() < deadline:
            dep = self.get(f"/api/kiln/v1/deployments/{urllib.parse.quote(self.a.deployment)}")
            dep = dep.get("deployment", dep) if dep is not None else None
            if dep is not None:   # in the order things cause each other
                self.alerts(dep)
                self.ended(dep)
            self.pipeline()
            if dep is not None:
                self.deployment(dep)
            self.traffic()
            if self.done():
                if self.done_at is None:
                    self.done_at = time.time()
                # The end of the story: the alerts resolve once production serves the new
                # version (a drift window or two); wait a little for it, not forever.
                firing = [r for r, st in self.alert_state.items() if st == "firing"]
                if not firing or time.time() - self.done_at > self.a.settle:
                    if firing:
                        self.say(f"still firing after {self.a.settle:g} s: {', '.join(firing)}")
                    return 0
            time.sleep(0.25)
        want = ("a rollback" if not self.rolled_back else
                "a promotion after the rollback")
        self.say(f"TIMEOUT after {self.a.timeout:g} s: still waiting for {want}")
        return 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--deployment", required=True)
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--status")
    ap.add_argument("--t0", type=int, default=0, help="epoch ms the demo started")
    ap.add_argument("--timeout", type=float, default=170.0)
    ap.add_argument("--settle", type=float, default=15.0,
                    help="after the promotion, seconds to wait for firing alerts to resolve")
    a = ap.parse_args()
    a.url = a.url.rstrip("/")
    return Watch(a).loop()


if __name__ == "__main__":
    sys.exit(main())
