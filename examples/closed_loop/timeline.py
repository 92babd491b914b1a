#!/usr/bin/python3
"""Prints the timeline of a closed-loop run from what kiln recorded: the registry's event log
(versions, evaluations, alias moves and refusals, deployment decisions, alerts), the pipeline's
runs, the tracking runs and the deployment's history. One aligned row per step: time since the
start, what happened, the model version, and where it is recorded (a command to see it).
Then the figures that matter: drift onset to alert, alert to canary, failed check to zero
candidate traffic.

    timeline.py --url URL --deployment NAME --pipeline NAME --model NAME --t0 EPOCH_MS
                [--work DIR] [--local FILE] [--json OUT]

--work is the demo's folder (the generator's status.json gives the moment the shift began);
--local adds rows the demo noted itself (validation, traffic start); --json also writes the
rows as JSON (the end-to-end test reads them).
"""
import argparse
import json
import os
import re
import sys
import urllib.parse
import urllib.request


def get(url, path):
    with urllib.request.urlopen(url + path, timeout=30) as r:
        return json.loads(r.read())


def post(url, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def events(url, model):
    out, after = [], 0
    while True:
        page = get(url, f"/api/kiln/v1/events?after={after}&max_results=1000&model="
                   + urllib.parse.quote(model))
        evs = page.get("events", [])
        out += evs
        if not evs or len(evs) < 1000:
            return out
        after = evs[-1]["id"]


def fmt(v, nd=3):
    try:
        return f"{float(v):.{nd}f}"
    except (TypeError, ValueError):
        return str(v)


def failed_metrics(analysis):
    """'accuracy 0.21 < 0.6 (stable 0.54)' for each failed metric of an analysis report."""
    a = (analysis or {}).get("analysis", analysis or {})
    parts = []
    for m in a.get("metrics", []):
        if m.get("verdict") != "fail":
            continue
        base = m.get("baseline")
        parts.append(f"{m['metric']} {fmt(m.get('observed'), 2)} (rule {m.get('rule')}"
                     + (f"; stable {fmt(base, 2)}" if base is not None else "") + ")")
    return "; ".join(parts)


def passed_quality(analysis):
    a = (analysis or {}).get("analysis", analysis or {})
    parts = []
    for m in a.get("metrics", []):
        if m["metric"] in ("accuracy", "precision", "recall") and m.get("observed") is not None:
            parts.append(f"{m['metric']} {fmt(m['observed'], 2)}")
    return ", ".join(parts)


class Timeline:
    def __init__(self, a):
        self.a = a
        self.rows = []          # (time_ms, what, version, where, kind)
        self.skipped_runs = 0
        self.figures = []

    def add(self, t, what, version, where, kind):
        if t:
            what = re.sub(r"(\d+\.\d{3})\d+", r"\1", what)   # 0.6241116298 -> 0.624
            self.rows.append((int(t), what, version, where, kind))

    def from_tracking(self):
        a = self.a
        try:
            exp = get(a.url, "/api/2.0/mlflow/experiments/get-by-name?experiment_name="
                      + urllib.parse.quote(a.model))["experiment"]
            runs = post(a.url, "/api/2.0/mlflow/runs/search",
                        {"experiment_ids": [exp["experiment_id"]], "max_results": 100}
                        ).get("runs", [])
        except (OSError, ValueError, KeyError):
            return
        for r in runs:
            info, data = r["info"], r.get("data", {})
            metrics = {m["key"]: m["value"] for m in data.get("metrics", [])}
            name = info.get("run_name") or info["run_id"][:8]
            if "val_roc_auc" not in metrics:
                continue  # kiln evaluate's runs: the evaluation rows say what they hold
            self.add(info.get("end_time") or info.get("start_time"),
                     f"tracking run '{name}': val roc_auc {fmt(metrics.get('val_roc_auc'))}",
                     "-", f"kiln runs show {info['run_id'][:8]}", "tracking")

    def from_events(self):
        a = self.a
        evs = events(a.url, a.model)
        i = 0
        while i < len(evs):
            e = evs[i]
            t, typ, d = e["time"], e["type"], e.get("data") or {}
            v = f"v{e['version']}" if e.get("version") else "-"
            hist = f"kiln models history {a.model}"
            if typ == "model_version.created":
                run = d.get("run_id", "")
                self.add(t, f"registered {a.model} {v} (from run {run[:8]})", v,
                         f"kiln models show {a.model}", "registry")
            elif typ == "policy.updated":
                self.add(t, f"promotion policy set: environments {d.get('environments')}", "-",
                         f"kiln models policy show {a.model}", "registry")
            elif typ == "evaluation.created":
                m = d.get("metrics", {})
                self.add(t, f"evaluated on '{d.get('dataset_name')}': roc_auc "
                         f"{fmt(m.get('roc_auc'))}, accuracy {fmt(m.get('accuracy'))}", v,
                         f"kiln models evaluations {a.model} {e['version']}", "registry")
            elif typ == "alias.moved":
                # Collapse a run of moves of one version by one actor into one row.
                envs, j = [d.get("environment")], i + 1
                while (j < len(evs) and evs[j]["type"] == "alias.moved"
                       and evs[j].get("version") == e.get("version")
                       and evs[j].get("user") == e.get("user")
                       and evs[j]["time"] - evs[j - 1]["time"] < 3000):
                    envs.append(evs[j]["data"].get("environment"))
                    j += 1
                reason = d.get("reason") or ""
                m = re.search(r"pipeline run ([0-9a-f]{8})", reason)
                by = ("the controller: every step passed" if e.get("user") == "kiln-deploy"
                      else f"by pipeline run {m.group(1)}" if m else reason)
                if "production" in envs and e.get("user") == "kiln-deploy":
                    what = f"PROMOTED to production by {by} (gates passed)"
                else:
                    what = f"promoted {' -> '.join(envs)}" + (f" ({by})" if by else "")
                    if "canary" in envs and m:
                        what = f"promoted {' -> '.join(envs)} {by}: the rollout starts"
                self.add(t, what, v, hist, "promote")
                i = j
                continue
            elif typ == "promotion.refused":
                rep = d.get("report", {})
                bad = [f"{g.get('detail')} (rule {g.get('rule')})" for g in rep.get("gates", [])
                       if not g.get("passed")]
                self.add(t, f"REFUSED at {d.get('environment')}: {'; '.join(bad)}", v, hist,
                         "refused")
            elif typ == "alias.rolled_back":
                if e.get("user") != "kiln-deploy":  # the controller's: the ROLLED BACK row
                    self.add(t, f"{d.get('environment')} rolled back from "
                             f"v{d.get('from_version')} to v{d.get('to_version')}",
                             f"v{d.get('from_version')}", hist, "alias_rollback")
            elif typ == "deployment.started":
                self.add(t, f"rollout {d.get('rollout')} started: canary at "
                         f"{d.get('weight'):g} % against v{d.get('stable_version')}", v,
                         f"kiln deploy history {a.deployment}", "rollout")
            elif typ == "deployment.step_advanced":
                self.add(t, f"rollout {d.get('rollout')}: step {d.get('step')} passed "
                         f"({passed_quality(d.get('analysis'))}) -> {d.get('weight'):g} %", v,
                         f"kiln deploy history {a.deployment} --rollout {d.get('rollout')}",
                         "step")
            elif typ == "deployment.rolled_back":
                where = f"kiln deploy history {a.deployment} --rollout {d.get('rollout')}"
                fc, off = d.get("failed_check_time"), d.get("traffic_off_time")
                self.add(fc, f"analysis FAILED at step {int(d.get('step', 0)) + 1}: "
                         f"{failed_metrics(d.get('analysis')) or d.get('reason')}", v, where,
                         "failed_check")
                ms = f"{off - fc} ms after the failed check" if fc and off else ""
                self.add(off, f"ROLLED BACK: candidate traffic zero {ms}; canary alias "
                         f"back to v{d.get('stable_version')} (audited)", v,
                         where + f"; kiln models history {a.model}", "rolled_back")
                if fc and off:
                    self.figures.append(("failed check -> zero candidate traffic",
                                         f"{off - fc} ms"))
            elif typ == "deployment.promoted":
                pass  # the alias.moved to production by the controller says it
            elif typ == "alert.fired":
                runs = d.get("pipeline_runs") or []
                self.add(t, f"ALERT {d.get('rule')} fired: {d.get('summary')}"
                         + (f" -> pipeline run {runs[0][:8]}" if runs else ""),
                         f"v{d['evidence']['version']}" if isinstance(d.get("evidence"), dict)
                         and d["evidence"].get("version") else "-",
                         f"kiln deploy alerts {a.deployment}", "alert_fired")
            elif typ == "alert.resolved":
                self.add(t, f"alert {d.get('rule')} resolved", "-",
                         f"kiln deploy alerts {a.deployment}", "alert_resolved")
            i += 1

    def from_pipelines(self):
        a = self.a
        try:
            runs = get(a.url, f"/api/kiln/v1/pipelines/{urllib.parse.quote(a.pipeline)}/runs"
                       "?max_results=100").get("runs", [])
        except (OSError, ValueError):
            return
        for r in runs:
            detail = get(a.url, f"/api/kiln/v1/pipeline-runs/{r['run_id']}").get("run", r)
            tasks = {t["task"]: t for t in detail.get("tasks", [])}
            why = tasks.get("why", {})
            if why.get("state") == "skipped":
                self.skipped_runs += 1
                continue
            short = r["run_id"][:8]
            where = f"kiln pipeline status {short}"
            info = r.get("trigger_info") or {}
            if r.get("trigger") == "drift":
                by = "the drift alert"
                ev = info.get("evidence") or {}
                if ev.get("drift_share") is not None:
                    by += f" (drift share {fmt(ev['drift_share'], 2)}: {ev.get('drifted_columns')})"
            elif r.get("trigger") == "alias":
                by = f"the canary rollback ({info.get('event_type', 'alias event')})"
            else:
                by = r.get("trigger", "?")
            self.add(r.get("start_time") or r.get("created_time"),
                     f"pipeline run {short} started by {by}", "-", where, "pipeline_start")
            out = {k: (t.get("outputs") or {}) for k, t in tasks.items()}
            fault = out.get("collect", {}).get("fault", "none")
            if fault != "none":
                self.add(tasks["collect"].get("end_time"),
                         f"  collect: FAULT INJECTED ({fault}) in the labelled export", "-",
                         where + " (task collect)", "fault")
            ver = out.get("register", {}).get("version")
            v = f"v{ver}" if ver else "-"
            steps = []
            if "validate" in out and out["validate"].get("valid"):
                steps.append(f"valid {out['validate']['valid']}")
            if "drift" in out and out["drift"].get("dataset_drift"):
                steps.append(f"drift {out['drift']['dataset_drift']}")
            if "evaluate" in out and out["evaluate"].get("roc_auc"):
                steps.append(f"holdout roc_auc {fmt(out['evaluate']['roc_auc'])}")
            self.add(r.get("end_time"), f"pipeline run {short} {r['state']}: "
                     + ", ".join(steps + ([f"{v} -> canary"] if ver else [])), v, where,
                     "pipeline_end")

    def from_local(self, path, status):
        """Rows the demo noted itself (time|what|version|where) and the generator's shift."""
        if path and os.path.exists(path):
            with open(path) as f:
                for line in f:
                    parts = line.rstrip("\n").split("|")
                    if len(parts) == 4 and parts[0].isdigit():
                        self.add(int(parts[0]), parts[1], parts[2], parts[3], "local")
        if status and status.get("shift_started_ms"):
            self.add(status["shift_started_ms"], "the customers start to change (distribution "
                     "shift, 2 s ramp)", "-", "generator (data/status.json)", "shift")

    def build(self, status=None):
        self.from_local(self.a.local, status)
        self.from_tracking()
        self.from_events()
        self.from_pipelines()
        self.rows.sort(key=lambda r: r[0])
        return self.rows

    def print(self, status):
        t0 = self.a.t0
        head = ("TIME", "WHAT", "VERSION", "RECORDED IN")
        cells = [(f"+{(t - t0) / 1000:.1f}s", what, v, where) for t, what, v, where, _ in
                 self.rows]
        widths = [max(len(head[c]), *(len(r[c]) for r in cells)) if cells else len(head[c])
                  for c in range(4)]
        widths[1] = min(widths[1], 100)
        def line(r):
            what = r[1] if len(r[1]) <= widths[1] else r[1][:widths[1] - 3] + "..."
            return (f"{r[0]:>{widths[0]}}  {what:<{widths[1]}}  {r[2]:<{widths[2]}}  "
                    f"{r[3]}").rstrip()
        print(line(head))
        print(line(tuple("─" * w for w in widths)))
        for r in cells:
            print(line(r))
        if self.skipped_runs:
            print(f"({self.skipped_runs} pipeline run(s) started by the pipeline's own moves of "
                  "the canary alias skipped themselves: see kiln pipeline list "
                  f"{self.a.pipeline})")
        shift = status.get("shift_started_ms") if status else None
        first = lambda kind: next((r[0] for r in self.rows if r[4] == kind), None)
        drift_alert = next((r[0] for r in self.rows if r[4] == "alert_fired"
                            and "drift" in r[1].lower()), None)
        if shift and drift_alert:
            self.figures.insert(0, ("drift onset -> drift alert",
                                    f"{(drift_alert - shift) / 1000:.1f} s"))
        canary = first("rollout")
        if drift_alert and canary:
            self.figures.insert(1 if shift else 0, ("drift alert -> retrained version in canary",
                                                    f"{(canary - drift_alert) / 1000:.1f} s"))
        if self.figures:
            print()
            w = max(len(k) for k, _ in self.figures)
            for k, val in self.figures:
                print(f"  {k:<{w}}  {val}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--deployment", required=True)
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--t0", type=int, required=True)
    ap.add_argument("--work")
    ap.add_argument("--json")
    ap.add_argument("--local", help="rows the demo noted: time_ms|what|version|where per line")
    a = ap.parse_args()
    a.url = a.url.rstrip("/")
    status = None
    if a.work:
        try:
            with open(os.path.join(a.work, "data", "status.json")) as f:
                status = json.load(f)
        except (OSError, ValueError):
            status = None
    tl = Timeline(a)
    rows = tl.build(status)
    tl.print(status)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"t0": a.t0, "rows": [{"time": t, "what": w, "version": v, "where": wh,
                                              "kind": k} for t, w, v, wh, k in rows],
                       "figures": dict(tl.figures), "skipped_runs": tl.skipped_runs}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
