"""runs/search and the metric-history views through HTTP, checked against a Python model of
MLflow's semantics (mlflow-api.md §6 and §8) and a transcription of MLflow's step sampling for
get-history-bulk-interval (mlflow/server/handlers.py, _get_sampled_steps_from_steps)."""
import bisect
import fnmatch
import math
import random
import re
import unittest

from kilntest import KilnServer, main


def like(pattern, value, icase):
    """SQL LIKE: % any run, _ one character, no escape."""
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S | (re.I if icase else 0)) is not None


class Model:
    """The runs as logged, and MLflow's filter/order semantics over them."""

    def __init__(self):
        self.runs = []

    def cmp_num(self, have, op, x):
        if have is None:
            return False
        if math.isnan(have):
            return op == "!="
        return {"=": have == x, "!=": have != x, "<": have < x, "<=": have <= x,
                ">": have > x, ">=": have >= x}[op]

    def cmp_str(self, have, op, x):
        if have is None:
            return False
        if op == "=":
            return have == x
        if op == "!=":
            return have != x
        if op == "LIKE":
            return like(x, have, False)
        if op == "ILIKE":
            return like(x, have, True)
        if op == "IN":
            return have in x
        return have not in x

    def select(self, clauses, view="ACTIVE_ONLY"):
        out = []
        for r in self.runs:
            if view == "ACTIVE_ONLY" and r["deleted"] or view == "DELETED_ONLY" and not r["deleted"]:
                continue
            ok = True
            for kind, key, op, x in clauses:
                if kind == "metric":
                    ok = self.cmp_num(r["metrics"].get(key), op, x)
                elif kind == "param":
                    ok = self.cmp_str(r["params"].get(key), op, x)
                elif kind == "tag":
                    ok = self.cmp_str(r["tags"].get(key), op, x)
                elif key in ("start_time", "end_time"):
                    ok = self.cmp_num(r[key], op, x)
                else:
                    ok = self.cmp_str(r[key], op, x)
                if not ok:
                    break
            if ok:
                out.append(r)
        return out

    def order(self, runs, orders):
        def key(r):
            k = []
            for kind, name, desc in orders:
                v = (r["metrics"] if kind == "metric" else r["params"] if kind == "param"
                     else r["tags"] if kind == "tag" else r).get(name)
                if v is None:
                    k.append((2, 0))
                elif isinstance(v, float) and math.isnan(v):
                    k.append((1, 0))
                elif isinstance(v, str):
                    # Byte order (SQLite's BINARY collation); negate for DESC.
                    b = v.encode()
                    k.append((0, tuple(-c for c in b) + (1,) if desc else tuple(b)))
                else:
                    k.append((0, -v if desc else v))
            names = [o[1] for o in orders if o[0] == "attr"]
            if "start_time" not in names:
                k.append((0, -r["start_time"]))
            if "run_id" not in names:
                k.append((0, r["run_id"]))
            return k
        return sorted(runs, key=key)


class Search(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()
        s = cls.srv
        rng = random.Random(7)
        cls.exp = s.ok("POST", "/experiments/create", {"name": "grid"})["experiment_id"]
        cls.model = Model()
        for i in range(60):
            start = 1000 + rng.randrange(20)
            name = f"trial-{i:02d}"
            team = rng.choice([None, "vision", "nlp", "Vision"])
            tags = [{"key": "team", "value": team}] if team else []
            rid = s.ok("POST", "/runs/create", {"experiment_id": cls.exp, "run_name": name,
                                                 "start_time": start, "user_id":
                                                 rng.choice(["ann", "bob"]), "tags": tags}
                       )["run"]["info"]["run_id"]
            metrics, params, mvals, pvals = [], [], {}, {}
            for key in ("acc", "loss"):
                if rng.random() < 0.75:
                    v = rng.choice([0.1, 0.3, 0.5, 0.5, 0.7, 0.9, float("nan"), float("inf"),
                                    float("-inf"), rng.random()])
                    metrics.append({"key": key, "value": "NaN" if math.isnan(v) else
                                    "Infinity" if v == math.inf else
                                    "-Infinity" if v == -math.inf else v,
                                    "timestamp": 10, "step": 3})
                    # An older, lower-step value that must not be the latest.
                    metrics.append({"key": key, "value": 42.0, "timestamp": 99, "step": 1})
                    mvals[key] = v
            for key, choices in (("lr", ["0.1", "0.01", "0.001"]), ("opt", ["adam", "Adam", "sgd"])):
                if rng.random() < 0.7:
                    pvals[key] = rng.choice(choices)
                    params.append({"key": key, "value": pvals[key]})
            s.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": metrics, "params": params})
            status, end = "RUNNING", None
            if rng.random() < 0.5:
                status, end = rng.choice(["FINISHED", "FAILED"]), 2000 + rng.randrange(9)
                s.ok("POST", "/runs/update", {"run_id": rid, "status": status, "end_time": end})
            deleted = rng.random() < 0.1
            if deleted:
                s.ok("POST", "/runs/delete", {"run_id": rid})
            tagmap = {"mlflow.runName": name}
            if team:
                tagmap["team"] = team
            cls.model.runs.append({"run_id": rid, "run_name": name, "start_time": start,
                                   "end_time": end, "status": status, "deleted": deleted,
                                   "metrics": mvals, "params": pvals, "tags": tagmap})

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def search(self, filt, order_by, view="ACTIVE_ONLY", page=None):
        ids, token = [], None
        while True:
            req = {"experiment_ids": [self.exp], "filter": filt, "order_by": order_by,
                   "run_view_type": view}
            if page:
                req["max_results"] = page
            if token:
                req["page_token"] = token
            res = self.srv.ok("POST", "/runs/search", req)
            ids += [r["info"]["run_id"] for r in res.get("runs", [])]
            token = res.get("next_page_token")
            if not token:
                return ids

    def check(self, filt, clauses, order_by=(), orders=(), view="ACTIVE_ONLY"):
        want = [r["run_id"] for r in self.model.order(self.model.select(clauses, view), orders)]
        self.assertEqual(self.search(filt, list(order_by), view), want, (filt, order_by))
        self.assertEqual(self.search(filt, list(order_by), view, page=4), want)

    def test_filters_and_orders(self):
        C = self.check
        C("", [])
        C("", [], view="ALL")
        C("", [], view="DELETED_ONLY")
        C("metrics.acc > 0.4", [("metric", "acc", ">", 0.4)], ["metrics.acc DESC"],
          [("metric", "acc", True)])
        C("metrics.acc <= 0.5 and params.lr = '0.1'",
          [("metric", "acc", "<=", 0.5), ("param", "lr", "=", "0.1")],
          ["metrics.acc ASC"], [("metric", "acc", False)])
        C("metrics.acc != 0.5", [("metric", "acc", "!=", 0.5)], ["metrics.acc DESC"],
          [("metric", "acc", True)])
        C("", [], ["metrics.loss"], [("metric", "loss", False)])
        C("", [], ["metrics.loss DESC", "params.opt"], [("metric", "loss", True),
                                                       ("param", "opt", False)])
        C("params.opt LIKE 'a%'", [("param", "opt", "LIKE", "a%")], ["params.opt DESC"],
          [("param", "opt", True)])
        C("params.opt ILIKE 'A%'", [("param", "opt", "ILIKE", "A%")])
        C("params.lr != '0.01'", [("param", "lr", "!=", "0.01")])
        C("tags.team = 'vision'", [("tag", "team", "=", "vision")])
        C("tags.\"team\" ILIKE 'VISION'", [("tag", "team", "ILIKE", "VISION")],
          ["tags.team DESC"], [("tag", "team", True)])
        C("tags.`mlflow.runName` LIKE 'trial-1_'", [("tag", "mlflow.runName", "LIKE", "trial-1_")],
          ["attributes.run_name DESC"], [("attr", "run_name", True)])
        C("attributes.status = 'FINISHED'", [("attr", "status", "=", "FINISHED")],
          ["end_time DESC"], [("attr", "end_time", True)])
        C("status != 'RUNNING' and end_time >= 2004",
          [("attr", "status", "!=", "RUNNING"), ("attr", "end_time", ">=", 2004)])
        C("created >= 1010", [("attr", "start_time", ">=", 1010)], ["start_time ASC"],
          [("attr", "start_time", False)])
        C("`Run name` LIKE 'trial-0%'", [("attr", "run_name", "LIKE", "trial-0%")], view="ALL")
        some = [r["run_id"] for r in self.model.runs[:5]]
        C("run_id IN (%s)" % ", ".join(f"'{x}'" for x in some),
          [("attr", "run_id", "IN", some)], view="ALL")
        C("run_id NOT IN ('%s')" % some[0], [("attr", "run_id", "NOT IN", [some[0]])])

    def test_results_carry_latest_values(self):
        res = self.srv.ok("POST", "/runs/search", {"experiment_ids": [self.exp],
                                                    "filter": "metrics.acc = 0.9"})
        for run in res.get("runs", []):
            acc = {m["key"]: m for m in run["data"]["metrics"]}["acc"]
            self.assertEqual((acc["value"], acc["step"], acc["timestamp"]), (0.9, 3, 10))


def mlflow_sampled_steps(start_step, end_step, max_results, all_steps):
    """MLflow's _get_sampled_steps_from_steps, transcribed."""
    start_idx = bisect.bisect_left(all_steps, start_step)
    end_idx = bisect.bisect_right(all_steps, end_step)
    if end_idx - start_idx <= max_results:
        return set(all_steps[start_idx:end_idx])
    num_steps = end_idx - start_idx
    interval = num_steps / max_results
    sampled = []
    for i in range(0, max_results):
        idx = start_idx + int(i * interval)
        if idx < num_steps:
            sampled.append(all_steps[idx])
    sampled.append(all_steps[end_idx - 1])
    return set(sampled)


def mlflow_bulk_interval(histories, start_step=None, end_step=None, max_results=2500):
    """The steps MLflow's handler returns for each run (get_metric_history_bulk_interval)."""
    all_runs = [[s for s, _ in h] for h in histories]
    mins_maxes = {x for run in all_runs if run for x in (min(run), max(run))}
    all_steps = sorted({s for run in all_runs for s in run})
    if start_step is None and end_step is None:
        start_step, end_step = 0, (all_steps[-1] if all_steps else 0)
    mins_maxes = {x for x in mins_maxes if start_step <= x <= end_step}
    steps = sorted(mlflow_sampled_steps(start_step, end_step, max_results, all_steps) | mins_maxes)
    return [[(s, v) for s, v in h if s in steps] for h in histories]


class History(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_bulk_interval_matches_mlflow_sampling(self):
        s = self.srv
        rng = random.Random(3)
        runs, histories = [], []
        for n in (300, 57, 0):
            rid = s.ok("POST", "/runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
            steps = sorted(rng.sample(range(-5, 900), n))
            hist = [(st, float(st) / 10) for st in steps]
            for chunk in range(0, len(hist), 500):
                s.ok("POST", "/runs/log-batch", {"run_id": rid, "metrics": [
                    {"key": "loss", "value": v, "timestamp": 1, "step": st}
                    for st, v in hist[chunk:chunk + 500]]})
            runs.append(rid)
            histories.append(hist)
        for args in ({}, {"max_results": 10}, {"max_results": 1},
                     {"start_step": 100, "end_step": 400, "max_results": 20},
                     {"start_step": -5, "end_step": 0, "max_results": 3}):
            q = {"run_ids": runs, "metric_key": "loss", **args}
            res = s.ok("GET", "/metrics/get-history-bulk-interval", q)
            got = [[(m["step"], m["value"]) for m in res.get("metrics", []) if m["run_id"] == r]
                   for r in runs]
            want = mlflow_bulk_interval(histories, args.get("start_step"), args.get("end_step"),
                                        args.get("max_results", 2500))
            self.assertEqual(got, want, args)


if __name__ == "__main__":
    main()
