"""kiln's predictions equal xgboost's own: models trained with Debian's python3-xgboost are
saved as mlflow.xgboost lays them out (MLmodel + model.json / model.ubj / model.xgb legacy
binary; Booster and scikit-learn wrappers) and run through both kiln engines, its own tree
engine and libxgboost. Binary, multi-class and regression objectives, missing values routed
by the learned default direction, and early stopping (best_iteration) are covered."""
import json
import os
import unittest
import warnings

import numpy as np

from rt_helpers import (TempDirs, assert_labels, assert_proba_close, assert_values_close,
                        have_libxgboost, have_xgboost, info, predict, rt_tool)

warnings.filterwarnings("ignore")

if have_xgboost():
    import xgboost as xgb
from sklearn import datasets

# Without libxgboost (-Dxgboost=disabled) only JSON files on kiln's own engine can run.
LIB = have_libxgboost()
ENGINES = ("native", "lib") if LIB else ("native",)
FORMATS = ("json", "ubj", "xgb") if LIB else ("json",)


def mlmodel_text(data, model_class, fmt, names=None):
    sig = ""
    if names is not None:
        cols = json.dumps([{"type": "double", "name": n, "required": True} for n in names])
        sig = ("signature:\n"
               f"  inputs: '{cols}'\n"
               "  outputs: '[{\"type\": \"long\", \"required\": true}]'\n"
               "  params: null\n")
    return ("artifact_path: model\n"
            "flavors:\n"
            "  python_function:\n"
            f"    data: {data}\n"
            "    env:\n"
            "      conda: conda.yaml\n"
            "      virtualenv: python_env.yaml\n"
            "    loader_module: mlflow.xgboost\n"
            "    python_version: 3.11.2\n"
            "  xgboost:\n"
            "    code: null\n"
            f"    data: {data}\n"
            f"    model_class: {model_class}\n"
            f"    model_format: {fmt}\n"
            f"    xgb_version: {xgb.__version__}\n"
            "mlflow_version: 2.9.2\n"
            "model_uuid: 3f1e0d8c6b2a4f6e9a1b2c3d4e5f6a7b\n"
            + sig +
            "utc_time_created: '2024-05-01 10:00:00.000000'\n")


def save(model, d, fmt, names=None):
    """Writes an MLflow xgboost model directory like mlflow.xgboost.save_model."""
    os.makedirs(d)
    data = f"model.{fmt}"
    # For the "xgb" extension xgboost 1.7 writes its legacy binary format.
    model.save_model(os.path.join(d, data))
    cls = type(model)
    model_class = f"{cls.__module__}.{cls.__name__}"
    with open(os.path.join(d, "MLmodel"), "w") as f:
        f.write(mlmodel_text(data, model_class, fmt, names))
    return d


def load(name):
    X, y = getattr(datasets, "load_" + name)(return_X_y=True)
    return X.astype(np.float64), y


def with_nans(X, frac, seed):
    X = X.copy()
    X[np.random.default_rng(seed).random(X.shape) < frac] = np.nan
    return X


@unittest.skipUnless(have_xgboost(), "python3-xgboost is not installed")
class XgboostParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dirs = TempDirs()

    @classmethod
    def tearDownClass(cls):
        cls.dirs.cleanup()

    def run_classifier(self, model, X, what, names=None):
        for fmt in FORMATS:
            d = save(model, self.dirs.new(), fmt, names)
            for eng in ENGINES:
                with self.subTest(what=what, format=fmt, engine=eng):
                    out = predict(d, X, names, extra=["--engine", eng])
                    m = info(d, "--engine", eng)
                    self.assertEqual(m["flavor"], "xgboost")
                    self.assertEqual(m["engine"], "trees" if eng == "native" else "libxgboost")
                    if isinstance(model, xgb.Booster):
                        ref = model.predict(xgb.DMatrix(X))
                        if ref.ndim == 1:
                            assert_proba_close(self, out[:, 2], ref, what)
                            ref = np.c_[1 - ref.astype(np.float64), ref]
                        assert_proba_close(self, out[:, 1:], ref, what)
                        continue
                    ref = model.predict_proba(X)
                    assert_proba_close(self, out[:, 1:], ref, f"{what} {fmt} {eng}")
                    labels = np.asarray(model.classes_)[out[:, 0].astype(int)]
                    assert_labels(self, labels, model.predict(X), ref, f"{what} {fmt} {eng}")

    def run_regressor(self, model, X, what):
        for fmt in FORMATS:
            d = save(model, self.dirs.new(), fmt)
            for eng in ENGINES:
                with self.subTest(what=what, format=fmt, engine=eng):
                    out = predict(d, X, extra=["--engine", eng])
                    ref = (model.predict(xgb.DMatrix(X)) if isinstance(model, xgb.Booster)
                           else model.predict(X))
                    assert_values_close(self, out[:, 0], ref, f"{what} {fmt} {eng}")

    def test_binary_classifier_with_missing_values(self):
        X, y = load("breast_cancer")
        X = with_nans(X, 0.1, 0)
        m = xgb.XGBClassifier(n_estimators=60, max_depth=5, random_state=0).fit(X, y)
        self.run_classifier(m, X, "binary")

    def test_multiclass_classifiers(self):
        for ds in ("iris", "wine", "digits"):
            X, y = load(ds)
            m = xgb.XGBClassifier(n_estimators=30, max_depth=4, random_state=0).fit(X, y)
            self.run_classifier(m, X, ds)

    def test_booster_objectives(self):
        X, y = load("wine")
        for obj in ("multi:softprob", "multi:softmax"):
            b = xgb.train({"objective": obj, "num_class": 3, "max_depth": 3},
                          xgb.DMatrix(X, label=y), num_boost_round=15)
            d = save(b, self.dirs.new(), "json")
            for eng in ENGINES:
                with self.subTest(objective=obj, engine=eng):
                    out = predict(d, X, extra=["--engine", eng])
                    margin = b.predict(xgb.DMatrix(X), output_margin=True)
                    p = np.exp(margin - margin.max(axis=1, keepdims=True))
                    p /= p.sum(axis=1, keepdims=True)
                    assert_proba_close(self, out[:, 1:], p, obj)
                    if obj == "multi:softmax":
                        self.assertTrue(np.array_equal(out[:, 0], b.predict(xgb.DMatrix(X))))
        Xb, yb = load("breast_cancer")
        Xb = with_nans(Xb, 0.05, 1)
        b = xgb.train({"objective": "binary:logistic", "max_depth": 4, "tree_method": "exact"},
                      xgb.DMatrix(Xb, label=yb), num_boost_round=25)
        self.run_classifier(b, Xb, "Booster binary:logistic")

    def test_regression_objectives(self):
        X, y = load("diabetes")
        X = with_nans(X, 0.05, 2)
        for obj in ("reg:squarederror", "count:poisson", "reg:gamma", "reg:pseudohubererror"):
            m = xgb.XGBRegressor(n_estimators=40, objective=obj, random_state=0).fit(X, y)
            self.run_regressor(m, X, obj)
        yl = (y - y.min()) / (y.max() - y.min())
        m = xgb.XGBRegressor(n_estimators=20, objective="reg:logistic").fit(X, yl)
        self.run_regressor(m, X, "reg:logistic")

    def test_random_forest_mode_and_best_iteration(self):
        X, y = load("breast_cancer")
        m = xgb.XGBRFClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
        self.run_classifier(m, X, "XGBRFClassifier")
        Xt, yt = X[:400], y[:400]
        m = xgb.XGBClassifier(n_estimators=300, learning_rate=0.3, early_stopping_rounds=5,
                              random_state=0)
        m.fit(Xt, yt, eval_set=[(X[400:], y[400:])], verbose=False)
        self.assertLess(m.best_iteration, 299)
        self.run_classifier(m, X, "early stopping")

    def test_concurrent_predictions_agree(self):
        # rt_tool --threads runs every thread over all rows at once and fails on any mismatch.
        X, y = load("digits")
        m = xgb.XGBClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
        d = save(m, self.dirs.new(), FORMATS[-1])
        for eng in ENGINES:
            with self.subTest(engine=eng):
                one = predict(d, X, extra=["--engine", eng])
                many = predict(d, X, extra=["--engine", eng, "--threads", "4", "--batch", "7"])
                self.assertTrue(np.array_equal(one, many))

    def test_signature_names_the_inputs(self):
        X, y = load("iris")
        names = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)",
                 "petal width (cm)"]
        m = xgb.XGBClassifier(n_estimators=5).fit(X, y)
        d = save(m, self.dirs.new(), "json", names)
        meta = info(d)
        self.assertEqual([i["name"] for i in meta["inputs"]], names)
        self.assertEqual(meta["mlflow_output"], 1)
        out = predict(d, X, names)
        assert_proba_close(self, out[:, 1:], m.predict_proba(X), "named inputs")

    def test_dart_needs_libxgboost(self):
        X, y = load("breast_cancer")
        b = xgb.train({"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.1},
                      xgb.DMatrix(X, label=y), num_boost_round=10)
        d = save(b, self.dirs.new(), "json")
        if not LIB:
            p = rt_tool("info", d, check=False)
            self.assertEqual(p.returncode, 2)
            self.assertIn("no libxgboost", p.stderr)
            return
        out = predict(d, X)
        self.assertEqual(info(d)["engine"], "libxgboost")
        assert_proba_close(self, out[:, 2], b.predict(xgb.DMatrix(X)), "dart")
        p = rt_tool("predict", d, "--engine", "native", input="f0\n1\n", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("gbtree", p.stderr)

    def test_corrupt_booster_is_refused_with_libxgboost_message(self):
        X, y = load("iris")
        m = xgb.XGBClassifier(n_estimators=3).fit(X, y)
        for fmt in ("ubj", "xgb"):
            d = save(m, self.dirs.new(), fmt)
            path = os.path.join(d, f"model.{fmt}")
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
            p = rt_tool("info", d, check=False)
            self.assertEqual(p.returncode, 2, fmt)
            self.assertIn(f"model.{fmt}", p.stderr)
            self.assertIn("libxgboost" if LIB else "need libxgboost", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
