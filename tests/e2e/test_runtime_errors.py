"""Corrupt and hostile model directories are refused at load with a one-line error that names
the file and the field, and nothing crashes: truncated JSON, out-of-range child indices,
cyclic and shared trees, wrong dimensions, huge sizes, bad MLmodel YAML, paths that leave the
model directory, missing files, unsupported flavors."""
import json
import os
import unittest
import warnings

import numpy as np

from rt_helpers import TempDirs, rt_tool

from export_sklearn import export
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

warnings.filterwarnings("ignore")


class HostileModels(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dirs = TempDirs()
        X, y = load_iris(return_X_y=True)
        cls.good = cls.dirs.new()
        export(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), cls.good)
        with open(os.path.join(cls.good, "model.json")) as f:
            cls.doc = json.load(f)
        with open(os.path.join(cls.good, "MLmodel")) as f:
            cls.mlmodel = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.dirs.cleanup()

    def make(self, doc=None, text=None, mlmodel=None):
        d = self.dirs.new()
        os.makedirs(d)
        with open(os.path.join(d, "MLmodel"), "w") as f:
            f.write(self.mlmodel if mlmodel is None else mlmodel)
        with open(os.path.join(d, "model.json"), "w") as f:
            f.write(text if text is not None else json.dumps(doc if doc is not None else self.doc))
        return d

    def refused(self, d, *needles):
        p = rt_tool("info", d, check=False)
        self.assertEqual(p.returncode, 2, p.stdout)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        for n in needles:
            self.assertIn(n, p.stderr)
        return p.stderr

    def tree_doc(self, **changes):
        doc = json.loads(json.dumps(self.doc))
        doc["model"]["trees"][0].update(changes)
        return doc

    def test_good_model_loads(self):
        self.assertEqual(rt_tool("info", self.good).returncode, 0)

    def test_truncated_json(self):
        text = json.dumps(self.doc)
        for cut in (1, len(text) // 3, len(text) - 1):
            with self.subTest(cut=cut):
                self.refused(self.make(text=text[:cut]), "model.json", "line")

    def test_out_of_range_and_cyclic_trees(self):
        t = self.doc["model"]["trees"][0]
        n = len(t["left"])
        left = list(t["left"])
        left[0] = n + 5
        self.refused(self.make(self.tree_doc(left=left)), "tree 0", "out of range")
        left = list(t["left"])
        right = list(t["right"])
        inner = [i for i in range(1, n) if left[i] != -1]
        left[inner[0]] = 1  # points back up at an ancestor: a cycle
        self.refused(self.make(self.tree_doc(left=left)), "tree 0", "node")
        left = list(t["left"])
        right[0] = left[0]  # both children the same subtree
        self.refused(self.make(self.tree_doc(right=right)), "tree 0", "out of range")
        feature = list(t["feature"])
        feature[0] = 10**6
        self.refused(self.make(self.tree_doc(feature=feature)), "splits on feature")

    def test_wrong_dimensions(self):
        t = self.doc["model"]["trees"][0]
        self.refused(self.make(self.tree_doc(value=t["value"][:-1])), "'value'")
        doc = json.loads(json.dumps(self.doc))
        doc["model"]["n_features"] = 5
        self.refused(self.make(doc), "expects 5 features", "give 4")
        doc = json.loads(json.dumps(self.doc))
        doc["classes"] = [0, 1]
        self.refused(self.make(doc), "classes")
        doc = json.loads(json.dumps(self.doc))
        doc["inputs"] = doc["inputs"][:3]
        self.refused(self.make(doc), "features")

    def test_huge_sizes(self):
        doc = json.loads(json.dumps(self.doc))
        doc["model"]["n_outputs"] = 2**62
        self.refused(self.make(doc), "out of range")
        doc = json.loads(json.dumps(self.doc))
        doc["model"] = {"type": "mlp", "n_features": 4, "n_outputs": 3, "link": "softmax",
                        "layers": [{"n_in": 4, "n_out": 2**40, "activation": "relu",
                                    "weights": [], "bias": []}]}
        self.refused(self.make(doc), "out of range")
        doc["model"]["layers"] = [{"n_in": 4, "n_out": 3}] * 1000
        self.refused(self.make(doc), "layers")
        p = rt_tool("info", self.make(text="[" * 100000 + "]" * 100000), check=False)
        self.assertEqual(p.returncode, 2)

    def test_mlmodel_problems(self):
        self.refused(self.make(mlmodel="flavors:\n  kiln: [oops\n"), "MLmodel", "line")
        self.refused(self.make(mlmodel="flavors:\n  sklearn:\n    pickled_model: m.pkl\n"),
                     "no flavor kiln can run", "sklearn")
        self.refused(self.make(mlmodel="flavors:\n  kiln:\n    data: ../../etc/passwd\n"),
                     "'data'")
        self.refused(self.make(mlmodel="flavors:\n  kiln:\n    data: nothere.json\n"),
                     "nothere.json", "does not exist")
        self.refused(self.make(mlmodel="flavors:\n  kiln:\n    format_version: 7\n"),
                     "format_version")
        sig = self.mlmodel.replace('\\"f0\\"', '\\"other\\"')
        self.assertNotEqual(sig, self.mlmodel)
        self.refused(self.make(mlmodel=sig), "signature input 0", "'other'")
        p = rt_tool("info", os.path.join(self.dirs.root, "no-such-dir"), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("does not exist", p.stderr)

    def test_nan_and_unknown_values_are_refused_by_name(self):
        X, _ = load_iris(return_X_y=True)
        from rt_helpers import csv_text
        bad = X[:2].copy()
        bad[1, 3] = np.nan
        p = rt_tool("predict", self.good, input=csv_text(bad), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("row 1, input 'f3'", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
