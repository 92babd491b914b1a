"""`kiln quantize` as a real process: an MLP exported from scikit-learn becomes an int8 model
folder that `kiln predict` runs, the report's agreement and |delta p| are recomputed here from
both models' predictions, --min-agreement gates (exit 1 below it, after the float32-output
retry), and non-MLP models, existing output folders and bad calibration files are refused."""
import csv
import json
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import main  # noqa: E402
from servelib import export, iris, run_cli  # noqa: E402


def predictions(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    labels = np.array([r["prediction"] for r in rows])
    proba = np.array([[float(v) for k, v in r.items() if k.startswith("proba_")] for r in rows])
    return labels, proba


class Quantize(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from sklearn.datasets import load_digits
        from sklearn.neural_network import MLPClassifier
        from sklearn.tree import DecisionTreeClassifier
        cls.tmp = tempfile.mkdtemp(prefix="kiln-quantize-")
        X, y = load_digits(return_X_y=True)
        cls.names = [f"p{i}" for i in range(64)]
        mlp = MLPClassifier(hidden_layer_sizes=(96, 96), max_iter=200, random_state=0).fit(X, y)
        cls.mlp_dir = export(mlp, os.path.join(cls.tmp, "mlp"), cls.names, cls.tmp)
        cls.calib = os.path.join(cls.tmp, "calib.csv")
        with open(cls.calib, "w") as f:
            f.write(",".join(cls.names) + "\n")
            f.write("\n".join(",".join(str(v) for v in r) for r in X.tolist()) + "\n")
        # Random labels: near-ties everywhere, so int8 flips some predictions.
        rng = np.random.default_rng(0)
        Xn = rng.normal(size=(2000, 12))
        noise = MLPClassifier(hidden_layer_sizes=(48,), max_iter=40, random_state=0).fit(
            Xn, rng.integers(0, 4, 2000))
        cls.noise_dir = export(noise, os.path.join(cls.tmp, "noise"),
                               [f"x{i}" for i in range(12)], cls.tmp)
        cls.noise_csv = os.path.join(cls.tmp, "noise.csv")
        with open(cls.noise_csv, "w") as f:
            f.write(",".join(f"x{i}" for i in range(12)) + "\n")
            f.write("\n".join(",".join(repr(v) for v in r) for r in Xn.tolist()) + "\n")
        Xi, yi, inames = iris()
        cls.tree_dir = export(DecisionTreeClassifier().fit(Xi, yi), os.path.join(cls.tmp, "tree"),
                              inames, cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_int8_model_and_report(self):
        out = os.path.join(self.tmp, "mlp-int8")
        rc, stdout, err = run_cli("quantize", self.mlp_dir, "--calibration", self.calib, "--out",
                                  out, "--min-agreement", "0.99", "--json", "--bench-ms", "50")
        self.assertEqual(rc, 0, err)
        rep = json.loads(stdout)
        self.assertEqual((rep["source_engine"], rep["engine"]), ("mlp-float64", "mlp-int8"))
        self.assertEqual(rep["calibration_rows"], 1797)
        self.assertGreater(rep["speedup"], 0)
        self.assertLess(rep["bytes"], rep["source_bytes"])
        # Recompute the drift from both models' own predictions.
        for name, d in (("src", self.mlp_dir), ("dst", out)):
            rc, _, err = run_cli("predict", d, "--input", self.calib, "--output",
                                 os.path.join(self.tmp, f"{name}.csv"), "--quiet")
            self.assertEqual(rc, 0, err)
        ls, ps = predictions(os.path.join(self.tmp, "src.csv"))
        ld, pd = predictions(os.path.join(self.tmp, "dst.csv"))
        self.assertAlmostEqual(rep["agreement"], float(np.mean(ls == ld)), delta=1e-12)
        self.assertAlmostEqual(rep["max_abs_delta_proba"], float(np.abs(ps - pd).max()),
                               delta=1e-6)
        self.assertGreaterEqual(rep["agreement"], 0.99)
        # The table form.
        rc, stdout, err = run_cli("quantize", self.mlp_dir, "--calibration", self.calib, "--out",
                                  os.path.join(self.tmp, "mlp-int8-b"), "--bench-ms", "20")
        self.assertEqual(rc, 0, err)
        for word in ("agreement", "max |dp|", "batch, per row", "single row"):
            self.assertIn(word, stdout)

    def test_gate_fails_below_min_agreement(self):
        out = os.path.join(self.tmp, "noise-int8")
        rc, stdout, err = run_cli("quantize", self.noise_dir, "--calibration", self.noise_csv,
                                  "--out", out, "--min-agreement", "0.99999", "--json",
                                  "--bench-ms", "20")
        self.assertEqual(rc, 1, err)
        rep = json.loads(stdout)
        self.assertLess(rep["agreement"], 0.99999)
        self.assertTrue(rep["output_layer_float32"])
        self.assertIn("below the gate", err)
        # Without a gate the same model passes.
        rc, _, err = run_cli("quantize", self.noise_dir, "--calibration", self.noise_csv,
                             "--out", out + "-nogate", "--bench-ms", "20")
        self.assertEqual(rc, 0, err)

    def test_refusals(self):
        out = os.path.join(self.tmp, "never")
        cases = [((self.tree_dir, "--calibration", self.calib), "not a kiln MLP"),
                 ((self.mlp_dir, "--calibration", self.calib, "--min-agreement", "2"),
                  "--min-agreement"),
                 ((self.mlp_dir, "--calibration", self.noise_csv), "missing input 'p0'"),
                 ((self.mlp_dir, "--calibration", self.calib, "--dtype", "int4"), "--dtype")]
        for args, frag in cases:
            rc, _, err = run_cli("quantize", *args, "--out", out)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn(frag, err, args)
            self.assertFalse(os.path.exists(out))
        os.makedirs(out)
        rc, _, err = run_cli("quantize", self.mlp_dir, "--calibration", self.calib, "--out", out)
        self.assertEqual(rc, 2)
        self.assertIn("exists", err)


if __name__ == "__main__":
    main()
