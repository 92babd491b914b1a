"""End-to-end tests of `kiln profile`, `kiln validate` and `kiln drift` on real files.

Drift numbers are compared with SciPy in the same run (the reference implementation in
tests/unit/quality/drift_reference.py, which follows drift-semantics.md with NumPy/SciPy).
"""
import json
import math
import os
import random
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest  # noqa: E402
from kilntest import run_kiln  # noqa: E402

sys.path.insert(0, os.path.join(kilntest.SRC, "tests", "unit", "quality"))
try:
    import drift_reference  # noqa: E402  (needs numpy and scipy)
except ImportError:  # pragma: no cover - the Debian python3 has them
    drift_reference = None


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")


def batch(n, seed, shift=0.0, cities=("Paris", "Lyon", "Nice"), missing_every=23):
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        age = None if i % missing_every == 0 else rnd.randint(18, 80)
        income = round(rnd.gauss(50000 + shift * 10000, 12000), 2)
        score = repr(rnd.random() + shift)
        rows.append([i + 1, age, rnd.choice(cities), income, score,
                     "2024-0%d-1%d" % (1 + i % 9, i % 10)])
    return ["id", "age", "city", "income", "score", "day"], rows


class QualityTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kiln-quality-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def make(self, name, n, seed, **kw):
        header, rows = batch(n, seed, **kw)
        write_csv(self.path(name), header, rows)
        return header, rows

    def test_profile(self):
        header, rows = self.make("train.csv", 3000, 1)
        code, out, err = run_kiln("profile", self.path("train.csv"), "--out",
                                  self.path("p.json"))
        self.assertEqual(code, 0, err)
        self.assertIn("profiled 3000 rows x 6 columns", out)
        with open(self.path("p.json")) as f:
            prof = json.load(f)
        cols = {c["name"]: c for c in prof["columns"]}
        self.assertEqual(cols["age"]["type"], "integer")
        self.assertEqual(cols["city"]["type"], "string")
        self.assertEqual(cols["score"]["type"], "float")
        self.assertEqual(cols["day"]["type"], "timestamp")
        ages = [r[1] for r in rows if r[1] is not None]
        self.assertEqual(cols["age"]["missing"], 3000 - len(ages))
        mean = sum(ages) / len(ages)
        self.assertAlmostEqual(cols["age"]["numeric"]["mean"], mean, places=9)
        sd = math.sqrt(sum((a - mean) ** 2 for a in ages) / (len(ages) - 1))
        self.assertAlmostEqual(cols["age"]["numeric"]["std"], sd, places=9)
        self.assertEqual(cols["age"]["numeric"]["min"], min(ages))
        self.assertTrue(cols["city"]["distinct_exact"])
        self.assertEqual(cols["city"]["distinct"], 3)
        # --json prints the same document to stdout
        code, out, err = run_kiln("profile", self.path("train.csv"), "--json")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["source"]["rows"], 3000)

    def test_input_errors(self):
        with open(self.path("bad.csv"), "w") as f:
            f.write('a,b\n1,2\n3,"x"y\n')
        code, out, err = run_kiln("profile", self.path("bad.csv"))
        self.assertEqual(code, 2)
        self.assertIn("bad.csv: line 3, column 6: unexpected 'y' after a closing quote", err)
        self.assertEqual(err.count("\n"), 1)
        code, _, err = run_kiln("drift", "--reference", self.path("bad.csv"))
        self.assertEqual(code, 2)
        self.assertIn("--reference and --current are required", err)
        code, _, err = run_kiln("drift", "--reference", self.path("nope.csv"), "--current",
                                self.path("bad.csv"))
        self.assertEqual(code, 2)
        self.assertIn("nope.csv: cannot open", err)
        self.make("a.csv", 50, 3)
        code, _, err = run_kiln("drift", "--reference", self.path("a.csv"), "--current",
                                self.path("a.csv"), "--method", "magic")
        self.assertEqual(code, 2)
        self.assertIn("unknown --method 'magic'", err)
        code, _, err = run_kiln("drift", "--reference", self.path("a.csv"), "--current",
                                self.path("a.csv"), "--bins", "quantile:x")
        self.assertEqual(code, 2)
        code, _, err = run_kiln("drift", "--reference", self.path("a.csv"), "--current",
                                self.path("a.csv"), "--columns", "age,zzz")
        self.assertEqual(code, 2)
        self.assertIn("column 'zzz' is not in the reference", err)

    @unittest.skipIf(drift_reference is None, "needs numpy and scipy")
    def test_drift_matches_scipy(self):
        for n_ref, n_cur, shift in [(800, 900, 0.0), (5000, 4000, 0.3)]:
            header, ref = self.make("ref.csv", n_ref, 10 + n_ref, shift=0.0)
            _, cur = self.make("cur.csv", n_cur, 20 + n_cur, shift=shift,
                               cities=("Paris", "Lyon", "Nice", "Lille"))
            code, out, err = run_kiln("drift", "--reference", self.path("ref.csv"),
                                      "--current", self.path("cur.csv"), "--json")
            self.assertIn(code, (0, 1), err)
            res = json.loads(out)
            self.assertEqual(res["dataset_drift"], code == 1)
            self.assertEqual([s["name"] for s in res["skipped_columns"]], ["day"])
            got = {c["name"]: c for c in res["columns"]}
            for idx, name in enumerate(header):
                if name == "day":
                    continue
                kind = "categorical" if name == "city" else "numeric"
                r = [row[idx] for row in ref]
                c = [row[idx] for row in cur]
                if kind == "numeric":
                    r = [None if v is None else float(v) for v in r]
                    c = [None if v is None else float(v) for v in c]
                want = drift_reference.column(r, c, kind)
                col = got[name]
                self.assertEqual(col["method"], want["method"], name)
                self.assertEqual(col["drifted"], want["drifted"], name)
                for key, value in want["stats"].items():
                    mine = col["stats"][key]
                    if mine == "Infinity":
                        mine = math.inf
                    if value is None or (isinstance(value, float) and math.isinf(value)):
                        self.assertEqual(mine, value, (name, key))
                        continue
                    tol = 1e-6 * abs(value) + 1e-12 if "p_value" in key else \
                        1e-9 * abs(value) + 1e-15
                    self.assertLessEqual(abs(mine - value), tol, (name, key, mine, value))
            # --html: self-contained
            code, out, err = run_kiln("drift", "--reference", self.path("ref.csv"),
                                      "--current", self.path("cur.csv"), "--html")
            self.assertIn(code, (0, 1), err)
            self.assertIn("<svg", out)
            self.assertNotIn("http", out)
            self.assertNotIn("<script", out)

    def test_drift_exit_codes_and_profile_reference(self):
        self.make("ref.csv", 3000, 5)
        self.make("same.csv", 3000, 6)
        self.make("shifted.csv", 3000, 7, shift=2.0, cities=("Berlin", "Rome"))
        code, out, err = run_kiln("drift", "--reference", self.path("ref.csv"), "--current",
                                  self.path("same.csv"))
        self.assertEqual(code, 0, out + err)
        self.assertIn("dataset drift: no", out)
        code, out, err = run_kiln("drift", "--reference", self.path("ref.csv"), "--current",
                                  self.path("shifted.csv"))
        self.assertEqual(code, 1, out + err)
        self.assertIn("dataset drift: YES", out)
        # A profile as the reference (quantile bins from the sketch).
        code, _, err = run_kiln("profile", self.path("ref.csv"), "--out", self.path("ref.json"))
        self.assertEqual(code, 0, err)
        code, out, err = run_kiln("drift", "--reference", self.path("ref.json"), "--current",
                                  self.path("shifted.csv"), "--json")
        self.assertEqual(code, 1, err)
        res = json.loads(out)
        drifted = {c["name"] for c in res["columns"] if c["drifted"]}
        self.assertTrue({"income", "score", "city"} <= drifted, drifted)
        self.assertNotIn("age", drifted)
        self.assertEqual({c["bins"]["kind"] for c in res["columns"] if c["type"] == "numeric"
                          and c["name"] != "age"}, {"quantile"})
        # Overrides: one method and threshold for everything, a column-specific one.
        code, out, err = run_kiln("drift", "--reference", self.path("ref.csv"), "--current",
                                  self.path("same.csv"), "--method", "psi", "--threshold",
                                  "0.5", "--column-method", "city=chisquare",
                                  "--columns", "income,city", "--json", "--out",
                                  self.path("d.json"))
        self.assertEqual(code, 0, err)
        with open(self.path("d.json")) as f:
            res = json.load(f)
        self.assertEqual([(c["name"], c["method"]) for c in res["columns"]],
                         [("income", "psi"), ("city", "chisquare")])
        self.assertEqual(res["columns"][0]["threshold"], 0.5)

    def test_validate(self):
        self.make("train.csv", 2000, 11)
        self.make("good.csv", 1500, 12)
        header, rows = batch(400, 13, shift=3.0, cities=("Paris", "Lyon", "Nice", "Gotham"))
        rows[5][1] = -4
        rows[9][0] = rows[8][0]
        write_csv(self.path("bad.csv"), header, rows)
        code, _, err = run_kiln("profile", self.path("train.csv"), "--out",
                                self.path("p.json"))
        self.assertEqual(code, 0, err)
        code, out, err = run_kiln("validate", self.path("good.csv"), "--profile",
                                  self.path("p.json"))
        self.assertEqual(code, 0, out + err)
        self.assertIn("PASSED", out)
        code, out, err = run_kiln("validate", self.path("bad.csv"), "--profile",
                                  self.path("p.json"), "--json")
        self.assertEqual(code, 1, err)
        res = json.loads(out)
        self.assertFalse(res["success"])
        st = res["statistics"]
        self.assertEqual(st["evaluated_expectations"],
                         st["successful_expectations"] + st["unsuccessful_expectations"])
        failed = {(r["expectation_config"]["type"], r["expectation_config"]["kwargs"].get(
            "column")): r for r in res["results"] if not r["success"]}
        between = failed[("expect_column_values_to_be_between", "age")]["result"]
        self.assertEqual(between["partial_unexpected_list"], ["-4"])
        self.assertEqual(between["partial_unexpected_index_list"], [7])  # header is line 1
        in_set = failed[("expect_column_values_to_be_in_set", "city")]["result"]
        self.assertTrue(all(v == "Gotham" for v in in_set["partial_unexpected_list"]))
        self.assertIn(("expect_column_to_not_drift", "income"), failed)
        # --suggest writes YAML that kiln reads back, and that PyYAML reads the same way
        code, out, err = run_kiln("validate", "--suggest", "--profile", self.path("p.json"),
                                  "--out", self.path("s.yaml"))
        self.assertEqual(code, 0, err)
        try:
            import yaml
            with open(self.path("s.yaml")) as f:
                suite = yaml.safe_load(f)
            self.assertEqual(suite["expectations"][0]["column_set"], header)
        except ImportError:
            pass
        code, out, err = run_kiln("validate", self.path("good.csv"), "--expectations",
                                  self.path("s.yaml"), "--profile", self.path("p.json"),
                                  "--html", "--out", self.path("r.html"))
        self.assertEqual(code, 0, err)
        with open(self.path("r.html")) as f:
            html = f.read()
        self.assertEqual(html.count("<svg"), 6)
        self.assertNotIn("http", html)

    def test_expectations_file_errors(self):
        self.make("d.csv", 20, 1)
        with open(self.path("e.yaml"), "w") as f:
            f.write("expectations:\n"
                    "  - type: expect_column_values_to_be_between\n"
                    "    column: age\n"
                    "    min_value: [1\n")
        code, _, err = run_kiln("validate", self.path("d.csv"), "--expectations",
                                self.path("e.yaml"))
        self.assertEqual(code, 2)
        self.assertIn("e.yaml: line 5", err)
        with open(self.path("e.yaml"), "w") as f:
            f.write("expectations:\n"
                    "  - type: expect_column_values_to_be_between\n"
                    "    column: age\n"
                    "    minimum: 3\n")
        code, _, err = run_kiln("validate", self.path("d.csv"), "--expectations",
                                self.path("e.yaml"))
        self.assertEqual(code, 2)
        self.assertIn("e.yaml: line 4: unknown parameter 'minimum'", err)
        with open(self.path("e.yaml"), "w") as f:
            f.write("expectations:\n"
                    "  - {type: expect_column_values_to_not_be_null, column: age}\n"
                    "  - {type: expect_column_values_to_be_unique, column: id}\n")
        code, out, err = run_kiln("validate", self.path("d.csv"), "--expectations",
                                  self.path("e.yaml"))
        self.assertEqual(code, 1, err)
        self.assertIn("line 2: (missing)", out)  # the first row has no age

    def test_jsonl(self):
        with open(self.path("a.jsonl"), "w") as f:
            for i in range(300):
                f.write(json.dumps({"x": i % 17, "c": "ab"[i % 2], "n": None}) + "\n")
        with open(self.path("b.jsonl"), "w") as f:
            for i in range(300):
                f.write(json.dumps({"x": (i % 17) + 40, "c": "ab"[i % 2], "n": None}) + "\n")
        code, out, err = run_kiln("drift", "--reference", self.path("a.jsonl"), "--current",
                                  self.path("b.jsonl"), "--json")
        self.assertEqual(code, 1, err)
        res = json.loads(out)
        cols = {c["name"]: c for c in res["columns"]}
        self.assertTrue(cols["x"]["drifted"])
        self.assertFalse(cols["c"]["drifted"])
        self.assertIsNotNone(cols["n"]["error"])  # empty on both sides
        self.assertEqual(res["number_of_columns"], 2)


if __name__ == "__main__":
    kilntest.main()
