"""kiln's predictions equal scikit-learn's: every estimator tools/export_sklearn.py supports is
trained on the data sets bundled with scikit-learn (iris, wine, breast_cancer, digits,
diabetes), exported to a kiln model directory and run through the runtime (rt_tool), and
predict_proba / predict must agree within 1e-6 (labels exactly, barring exact ties)."""
import os
import unittest
import warnings

import numpy as np

from kilntest import SRC
from rt_helpers import (TempDirs, assert_labels, assert_proba_close, assert_values_close,
                        info, predict, rt_tool)

from export_sklearn import ExportError, export
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                              GradientBoostingRegressor, HistGradientBoostingClassifier,
                              HistGradientBoostingRegressor, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

warnings.filterwarnings("ignore")

CLASSIFICATION = ["iris", "wine", "breast_cancer", "digits"]


def load(name):
    X, y = getattr(datasets, "load_" + name)(return_X_y=True)
    return X.astype(np.float64), y


def classifiers():
    return [
        ("LogisticRegression", lambda: make_pipeline(StandardScaler(),
                                                     LogisticRegression(max_iter=2000))),
        ("LogisticRegression-ovr", lambda: make_pipeline(
            StandardScaler(), LogisticRegression(multi_class="ovr", max_iter=2000))),
        ("LogisticRegression-multinomial", lambda: make_pipeline(
            StandardScaler(), LogisticRegression(multi_class="multinomial", max_iter=2000))),
        ("LogisticRegression-liblinear", lambda: make_pipeline(
            StandardScaler(), LogisticRegression(solver="liblinear"))),
        ("DecisionTreeClassifier", lambda: DecisionTreeClassifier(random_state=0)),
        ("RandomForestClassifier", lambda: RandomForestClassifier(n_estimators=25,
                                                                  random_state=0)),
        ("ExtraTreesClassifier", lambda: ExtraTreesClassifier(n_estimators=10, random_state=0)),
        ("GradientBoostingClassifier", lambda: GradientBoostingClassifier(
            n_estimators=25, max_depth=3, random_state=0)),
        ("HistGradientBoostingClassifier", lambda: HistGradientBoostingClassifier(
            max_iter=30, random_state=0)),
        ("MLPClassifier", lambda: make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(32, 16), max_iter=300, random_state=0))),
        ("MLPClassifier-tanh", lambda: make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(16,), activation="tanh", max_iter=200, random_state=0))),
    ]


def regressors():
    return [
        ("LinearRegression", lambda: LinearRegression()),
        ("Ridge", lambda: Ridge(alpha=0.5)),
        ("DecisionTreeRegressor", lambda: DecisionTreeRegressor(max_depth=8, random_state=0)),
        ("RandomForestRegressor", lambda: RandomForestRegressor(n_estimators=20,
                                                                random_state=0)),
        ("GradientBoostingRegressor", lambda: GradientBoostingRegressor(n_estimators=40,
                                                                        random_state=0)),
        ("GradientBoostingRegressor-huber", lambda: GradientBoostingRegressor(
            loss="huber", n_estimators=20, random_state=0)),
        ("HistGradientBoostingRegressor", lambda: HistGradientBoostingRegressor(
            max_iter=40, random_state=0)),
        ("HistGradientBoostingRegressor-poisson", lambda: HistGradientBoostingRegressor(
            loss="poisson", max_iter=30, random_state=0)),
        ("MLPRegressor", lambda: make_pipeline(StandardScaler(), MLPRegressor(
            hidden_layer_sizes=(32,), activation="logistic", max_iter=300, random_state=0))),
    ]


class SklearnParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dirs = TempDirs()

    @classmethod
    def tearDownClass(cls):
        cls.dirs.cleanup()

    def check_classifier(self, est, X, y, what, X_eval=None, names=None):
        est.fit(X, y)
        d = self.dirs.new()
        export(est, d, feature_names=names)
        X_eval = X if X_eval is None else X_eval
        out = predict(d, X_eval, names)
        labels = np.asarray(est.classes_)[out[:, 0].astype(int)]
        proba = out[:, 1:]
        ref = est.predict_proba(X_eval)
        assert_proba_close(self, proba, ref, what)
        assert_labels(self, labels, est.predict(X_eval), ref, what)
        return d

    def check_regressor(self, est, X, y, what):
        est.fit(X, y)
        d = self.dirs.new()
        export(est, d)
        out = predict(d, X)
        assert_values_close(self, out[:, 0], est.predict(X), what)
        return d

    def test_classifiers_on_every_dataset(self):
        for ds in CLASSIFICATION:
            X, y = load(ds)
            for name, make in classifiers():
                with self.subTest(dataset=ds, estimator=name):
                    self.check_classifier(make(), X, y, f"{name} on {ds}")

    def test_regressors_on_diabetes(self):
        X, y = load("diabetes")
        for name, make in regressors():
            with self.subTest(estimator=name):
                self.check_regressor(make(), X, y, f"{name} on diabetes")

    def test_string_labels_and_gradient_boosting_exponential_loss(self):
        X, y = load("breast_cancer")
        ys = np.where(y == 1, "benign", "malignant")
        d = self.check_classifier(GradientBoostingClassifier(loss="exponential", n_estimators=20),
                                  X, ys, "exponential loss")
        self.assertEqual(info(d)["classes"], ["benign", "malignant"])

    def test_nan_routes_by_the_learned_default_direction(self):
        X, y = load("breast_cancer")
        rng = np.random.default_rng(0)
        X = X.copy()
        X[rng.random(X.shape) < 0.15] = np.nan
        d = self.check_classifier(HistGradientBoostingClassifier(max_iter=40, random_state=0),
                                  X, y, "HistGB with NaN")
        self.assertTrue(all(i["allow_missing"] for i in info(d)["inputs"]))
        Xd, yd = load("diabetes")
        Xd = Xd.copy()
        Xd[::3, 2] = np.nan
        Xd[1::4, 5] = np.nan
        self.check_regressor(HistGradientBoostingRegressor(max_iter=40), Xd, yd,
                             "HistGB regressor with NaN")
        # A row of nothing but missing values follows the default path in every tree.
        est = HistGradientBoostingRegressor(max_iter=10).fit(Xd, yd)
        d2 = self.dirs.new()
        export(est, d2)
        allnan = np.full((1, Xd.shape[1]), np.nan)
        assert_values_close(self, predict(d2, allnan)[:, 0], est.predict(allnan), "all NaN")

    def test_imputer_scaler_pipeline_accepts_missing_values(self):
        X, y = load("wine")
        X = X.copy()
        X[::4, 0] = np.nan
        X[::5, 7] = np.nan
        est = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                            LogisticRegression(max_iter=2000))
        d = self.check_classifier(est, X, y, "imputer pipeline")
        self.assertTrue(info(d)["inputs"][0]["allow_missing"])

    def test_missing_value_refused_where_the_model_cannot_take_it(self):
        X, y = load("iris")
        est = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
        d = self.dirs.new()
        export(est, d, feature_names=["sl", "sw", "pl", "pw"])
        self.assertFalse(info(d)["inputs"][2]["allow_missing"])
        bad = X[:3].copy()
        bad[1, 2] = np.nan
        p = rt_tool("predict", d, input=csv_of(bad, ["sl", "sw", "pl", "pw"]), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("row 1, input 'pl'", p.stderr)
        self.assertIn("NaN", p.stderr)

    def test_column_transformer_with_categories(self):
        rng = np.random.default_rng(1)
        n = 400
        color = rng.choice(["red", "green", "blue"], n)
        size = rng.choice([1.0, 2.0, 3.0, 4.0], n)
        num = rng.normal(size=(n, 3))
        num[rng.random((n, 3)) < 0.1] = np.nan
        y = ((num[:, 0] > 0) ^ (color == "red") ^ (size > 2)).astype(int)
        X = np.empty((n, 5), dtype=object)
        X[:, 0:3] = num
        X[:, 3] = color
        X[:, 4] = size
        names = ["a", "b", "c", "color", "size"]
        pre = ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), [0, 1, 2]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), [3]),
            ("ord", OneHotEncoder(drop="first"), [4]),
        ])
        for est in (LogisticRegression(max_iter=1000),
                    RandomForestClassifier(n_estimators=10, random_state=0),
                    MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0)):
            with self.subTest(estimator=type(est).__name__):
                model = make_pipeline(pre, est)
                d = self.check_classifier(model, X, y, "ColumnTransformer " + type(est).__name__,
                                          names=names)
        meta = info(d)["inputs"]
        self.assertEqual(meta[3]["type"], "string")
        self.assertEqual(meta[3]["n_categories"], 3)
        self.assertTrue(meta[3]["allow_unknown"])
        self.assertFalse(meta[4]["allow_unknown"])
        # An unknown color is ignored (all zeros), as scikit-learn does.
        X2 = X[:5].copy()
        X2[0, 3] = "purple"
        model_ref = model
        out = predict(d, X2, names)
        assert_proba_close(self, out[:, 1:], model_ref.predict_proba(X2), "unknown category")
        # An unknown size (drop='first', handle_unknown='error') is refused.
        X2[0, 4] = 9.0
        p = rt_tool("predict", d, input=csv_of(X2, names), check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("'size'", p.stderr)

    def test_batch_sizes_threads_and_warmup_agree(self):
        X, y = load("digits")
        est = GradientBoostingClassifier(n_estimators=8, random_state=0).fit(X, y)
        d = self.dirs.new()
        export(est, d)
        ref = predict(d, X)
        for extra in (["--batch", "1"], ["--batch", "7"], ["--batch", "64"],
                      ["--threads", "2", "--batch", "13"], ["--warmup"]):
            with self.subTest(extra=extra):
                self.assertTrue(np.array_equal(predict(d, X, extra=extra), ref))

    def test_mlp_float32_export_is_close(self):
        X, y = load("digits")
        est = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,),
                                                            max_iter=200, random_state=0))
        est.fit(X, y)
        d = self.dirs.new()
        export(est, d, mlp_dtype="float32")
        self.assertEqual(info(d)["engine"], "mlp-float32")
        out = predict(d, X)
        # float32 weights: close to scikit-learn, not equal.
        assert_proba_close(self, out[:, 1:], est.predict_proba(X), "float32 MLP", tol=1e-3)
        self.assertGreater((out[:, 0] == est.predict(X)).mean(), 0.995)

    def test_multi_target_regression(self):
        X, y = load("diabetes")
        Y = np.c_[y, np.log(y), -y]
        for est in (LinearRegression(), Ridge(alpha=2.0)):
            with self.subTest(estimator=type(est).__name__):
                est.fit(X, Y)
                d = self.dirs.new()
                export(est, d)
                self.assertEqual(info(d)["n_outputs"], 3)
                assert_values_close(self, predict(d, X), est.predict(X), "multi-target")

    def test_exporter_command_line(self):
        import pickle
        import subprocess
        X, y = load("iris")
        est = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
        pkl = os.path.join(self.dirs.root, "tree.pkl")
        with open(pkl, "wb") as f:
            pickle.dump(est, f)
        d = self.dirs.new()
        tool = os.path.join(SRC, "tools", "export_sklearn.py")
        p = subprocess.run(["/usr/bin/python3", tool, pkl, d, "--feature-names", "a,b,c,d"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([i["name"] for i in info(d)["inputs"]], ["a", "b", "c", "d"])
        out = predict(d, X, ["a", "b", "c", "d"])
        assert_proba_close(self, out[:, 1:], est.predict_proba(X), "command line export")
        p = subprocess.run(["/usr/bin/python3", tool, pkl, d], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not empty", p.stderr)

    def test_unsupported_models_are_refused(self):
        X, y = load("iris")
        with self.assertRaises(ExportError):
            export(SVC().fit(X, y), self.dirs.new())
        with self.assertRaises(ExportError):
            export(RandomForestRegressor(n_estimators=2).fit(X, np.c_[y, y]), self.dirs.new())


def csv_of(X, names):
    from rt_helpers import csv_text
    return csv_text(X, names)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
