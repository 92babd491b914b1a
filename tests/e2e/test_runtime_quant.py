"""INT8 quantization of MLPs (src/runtime/quant.h through rt_tool quantize): the int8 model
directory loads and runs, its predictions stay close to scikit-learn's, and the drift report
(agreement, max |delta probability|) matches what we measure independently from the two
models' outputs."""
import json
import os
import unittest
import warnings

import numpy as np

from rt_helpers import TempDirs, csv_text, info, predict, rt_tool

from export_sklearn import export
from sklearn.datasets import load_diabetes, load_digits
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

warnings.filterwarnings("ignore")


class Quantization(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dirs = TempDirs()

    @classmethod
    def tearDownClass(cls):
        cls.dirs.cleanup()

    def quantize(self, src, X, *extra):
        out = self.dirs.new()
        p = rt_tool("quantize", src, out, *extra, input=csv_text(X))
        return out, json.loads(p.stdout)

    def test_classifier_drift_report(self):
        X, y = load_digits(return_X_y=True)
        est = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(128, 64),
                                                            max_iter=200, random_state=0))
        est.fit(X, y)
        src = self.dirs.new()
        export(est, src)
        out, rep = self.quantize(src, X)
        self.assertEqual(rep["source_engine"], "mlp-float64")
        self.assertEqual(rep["engine"], "mlp-int8")
        self.assertEqual(info(out)["engine"], "mlp-int8")
        self.assertEqual(rep["calibration_rows"], len(X))
        # The report matches the two models' own outputs.
        a = predict(src, X)
        b = predict(out, X)
        self.assertAlmostEqual(rep["agreement"], float(np.mean(a[:, 0] == b[:, 0])), places=12)
        self.assertAlmostEqual(rep["max_abs_delta_proba"],
                               float(np.max(np.abs(a[:, 1:] - b[:, 1:]))), places=12)
        # And int8 stays close to scikit-learn itself.
        self.assertGreaterEqual(rep["agreement"], 0.995)
        self.assertLess(rep["max_abs_delta_proba"], 0.05)
        self.assertGreater(float(np.mean(est.classes_[b[:, 0].astype(int)] == est.predict(X))),
                           0.995)
        self.assertLess(rep["bytes"], rep["source_bytes"] / 3)
        self.assertGreater(rep["speedup"], 0)

    def test_regressor_and_float32(self):
        X, y = load_diabetes(return_X_y=True)
        est = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(64,),
                                                           max_iter=500, random_state=0))
        est.fit(X, y)
        src = self.dirs.new()
        export(est, src)
        out, rep = self.quantize(src, X)
        a, b = predict(src, X)[:, 0], predict(out, X)[:, 0]
        self.assertAlmostEqual(rep["max_abs_delta_value"], float(np.max(np.abs(a - b))),
                               places=9)
        self.assertLess(rep["max_rel_delta_value"], 0.05)
        out32, rep32 = self.quantize(src, X, "--dtype", "float32")
        self.assertEqual(rep32["engine"], "mlp-float32")
        self.assertLess(rep32["max_rel_delta_value"], 1e-5)

    def test_refusals(self):
        X, y = load_digits(return_X_y=True)
        tree = self.dirs.new()
        export(DecisionTreeClassifier(max_depth=2).fit(X, y), tree)
        out = self.dirs.new()
        p = rt_tool("quantize", tree, out, input=csv_text(X[:5]), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not an MLP", p.stderr)
        self.assertFalse(os.path.exists(out))
        est = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20).fit(X, y)
        src = self.dirs.new()
        export(est, src)
        os.makedirs(out)
        p = rt_tool("quantize", src, out, input=csv_text(X[:5]), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("already exists", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
