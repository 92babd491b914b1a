"""`kiln predict` as a real process: predictions equal scikit-learn's (labels and
probabilities, regression values, string categories through a pipeline), rows in order
across workers and blocks, kept columns, JSON Lines in and out, stdin/stdout, errors naming
the line and column (and no output file left behind), a registry URI, and memory that stays
bounded on a file several times larger than it (max RSS measured)."""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KILN_BIN, KilnServer, check_sanitizers, main  # noqa: E402
from servelib import (breast_cancer, export, iris, log_run_model, register, run_cli,  # noqa: E402
                      set_alias)

TOL = 1e-9
ASAN = "asan" in KILN_BIN or "sanit" in KILN_BIN


def write_csv(path, X, names, extra=None):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow((["id"] if extra is not None else []) + list(names))
        for i, row in enumerate(X):
            w.writerow(([extra[i]] if extra is not None else []) +
                       ["" if (isinstance(v, float) and np.isnan(v)) else
                        (repr(float(v)) if isinstance(v, (float, np.floating)) else v) for v in row])


class Predict(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
        cls.tmp = tempfile.mkdtemp(prefix="kiln-predict-")
        X, y, names = breast_cancer()
        cls.X, cls.y, cls.names = X, y, names
        cls.rf = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=1).fit(X, y)
        cls.rf_dir = export(cls.rf, os.path.join(cls.tmp, "rf"), names, cls.tmp)
        Xi, yi, inames = iris()
        cls.hgb = HistGradientBoostingRegressor(max_iter=30).fit(Xi[:, :3], Xi[:, 3])
        cls.hgb_dir = export(cls.hgb, os.path.join(cls.tmp, "hgb"), inames[:3], cls.tmp)
        cls.Xi, cls.inames = Xi, inames
        # A pipeline with a string category and missing values.
        rng = np.random.default_rng(3)
        n = 400
        colors = rng.choice(["red", "green", "blue"], n).astype(object)
        num = rng.normal(size=(n, 2))
        num[rng.random((n, 2)) < 0.1] = np.nan
        Xm = np.empty((n, 3), dtype=object)
        Xm[:, 0], Xm[:, 1], Xm[:, 2] = num[:, 0], num[:, 1], colors
        ym = ((np.nan_to_num(num[:, 0]) > 0) ^ (colors == "red")).astype(int)
        ct = ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), [0, 1]),
                                ("cat", OneHotEncoder(handle_unknown="ignore"), [2])])
        cls.pipe = make_pipeline(ct, LogisticRegression()).fit(Xm, ym)
        cls.pipe_dir = export(cls.pipe, os.path.join(cls.tmp, "pipe"), ["a", "b", "color"],
                              cls.tmp)
        cls.Xm = Xm

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_classifier_rows_in_order(self):
        inp = self.path("cancer.csv")
        ids = [f"r{i}" for i in range(len(self.X))]
        write_csv(inp, self.X, self.names, extra=ids)
        out = self.path("cancer.out.csv")
        rc, _, err = run_cli("predict", self.rf_dir, "--input", inp, "--output", out, "--keep",
                             "id", "--workers", "3", "--block-rows", "7")
        self.assertEqual(rc, 0, err)
        self.assertIn("predicted 569 rows", err)
        with open(out) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(list(rows[0]), ["id", "prediction", "proba_0", "proba_1"])
        self.assertEqual([r["id"] for r in rows], ids)
        self.assertEqual([int(r["prediction"]) for r in rows], self.rf.predict(self.X).tolist())
        got = np.array([[float(r["proba_0"]), float(r["proba_1"])] for r in rows])
        np.testing.assert_allclose(got, self.rf.predict_proba(self.X), atol=TOL)
        self.assertEqual([f for f in os.listdir(self.tmp) if ".tmp-" in f], [])

    def test_regressor_jsonl_and_pipes(self):
        inp = self.path("iris.jsonl")
        with open(inp, "w") as f:
            for row in self.Xi[:, :3]:
                f.write(json.dumps(dict(zip(self.inames[:3], row.tolist()))) + "\n")
        p = subprocess.run([KILN_BIN, "predict", self.hgb_dir, "--input", inp, "--output", "-"],
                           capture_output=True, text=True, timeout=120)
        check_sanitizers(p.stderr, "kiln predict")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "prediction")
        np.testing.assert_allclose([float(v) for v in lines[1:]],
                                   self.hgb.predict(self.Xi[:, :3]), atol=TOL)
        # CSV from stdin, JSON Lines out.
        csv_text = ",".join(self.inames[:3]) + "\n" + "\n".join(
            ",".join(repr(v) for v in r) for r in self.Xi[:5, :3].tolist()) + "\n"
        out = self.path("iris.out.jsonl")
        p = subprocess.run([KILN_BIN, "predict", self.hgb_dir, "--input", "-", "--output", out,
                            "--format", "csv", "--quiet"],
                           input=csv_text, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        with open(out) as f:
            got = [json.loads(line)["prediction"] for line in f]
        np.testing.assert_allclose(got, self.hgb.predict(self.Xi[:5, :3]), atol=TOL)

    def test_pipeline_with_strings_and_missing_values(self):
        inp = self.path("mixed.csv")
        write_csv(inp, self.Xm, ["a", "b", "color"])
        out = self.path("mixed.out.jsonl")
        rc, _, err = run_cli("predict", self.pipe_dir, "--input", inp, "--output", out,
                             "--keep", "color")
        self.assertEqual(rc, 0, err)
        with open(out) as f:
            docs = [json.loads(line) for line in f]
        self.assertEqual([d["color"] for d in docs], self.Xm[:, 2].tolist())
        self.assertEqual([d["prediction"] for d in docs], self.pipe.predict(self.Xm).tolist())
        got = np.array([[d["probabilities"]["0"], d["probabilities"]["1"]] for d in docs])
        np.testing.assert_allclose(got, self.pipe.predict_proba(self.Xm), atol=TOL)

    def test_errors_leave_no_output(self):
        inp = self.path("bad.csv")
        X = self.Xi[:, :3].tolist()
        X[3][1] = "oops"
        with open(inp, "w") as f:
            f.write(",".join(self.inames[:3]) + "\n")
            f.write("\n".join(",".join(str(v) for v in r) for r in X) + "\n")
        out = self.path("never.csv")
        rc, _, err = run_cli("predict", self.hgb_dir, "--input", inp, "--output", out)
        self.assertEqual(rc, 2)
        self.assertIn("bad.csv: line 5, column 'sepal_width': input 'sepal_width' (double) "
                      "expects a number, got 'oops'", err)
        self.assertFalse(os.path.exists(out))
        self.assertEqual([f for f in os.listdir(self.tmp) if ".tmp-" in f], [])
        with open(inp, "w") as f:
            f.write("sepal_length,petal_length\n1,2\n")
        # A required column is missing even though the model handles missing values.
        rc, _, err = run_cli("predict", self.hgb_dir, "--input", inp, "--output", out)
        self.assertEqual(rc, 2)
        self.assertIn("bad.csv: missing input 'sepal_width'", err)
        rc, _, err = run_cli("predict", self.hgb_dir, "--input", inp, "--output", out, "--keep",
                             "nope")
        self.assertIn("no column 'nope' to keep", err)
        rc, _, err = run_cli("predict", self.path("nothing"), "--input", inp, "--output", out)
        self.assertEqual(rc, 2)
        self.assertIn("does not exist", err)
        rc, _, err = run_cli("predict", self.hgb_dir, "--output", out)
        self.assertEqual(rc, 2)

    def test_registry_uri(self):
        with KilnServer() as srv:
            run = log_run_model(srv, self.hgb_dir)
            v = register(srv, "petals", f"runs:/{run}/model", run)
            set_alias(srv, "petals", "champion", v)
            inp = self.path("reg.csv")
            write_csv(inp, self.Xi[:20, :3], self.inames[:3])
            out = self.path("reg.out.csv")
            rc, _, err = run_cli("predict", "models:/petals@champion", "--input", inp, "--output",
                                 out, env={"KILN_TRACKING_URI": srv.base})
            self.assertEqual(rc, 0, err)
            with open(out) as f:
                got = [float(r["prediction"]) for r in csv.DictReader(f)]
            np.testing.assert_allclose(got, self.hgb.predict(self.Xi[:20, :3]), atol=TOL)
            rc, _, err = run_cli("predict", "models:/petals@nope", "--input", inp, "--output",
                                 out, env={"KILN_TRACKING_URI": srv.base})
            self.assertEqual(rc, 2)
            self.assertIn("alias", err.lower())

    def test_memory_stays_bounded_on_a_large_file(self):
        """A ~130 MB file scored with a max RSS well under the file's size."""
        inp = self.path("large.csv")
        rng = np.random.default_rng(5)
        with open(inp, "w") as f:
            f.write(",".join(self.names) + "\n")
            for _ in range(25):
                block = rng.normal(size=(20000, len(self.names))) * self.X.std(0) + self.X.mean(0)
                f.write("\n".join(",".join(f"{v:.5f}" for v in r) for r in block) + "\n")
        size = os.path.getsize(inp)
        self.assertGreater(size, 100e6)
        out = self.path("large.out.csv")
        rc, _, err = run_cli("predict", self.rf_dir, "--input", inp, "--output", out,
                             "--no-proba", timeout=900)
        self.assertEqual(rc, 0, err)
        with open(out) as f:
            n = sum(1 for _ in f) - 1
        self.assertEqual(n, 500000)
        # kiln reports its own peak resident memory (VmHWM); getrusage from Python cannot
        # measure it, as a forked child starts with the parent's pages counted.
        peak = float(re.search(r"peak memory (\d+) MB", err).group(1))
        limit_mb = 400 if ASAN else 64
        self.assertLess(peak, limit_mb, f"peak memory {peak} MB for a {size / 1e6:.0f} MB file")
        os.unlink(inp)
        os.unlink(out)


if __name__ == "__main__":
    main()
