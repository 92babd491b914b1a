"""kiln's evaluation metrics (src/runtime/eval.h, through rt_tool eval) against
sklearn.metrics on many random cases, with heavy ties in the scores, classes missing from
y_true or y_pred, binary and multi-class problems, and regression edge cases."""
import json
import unittest
import warnings

import numpy as np

from rt_helpers import rt_tool

from sklearn import metrics

warnings.filterwarnings("ignore")
TOL = 1e-9


def run_eval(args, rows):
    text = "\n".join(",".join(repr(float(v)) for v in r) for r in rows) + "\n"
    return json.loads(rt_tool("eval", *args, input=text).stdout)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class EvalParity(unittest.TestCase):
    def close(self, got, ref, what):
        if ref is None or (isinstance(ref, float) and np.isnan(ref)):
            self.assertIsNone(got, what)
            return
        self.assertIsNotNone(got, what)
        self.assertLessEqual(abs(got - ref), TOL, f"{what}: kiln {got!r} sklearn {ref!r}")

    def check_binary(self, y, score, threshold=0.5):
        y_pred = (score > 0.5).astype(int)
        proba = np.c_[1 - score, score]
        rows = np.c_[y, y_pred, proba]
        out = run_eval(["classification", "2", "--threshold", str(threshold)], rows)
        r = out["report"]
        self.close(r["accuracy"], metrics.accuracy_score(y, y_pred), "accuracy")
        self.close(r["precision"], metrics.precision_score(y, y_pred, zero_division=0),
                   "precision")
        self.close(r["recall"], metrics.recall_score(y, y_pred, zero_division=0), "recall")
        self.close(r["f1"], metrics.f1_score(y, y_pred, zero_division=0), "f1")
        for avg in ("precision", "recall", "f1"):
            fn = getattr(metrics, f"{avg}_score")
            self.close(r[f"{avg}_macro"], fn(y, y_pred, average="macro", zero_division=0),
                       f"{avg} macro")
        both = len(np.unique(y)) == 2
        self.close(r["roc_auc"], metrics.roc_auc_score(y, score) if both else None, "roc auc")
        self.close(r["pr_auc"], metrics.average_precision_score(y, score), "average precision")
        self.close(r["log_loss"], metrics.log_loss(y, proba, labels=[0, 1]), "log loss")
        self.assertEqual(r["confusion_matrix"],
                         metrics.confusion_matrix(y, y_pred, labels=[0, 1]).tolist())
        prec, rec, thr = metrics.precision_recall_curve(y, score)
        curve = np.array([[np.inf if t is None else t, p, q] for t, p, q in r["pr_curve"]])
        self.assertEqual(len(curve), len(prec))
        self.assertTrue(np.allclose(curve[:-1, 0], thr, rtol=0, atol=0))
        self.assertTrue(np.allclose(curve[:, 1], prec, rtol=0, atol=TOL))
        self.assertTrue(np.allclose(curve[:, 2], rec, rtol=0, atol=TOL))
        at = out["at_threshold"]
        pred_t = (score >= threshold).astype(int)
        self.close(at["precision"], metrics.precision_score(y, pred_t, zero_division=0),
                   "precision at threshold")
        self.close(at["recall"], metrics.recall_score(y, pred_t, zero_division=0),
                   "recall at threshold")
        self.close(at["f1"], metrics.f1_score(y, pred_t, zero_division=0), "f1 at threshold")

    def test_binary_with_ties(self):
        rng = np.random.default_rng(0)
        for trial in range(40):
            n = int(rng.integers(5, 400))
            y = (rng.random(n) < rng.uniform(0.1, 0.9)).astype(int)
            noise = rng.normal(size=n)
            score = 1 / (1 + np.exp(-(y * rng.uniform(0, 2) + noise)))
            decimals = int(rng.integers(0, 3))
            score = np.round(score, decimals)  # many exact ties
            with self.subTest(trial=trial, n=n, decimals=decimals):
                self.check_binary(y, score, threshold=float(rng.choice([0.3, 0.5, 0.7])))

    def test_binary_degenerate(self):
        self.check_binary(np.array([0, 0, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5]))
        self.check_binary(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1]))
        self.check_binary(np.array([1, 1, 1]), np.array([0.9, 0.2, 0.6]))  # one class only

    def test_multiclass_with_ties_and_missing_classes(self):
        rng = np.random.default_rng(1)
        for trial in range(30):
            C = int(rng.integers(3, 8))
            n = int(rng.integers(C * 3, 300))
            y = rng.integers(0, C, n)
            y[:C] = np.arange(C)  # every class present in y_true
            logits = np.round(rng.normal(size=(n, C)) + np.eye(C)[y] * rng.uniform(0, 3))
            proba = softmax(logits)
            y_pred = proba.argmax(axis=1)
            if trial % 3 == 0:
                y_pred[y_pred == C - 1] = 0  # a class never predicted
            rows = np.c_[y, y_pred, proba]
            with self.subTest(trial=trial, classes=C):
                r = run_eval(["classification", str(C)], rows)["report"]
                labels = list(range(C))
                self.close(r["accuracy"], metrics.accuracy_score(y, y_pred), "accuracy")
                for avg in ("precision", "recall", "f1"):
                    fn = getattr(metrics, f"{avg}_score")
                    self.close(r[f"{avg}_macro"], fn(y, y_pred, average="macro",
                                                     zero_division=0), f"{avg} macro")
                self.assertIsNone(r["precision"])
                self.close(r["roc_auc"], metrics.roc_auc_score(y, proba, multi_class="ovr",
                                                               labels=labels), "roc auc ovr")
                onehot = np.eye(C)[y]
                self.close(r["pr_auc"], metrics.average_precision_score(onehot, proba,
                                                                        average="macro"),
                           "average precision macro")
                self.close(r["log_loss"], metrics.log_loss(y, proba, labels=labels), "log loss")
                self.assertEqual(r["confusion_matrix"],
                                 metrics.confusion_matrix(y, y_pred, labels=labels).tolist())
                p, rc, f, s = metrics.precision_recall_fscore_support(
                    y, y_pred, labels=labels, zero_division=0)
                for c in range(C):
                    pc = r["per_class"][c]
                    self.close(pc["precision"], p[c], f"class {c} precision")
                    self.close(pc["recall"], rc[c], f"class {c} recall")
                    self.close(pc["f1"], f[c], f"class {c} f1")
                    self.assertEqual(pc["support"], s[c])

    def test_macro_averages_only_present_labels(self):
        # Class 3 of 5 never occurs in y_true or y_pred: scikit-learn leaves it out of macro.
        y = np.array([0, 1, 2, 4, 0, 1])
        y_pred = np.array([0, 2, 2, 4, 1, 1])
        r = run_eval(["classification", "5"], np.c_[y, y_pred])["report"]
        self.close(r["f1_macro"], metrics.f1_score(y, y_pred, average="macro"), "f1 macro")
        self.assertIsNone(r["roc_auc"])

    def test_regression(self):
        rng = np.random.default_rng(2)
        for trial in range(20):
            n = int(rng.integers(1, 200))
            y = rng.normal(size=n) * rng.uniform(0.1, 100)
            p = y + rng.normal(size=n)
            with self.subTest(trial=trial):
                r = run_eval(["regression"], np.c_[y, p])
                self.close(r["mse"], metrics.mean_squared_error(y, p), "mse")
                self.close(r["rmse"], metrics.mean_squared_error(y, p, squared=False), "rmse")
                self.close(r["mae"], metrics.mean_absolute_error(y, p), "mae")
                if n > 1:
                    self.close(r["r2"], metrics.r2_score(y, p), "r2")
        const = np.full(5, 3.0)
        r = run_eval(["regression"], np.c_[const, const])
        self.close(r["r2"], metrics.r2_score(const, const), "r2 perfect constant")
        r = run_eval(["regression"], np.c_[const, const + 1])
        self.close(r["r2"], metrics.r2_score(const, const + 1), "r2 constant")

    def test_bad_input_is_refused(self):
        p = rt_tool("eval", "classification", "2", input="0,5,0.5,0.5\n", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("row 0", p.stderr)
        p = rt_tool("eval", "regression", input="1,nan\n", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not finite", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
