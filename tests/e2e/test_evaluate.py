"""`kiln evaluate` as a real process: every metric equals scikit-learn's (binary, multi-class,
regression, a --threshold), the evaluation of a registry version is recorded through the
registry's native endpoint under the dataset's name and content digest and as a FINISHED
tracking run (metrics, params, the dataset as an input, evaluation.json as an artifact)
that the evaluation links to, a promotion gate reads it, bad targets are named, and the
pipeline's built-in `evaluate` step runs the real command and exposes its metrics."""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import textwrap
import unittest
import urllib.parse

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KILN_BIN, KilnServer, main  # noqa: E402
from servelib import (PROXY, breast_cancer, export, iris, log_run_model, register,  # noqa: E402
                      run_cli)

TOL = 1e-9


def write_csv(path, X, names, y, target="target"):
    with open(path, "w") as f:
        f.write(",".join(list(names) + [target]) + "\n")
        for row, t in zip(X.tolist(), y.tolist()):
            f.write(",".join(repr(v) for v in row) + f",{t}\n")


class Evaluate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.tree import DecisionTreeClassifier
        cls.tmp = tempfile.mkdtemp(prefix="kiln-evaluate-")
        X, y, names = breast_cancer()
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=2, stratify=y)
        cls.bin = make_pipeline(StandardScaler(), LogisticRegression(C=0.05)).fit(Xtr, ytr)
        cls.bin_dir = export(cls.bin, os.path.join(cls.tmp, "bin"), names, cls.tmp)
        cls.Xte, cls.yte, cls.names = Xte, yte, names
        cls.holdout = os.path.join(cls.tmp, "holdout.csv")
        write_csv(cls.holdout, Xte, names, yte)
        Xi, yi, inames = iris()
        cls.tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(Xi[::2], yi[::2])
        cls.tree_dir = export(cls.tree, os.path.join(cls.tmp, "tree"), inames, cls.tmp)
        cls.Xi, cls.yi, cls.inames = Xi, yi, inames
        cls.iris_csv = os.path.join(cls.tmp, "iris.csv")
        labels = np.array(["a", "b", "c"])
        write_csv(cls.iris_csv, Xi[1::2], inames, yi[1::2])
        cls.ridge = Ridge(alpha=2.0).fit(Xi[::2, :3], Xi[::2, 3])
        cls.ridge_dir = export(cls.ridge, os.path.join(cls.tmp, "ridge"), inames[:3], cls.tmp)
        cls.reg_csv = os.path.join(cls.tmp, "petal.csv")
        write_csv(cls.reg_csv, Xi[1::2, :3], inames[:3], Xi[1::2, 3], target="petal_width")
        del labels

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def evaluate(self, *args, env=None):
        rc, out, err = run_cli("evaluate", *args, "--json", env=env)
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def test_binary_metrics_equal_sklearn(self):
        from sklearn import metrics as skm
        rep = self.evaluate(self.bin_dir, "--data", self.holdout, "--target", "target",
                            "--dataset-name", "holdout", "--curve-points", "10000")
        p = self.bin.predict_proba(self.Xte)[:, 1]
        pred = (p >= 0.5).astype(int)
        m = rep["metrics"]
        want = {"accuracy": skm.accuracy_score(self.yte, pred),
                "precision": skm.precision_score(self.yte, pred),
                "recall": skm.recall_score(self.yte, pred),
                "f1": skm.f1_score(self.yte, pred),
                "precision_macro": skm.precision_score(self.yte, pred, average="macro"),
                "recall_macro": skm.recall_score(self.yte, pred, average="macro"),
                "f1_macro": skm.f1_score(self.yte, pred, average="macro"),
                "roc_auc": skm.roc_auc_score(self.yte, p),
                "pr_auc": skm.average_precision_score(self.yte, p),
                "log_loss": skm.log_loss(self.yte, self.bin.predict_proba(self.Xte))}
        self.assertEqual(set(m), set(want))
        for k, v in want.items():
            self.assertAlmostEqual(m[k], v, delta=1e-9, msg=k)
        self.assertEqual(rep["confusion_matrix"], skm.confusion_matrix(self.yte, pred).tolist())
        self.assertEqual(rep["dataset"]["rows"], len(self.yte))
        with open(self.holdout, "rb") as f:
            self.assertEqual(rep["dataset"]["digest"], hashlib.sha256(f.read()).hexdigest()[:16])
        prec, rec, thr = skm.precision_recall_curve(self.yte, p)
        curve = rep["pr_curve"]
        self.assertEqual(len(curve), len(prec))
        np.testing.assert_allclose([c["precision"] for c in curve], prec, atol=TOL)
        np.testing.assert_allclose([c["recall"] for c in curve], rec, atol=TOL)
        np.testing.assert_allclose([c["threshold"] for c in curve[:-1]], thr, atol=TOL)
        self.assertEqual(rep["recorded"], {"registry": False, "tracking": False})
        # Another operating threshold moves precision and recall as scikit-learn does.
        rep = self.evaluate(self.bin_dir, "--data", self.holdout, "--target", "target",
                            "--threshold", "0.8")
        pred = (p >= 0.8).astype(int)
        self.assertAlmostEqual(rep["metrics"]["recall"], skm.recall_score(self.yte, pred),
                               delta=1e-12)
        self.assertEqual(rep["threshold"], 0.8)

    def test_multiclass_and_regression(self):
        from sklearn import metrics as skm
        X, y = self.Xi[1::2], self.yi[1::2]
        rep = self.evaluate(self.tree_dir, "--data", self.iris_csv, "--target", "target")
        pred, proba = self.tree.predict(X), self.tree.predict_proba(X)
        m = rep["metrics"]
        self.assertNotIn("precision", m)  # binary-only
        self.assertAlmostEqual(m["accuracy"], skm.accuracy_score(y, pred), delta=1e-12)
        self.assertAlmostEqual(m["f1_macro"], skm.f1_score(y, pred, average="macro"), delta=1e-12)
        self.assertAlmostEqual(m["roc_auc"], skm.roc_auc_score(y, proba, multi_class="ovr"),
                               delta=1e-9)
        self.assertAlmostEqual(m["log_loss"], skm.log_loss(y, proba), delta=1e-9)
        self.assertEqual(rep["confusion_matrix"], skm.confusion_matrix(y, pred).tolist())
        per = {c["label"]: c for c in rep["per_class"]}
        self.assertAlmostEqual(per["2"]["recall"], skm.recall_score(y, pred, average=None)[2],
                               delta=1e-12)
        rep = self.evaluate(self.ridge_dir, "--data", self.reg_csv, "--target", "petal_width")
        yr, pr = self.Xi[1::2, 3], self.ridge.predict(self.Xi[1::2, :3])
        self.assertEqual(rep["task"], "regression")
        self.assertAlmostEqual(rep["metrics"]["rmse"], np.sqrt(skm.mean_squared_error(yr, pr)),
                               delta=1e-12)
        self.assertAlmostEqual(rep["metrics"]["mae"], skm.mean_absolute_error(yr, pr), delta=1e-12)
        self.assertAlmostEqual(rep["metrics"]["r2"], skm.r2_score(yr, pr), delta=1e-12)
        # The table names every metric.
        rc, out, err = run_cli("evaluate", self.tree_dir, "--data", self.iris_csv, "--target",
                               "target")
        self.assertEqual(rc, 0, err)
        for word in ("accuracy", "f1_macro", "roc_auc", "confusion matrix", "per class"):
            self.assertIn(word, out)

    def test_bad_targets(self):
        bad = os.path.join(self.tmp, "bad.csv")
        with open(self.iris_csv) as f:
            lines = f.read().splitlines()
        lines[4] = lines[4].rsplit(",", 1)[0] + ",virginica"
        with open(bad, "w") as f:
            f.write("\n".join(lines) + "\n")
        cases = [(("--target", "target"), "bad.csv: line 5, column 'target': target 'virginica' "
                                          "is not one of the model's classes (0, 1, 2)"),
                 (("--target", "nope"), "no target column 'nope'"),
                 (("--target", "target", "--threshold", "0.3"), "binary classifier")]
        for args, frag in cases:
            rc, _, err = run_cli("evaluate", self.tree_dir, "--data", bad, *args)
            self.assertEqual(rc, 2, err)
            self.assertIn(frag, err)
        rc, _, err = run_cli("evaluate", self.ridge_dir, "--data", bad, "--target", "target")
        self.assertEqual(rc, 2)
        self.assertIn("line 5, column 'target': target 'virginica' is not a number", err)

    def test_recorded_in_registry_and_tracking(self):
        with KilnServer() as srv:
            exp = srv.ok("POST", "/experiments/create", {"name": "training"})["experiment_id"]
            run = log_run_model(srv, self.bin_dir, exp)
            v = register(srv, "cancer", f"runs:/{run}/model", run)
            env = {"KILN_TRACKING_URI": srv.base}
            rep = self.evaluate(f"models:/cancer/{v}", "--data", self.holdout, "--target",
                                "target", "--dataset-name", "holdout", env=env)
            self.assertEqual((rep["model"], rep["version"]), ("cancer", str(v)))
            self.assertEqual(rep["recorded"], {"registry": True, "tracking": True})
            evals = srv.ok("GET", "/models/evaluations", prefix="/api/kiln/v1",
                           query={"name": "cancer"})["evaluations"]
            self.assertEqual(len(evals), 1)
            ev = evals[0]
            self.assertEqual((ev["dataset_name"], ev["dataset_digest"], ev["run_id"]),
                             ("holdout", rep["dataset"]["digest"], rep["run_id"]))
            self.assertAlmostEqual(ev["metrics"]["roc_auc"], rep["metrics"]["roc_auc"],
                                   delta=1e-12)
            self.assertEqual({c["label"] for c in ev["per_class"]}, {"0", "1"})
            self.assertGreater(len(ev["pr_curve"]), 10)
            # The tracking run: in the training run's experiment, finished, with everything.
            r = srv.ok("GET", "/runs/get", {"run_id": rep["run_id"]})["run"]
            self.assertEqual(r["info"]["experiment_id"], exp)
            self.assertEqual(r["info"]["status"], "FINISHED")
            self.assertEqual(r["info"]["run_name"], f"evaluate cancer v{v} on holdout")
            metrics = {m["key"]: m["value"] for m in r["data"]["metrics"]}
            self.assertAlmostEqual(metrics["accuracy"], rep["metrics"]["accuracy"], delta=1e-12)
            params = {p["key"]: p["value"] for p in r["data"]["params"]}
            self.assertEqual(params["dataset_digest"], rep["dataset"]["digest"])
            self.assertEqual(params["model_uri"], f"models:/cancer/{v}")
            tags = {t["key"]: t["value"] for t in r["data"]["tags"]}
            self.assertEqual(tags["kiln.evaluation.version"], str(v))
            ds = r["inputs"]["dataset_inputs"][0]["dataset"]
            self.assertEqual((ds["name"], ds["digest"]), ("holdout", rep["dataset"]["digest"]))
            rel = r["info"]["artifact_uri"][len("mlflow-artifacts:/"):]
            art = srv.request("GET", PROXY + "/" + urllib.parse.quote(rel) + "/evaluation.json")
            self.assertEqual(art.status, 200)
            self.assertEqual(json.loads(art.body)["metrics"], rep["metrics"])
            # Evaluating again on the same data replaces the record (same name and digest).
            rep2 = self.evaluate(f"models:/cancer/{v}", "--data", self.holdout, "--target",
                                 "target", "--dataset-name", "holdout", "--experiment", "evals",
                                 env=env)
            evals = srv.ok("GET", "/models/evaluations", prefix="/api/kiln/v1",
                           query={"name": "cancer"})["evaluations"]
            self.assertEqual(len(evals), 1)
            self.assertEqual(evals[0]["run_id"], rep2["run_id"])
            # A promotion gate reads the recorded evaluation.
            with open(os.path.join(self.tmp, "policy.yaml"), "w") as f:
                f.write("environments:\n  dev: {}\n  staging:\n    dataset: holdout\n"
                        "    metrics: ['roc_auc >= 0.9']\n")
            rc, _, err = srv.cli("models", "policy", "set", "cancer",
                                 os.path.join(self.tmp, "policy.yaml"))
            self.assertEqual(rc, 0, err)
            for env_name in ("dev", "staging"):
                rc, out, err = srv.cli("models", "promote", "cancer", str(v), "--to", env_name)
                self.assertEqual(rc, 0, out + err)
            # --no-record leaves the server alone.
            self.evaluate(f"models:/cancer/{v}", "--data", self.holdout, "--target", "target",
                          "--dataset-name", "other", "--no-record", env=env)
            names = {e["dataset_name"] for e in srv.ok(
                "GET", "/models/evaluations", prefix="/api/kiln/v1",
                query={"name": "cancer"})["evaluations"]}
            self.assertEqual(names, {"holdout"})

    def test_pipeline_step_runs_the_real_command(self):
        from sklearn import metrics as skm
        with KilnServer() as srv:
            run = log_run_model(srv, self.bin_dir)
            v = register(srv, "pl-cancer", f"runs:/{run}/model", run)
            work = tempfile.mkdtemp(prefix="kiln-evpl-", dir=self.tmp)
            shutil.copy(self.holdout, os.path.join(work, "holdout.csv"))
            spec = os.path.join(work, "p.yaml")
            with open(spec, "w") as f:
                f.write(textwrap.dedent(f"""\
                    name: evalpipe
                    tasks:
                      evaluate:
                        kind: evaluate
                        with: {{model: 'models:/pl-cancer/{v}', data: holdout.csv,
                               target: target, dataset_name: holdout}}
                    """))
            rc, out, err = run_cli("pipeline", "run", spec, "--json", "--tracking-uri", srv.base,
                                   cwd=work, env={"KILN_TRACKING_URI": srv.base,
                                                  "KILN_PIPELINE_KILN_BIN": KILN_BIN})
            self.assertEqual(rc, 0, out + err)
            task = json.loads(out)["tasks"][0]
            self.assertEqual(task["state"], "success")
            p = self.bin.predict_proba(self.Xte)[:, 1]
            self.assertAlmostEqual(float(task["outputs"]["roc_auc"]),
                                   skm.roc_auc_score(self.yte, p), delta=1e-12)
            self.assertAlmostEqual(float(task["outputs"]["accuracy"]),
                                   skm.accuracy_score(self.yte, (p >= 0.5).astype(int)),
                                   delta=1e-12)
            evals = srv.ok("GET", "/models/evaluations", prefix="/api/kiln/v1",
                           query={"name": "pl-cancer"})["evaluations"]
            self.assertEqual([e["dataset_name"] for e in evals], ["holdout"])


if __name__ == "__main__":
    main()
