#!/usr/bin/python3
"""Export a fitted scikit-learn model to a kiln model directory (the `kiln` MLflow flavor).

Supported (scikit-learn 1.2):
  estimators   LogisticRegression, LinearRegression, Ridge, DecisionTreeClassifier/Regressor,
               ExtraTreeClassifier/Regressor, RandomForestClassifier/Regressor,
               ExtraTreesClassifier/Regressor, GradientBoostingClassifier/Regressor,
               HistGradientBoostingClassifier/Regressor, MLPClassifier/MLPRegressor
  transformers StandardScaler, SimpleImputer, OneHotEncoder, ColumnTransformer, nested
               Pipelines (a Pipeline's last step is the estimator)

Usage as a program (the model is a pickle file written with pickle.dump or joblib.dump):
    /usr/bin/python3 tools/export_sklearn.py model.pkl out_dir [--feature-names a,b,c]
        [--mlp-dtype float64|float32]
Usage as a module:
    from export_sklearn import export
    export(fitted_model, "out_dir", feature_names=["a", "b"])

The output directory gets `model.json` (docs/model-format.md) and an `MLmodel` file with the
flavor and an MLflow signature. kiln reproduces the model's predict/predict_proba to ~1e-12
(tree models exactly). Anything the format cannot express exactly is refused with an error.
"""
import json
import os
import sys
import time
import uuid

import numpy as np

FORMAT_VERSION = 1
KILN_VERSION = "0.1.0"


class ExportError(Exception):
    pass


def _cls(obj):
    return type(obj).__name__


def _floats(a):
    out = [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]
    for v in out:
        if not np.isfinite(v):
            raise ExportError("non-finite parameter value")
    return out


def _thresholds(a, leaf):
    """Split thresholds; infinite ones (HistGradientBoosting's missing-only splits) are written
    as the strings "Infinity" / "-Infinity", which kiln reads back as infinities."""
    out = []
    for h, l in zip(a, leaf):
        h = float(h)
        if l:
            out.append(0.0)
        elif np.isnan(h):
            raise ExportError("NaN split threshold")
        elif np.isinf(h):
            out.append("Infinity" if h > 0 else "-Infinity")
        else:
            out.append(h)
    return out


def _label(v):
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return int(f) if f.is_integer() else f
    return str(v)


def _category(v):
    """A category as JSON: None for a missing value, else a number or a string."""
    if v is None:
        return None
    if isinstance(v, (np.floating, float)) and np.isnan(v):
        return None
    if isinstance(v, (np.integer, int, np.floating, float)) and not isinstance(v, bool):
        return float(v)
    return str(v)


# ---- column tracking -------------------------------------------------------------------------
#
# Each working column is described by (input index or None, kind) where kind is "num" or
# "str". Steps transform the list; the exporter also records, per input, how missing values
# and unknown categories are handled so the signature can say what is allowed.


class Tracker:
    def __init__(self, n_inputs):
        self.cols = [(i, "num") for i in range(n_inputs)]
        self.string_inputs = set()
        self.vocab = {}            # input -> list of category strings
        self.nan_handled = set()   # (input) missing values are imputed or encoded
        self.nan_error = set()     # a step raises on a missing value of this input
        self.unknown_error = set()

    def add_vocab(self, inp, values):
        v = self.vocab.setdefault(inp, [])
        for s in values:
            if s is not None and s not in v:
                v.append(s)


def _col_indices(spec, n):
    if isinstance(spec, slice):
        return list(range(n))[spec]
    arr = np.asarray(spec)
    if arr.dtype == bool:
        return [int(i) for i in np.flatnonzero(arr)]
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind not in "iu":
        raise ExportError("ColumnTransformer columns must be integer indices, slices or masks "
                          "(fit on a numpy array)")
    return [int(i) % n for i in arr]


def _scaler(t, tr):
    n = len(tr.cols)
    mean = t.mean_ if t.with_mean and t.mean_ is not None else np.zeros(n)
    scale = t.scale_ if t.with_std and t.scale_ is not None else np.ones(n)
    for inp, kind in tr.cols:
        if kind == "str":
            raise ExportError("StandardScaler applied to a string column")
    return {"op": "scale", "offset": _floats(mean), "scale": _floats(scale)}


def _imputer(t, tr):
    if getattr(t, "add_indicator", False):
        raise ExportError("SimpleImputer(add_indicator=True) is not supported")
    mv = t.missing_values
    if not (mv is None or (isinstance(mv, float) and np.isnan(mv))):
        raise ExportError("SimpleImputer must impute NaN (missing_values=np.nan)")
    stats = list(t.statistics_)
    if len(stats) != len(tr.cols):
        raise ExportError("SimpleImputer column count mismatch")
    fill = []
    for j, ((inp, kind), s) in enumerate(zip(tr.cols, stats)):
        c = _category(s)
        if c is None:
            raise ExportError("SimpleImputer dropped an all-missing column; "
                              "use keep_empty_features=True or drop the column")
        if isinstance(c, str) and kind == "num" and inp is not None:
            kind = "str"
            tr.cols[j] = (inp, kind)
            tr.string_inputs.add(inp)
        if kind == "str":
            c = str(s)
            tr.add_vocab(inp, [c])
        elif isinstance(c, str):
            raise ExportError("SimpleImputer fills a numeric column with a string")
        fill.append(c)
        if inp is not None:
            tr.nan_handled.add(inp)
    return {"op": "impute", "fill": fill}


def _onehot(t, tr):
    if getattr(t, "infrequent_categories_", None) is not None and any(
            c is not None for c in t.infrequent_categories_):
        raise ExportError("OneHotEncoder infrequent categories are not supported")
    if t.handle_unknown not in ("error", "ignore"):
        raise ExportError("OneHotEncoder handle_unknown must be 'error' or 'ignore'")
    drop = getattr(t, "drop_idx_", None)
    specs, new_cols = [], []
    for j, ((inp, kind), cats) in enumerate(zip(tr.cols, t.categories_)):
        values = [_category(c) for c in cats]
        is_str = any(isinstance(v, str) for v in values)
        if is_str:
            if inp is None:
                raise ExportError("string categories on a derived column")
            kind = "str"
            tr.string_inputs.add(inp)
            tr.add_vocab(inp, [v for v in values if v is not None])
        elif kind == "str":
            raise ExportError("numeric categories on a string column")
        d = None
        if drop is not None and drop[j] is not None:
            d = int(drop[j])
        specs.append({"categories": values, "drop": d, "handle_unknown": t.handle_unknown})
        if inp is not None:
            if None in values or t.handle_unknown == "ignore":
                tr.nan_handled.add(inp)
            elif inp not in tr.nan_handled:
                tr.nan_error.add(inp)
            if t.handle_unknown == "error":
                tr.unknown_error.add(inp)
        width = len(values) - (1 if d is not None else 0)
        new_cols += [(None, "num")] * width
    tr.cols = new_cols
    return {"op": "onehot", "columns": specs}


def _column_transformer(t, tr):
    n = len(tr.cols)
    parts, new_cols = [], []
    for name, trans, cols in t.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        idx = _col_indices(cols, n)
        if not idx:
            continue
        sub = Tracker(0)
        sub.cols = [tr.cols[i] for i in idx]
        sub.string_inputs, sub.vocab = tr.string_inputs, tr.vocab
        sub.nan_handled, sub.nan_error, sub.unknown_error = (
            tr.nan_handled, tr.nan_error, tr.unknown_error)
        if isinstance(trans, str) and trans == "passthrough":
            steps = []
        else:
            steps = _transform_steps(trans, sub)
        parts.append({"columns": idx, "steps": steps})
        new_cols += sub.cols
    tr.cols = new_cols
    return {"op": "columns", "parts": parts}


def _transform_steps(t, tr):
    name = _cls(t)
    if name == "Pipeline":
        steps = []
        for _, s in t.steps:
            if s is None or (isinstance(s, str) and s == "passthrough"):
                continue
            steps += _transform_steps(s, tr)
        return steps
    if name == "StandardScaler":
        return [_scaler(t, tr)]
    if name == "SimpleImputer":
        return [_imputer(t, tr)]
    if name == "OneHotEncoder":
        return [_onehot(t, tr)]
    if name == "ColumnTransformer":
        return [_column_transformer(t, tr)]
    raise ExportError(f"transformer {name} is not supported")


# ---- estimators -----------------------------------------------------------------------------

def _tree_arrays(tree, values):
    """sklearn tree_ -> kiln tree dict; values: n_nodes x leaf_size array for leaves."""
    t = tree
    leaf = t.children_left == -1
    return {
        "left": [int(v) for v in t.children_left],
        "right": [int(v) for v in t.children_right],
        "feature": [int(f) if not l else -1 for f, l in zip(t.feature, leaf)],
        "threshold": _thresholds(t.threshold, leaf),
        "value": _floats(np.where(leaf[:, None], values, 0.0)),
    }


def _proba_values(tree, n_classes):
    v = np.asarray(tree.value[:, 0, :n_classes], dtype=np.float64)
    norm = v.sum(axis=1)
    norm[norm == 0.0] = 1.0
    return v / norm[:, None]


def _single_output(est):
    if getattr(est, "n_outputs_", 1) != 1:
        raise ExportError("multi-output estimators are not supported")


def _linear(est, n_features, classification):
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    if intercept.size == 1 and coef.shape[0] > 1:
        intercept = np.repeat(intercept, coef.shape[0])
    link = "identity"
    if classification:
        n_classes = len(est.classes_)
        ovr = est.multi_class in ("ovr", "warn") or (
            est.multi_class == "auto" and (
                n_classes <= 2 or est.solver in ("liblinear", "newton-cholesky")))
        if n_classes == 2 and not ovr:
            coef = np.vstack([-coef[0], coef[0]])
            intercept = np.array([-intercept[0], intercept[0]])
            link = "softmax"
        elif n_classes == 2:
            link = "sigmoid"
        else:
            link = "ovr" if ovr else "softmax"
    return {"type": "linear", "n_features": n_features, "n_outputs": int(coef.shape[0]),
            "link": link, "coef": [_floats(r) for r in coef], "intercept": _floats(intercept)}


def _forest(est, n_features, classification):
    _single_output(est)
    trees = est.estimators_ if hasattr(est, "estimators_") else [est]
    if classification:
        k = len(est.classes_)
        out = [_tree_arrays(t.tree_, _proba_values(t.tree_, k)) for t in trees]
        leaf_size = k
    else:
        k = 1
        out = [_tree_arrays(t.tree_, t.tree_.value[:, 0, :1]) for t in trees]
        leaf_size = 1
    return {"type": "tree_ensemble", "n_features": n_features, "n_outputs": k,
            "leaf_size": leaf_size, "aggregate": "mean" if len(trees) > 1 else "sum",
            "input_float32": True, "link": "identity", "base": [0.0] * k, "trees": out}


def _gradient_boosting(est, n_features, classification):
    loss = _cls(est._loss)
    k = est.estimators_.shape[1]
    init = est._raw_predict_init(np.zeros((1, n_features), dtype=np.float32))[0]
    factor = 1.0
    if classification:
        if loss == "ExponentialLoss":
            link, factor = "sigmoid", 2.0
        elif k == 1:
            link = "sigmoid"
        else:
            link = "softmax"
    else:
        link = "identity"
    lr = est.learning_rate
    trees = []
    for stage in est.estimators_:
        for j, t in enumerate(stage):
            v = lr * t.tree_.value[:, 0, :1]
            if factor != 1.0:
                v = v * factor
            d = _tree_arrays(t.tree_, v)
            d["output"] = j
            trees.append(d)
    return {"type": "tree_ensemble", "n_features": n_features, "n_outputs": int(k),
            "leaf_size": 1, "aggregate": "sum", "input_float32": True, "link": link,
            "base": _floats(np.asarray(init) * factor), "trees": trees}


def _hist_link(est):
    link = _cls(est._loss.link)
    return {"IdentityLink": "identity", "LogLink": "exp", "LogitLink": "sigmoid",
            "MultinomialLogit": "softmax"}.get(link) or _fail(f"HistGradientBoosting link {link}")


def _fail(msg):
    raise ExportError(msg)


def _hist_gradient_boosting(est, n_features, classification):
    if getattr(est, "is_categorical_", None) is not None and np.any(est.is_categorical_):
        raise ExportError("HistGradientBoosting categorical features are not supported")
    k = est.n_trees_per_iteration_
    trees = []
    for it in est._predictors:
        for j, p in enumerate(it):
            nodes = p.nodes
            leaf = nodes["is_leaf"].astype(bool)
            trees.append({
                "output": j,
                "left": [-1 if l else int(v) for v, l in zip(nodes["left"], leaf)],
                "right": [-1 if l else int(v) for v, l in zip(nodes["right"], leaf)],
                "feature": [-1 if l else int(v) for v, l in zip(nodes["feature_idx"], leaf)],
                "threshold": _thresholds(nodes["num_threshold"], leaf),
                "missing_left": [int(v) for v in nodes["missing_go_to_left"]],
                "value": _floats(np.where(leaf, nodes["value"], 0.0)),
            })
    base = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
    if base.size == 1 and k > 1:
        base = np.repeat(base, k)
    return {"type": "tree_ensemble", "n_features": n_features, "n_outputs": int(k),
            "leaf_size": 1, "aggregate": "sum", "input_float32": False,
            "link": _hist_link(est), "base": _floats(base), "trees": trees}


def _mlp(est, n_features, classification, dtype):
    act = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "identity"}
    if est.activation not in act:
        raise ExportError(f"MLP activation {est.activation} is not supported")
    out_act = est.out_activation_
    if classification and out_act == "logistic" and len(est.classes_) != 2:
        raise ExportError("multi-label MLPClassifier is not supported")
    link = {"softmax": "softmax", "logistic": "sigmoid", "identity": "identity"}[out_act]
    layers = []
    n = len(est.coefs_)
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        w = np.asarray(w, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if dtype == "float32":
            w = w.astype(np.float32).astype(np.float64)
            b = b.astype(np.float32).astype(np.float64)
        layers.append({"n_in": int(w.shape[0]), "n_out": int(w.shape[1]), "dtype": dtype,
                       "activation": "identity" if i == n - 1 else act[est.activation],
                       "weights": [_floats(r) for r in w.T], "bias": _floats(b)})
    return {"type": "mlp", "n_features": n_features, "n_outputs": int(layers[-1]["n_out"]),
            "link": link, "layers": layers}


ESTIMATORS = {
    "LogisticRegression": ("classification", _linear),
    "LinearRegression": ("regression", _linear),
    "Ridge": ("regression", _linear),
    "DecisionTreeClassifier": ("classification", _forest),
    "DecisionTreeRegressor": ("regression", _forest),
    "ExtraTreeClassifier": ("classification", _forest),
    "ExtraTreeRegressor": ("regression", _forest),
    "RandomForestClassifier": ("classification", _forest),
    "RandomForestRegressor": ("regression", _forest),
    "ExtraTreesClassifier": ("classification", _forest),
    "ExtraTreesRegressor": ("regression", _forest),
    "GradientBoostingClassifier": ("classification", _gradient_boosting),
    "GradientBoostingRegressor": ("regression", _gradient_boosting),
    "HistGradientBoostingClassifier": ("classification", _hist_gradient_boosting),
    "HistGradientBoostingRegressor": ("regression", _hist_gradient_boosting),
    "MLPClassifier": ("classification", "mlp"),
    "MLPRegressor": ("regression", "mlp"),
}

NAN_NATIVE = {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"}


def build(model, feature_names=None, mlp_dtype="float64"):
    """Returns (model.json document, MLflow signature inputs, outputs) for a fitted model."""
    if _cls(model) == "Pipeline":
        steps = [s for _, s in model.steps if not (s is None or s == "passthrough")]
        est, transformers = steps[-1], steps[:-1]
    else:
        est, transformers = model, []
    name = _cls(est)
    if name not in ESTIMATORS:
        raise ExportError(f"estimator {name} is not supported")
    task, fn = ESTIMATORS[name]
    n_inputs = int(getattr(model, "n_features_in_", 0) or
                   getattr(transformers[0] if transformers else est, "n_features_in_"))
    if feature_names is None:
        names = getattr(model, "feature_names_in_", None)
        feature_names = [str(n) for n in names] if names is not None else \
            [f"f{i}" for i in range(n_inputs)]
    if len(feature_names) != n_inputs:
        raise ExportError(f"{len(feature_names)} feature names for {n_inputs} inputs")
    tr = Tracker(n_inputs)
    steps = []
    for t in transformers:
        steps += _transform_steps(t, tr)
    n_features = len(tr.cols)
    for inp, kind in tr.cols:
        if kind == "str":
            raise ExportError("a string column reaches the estimator without one-hot encoding")
    classification = task == "classification"
    if fn == "mlp":
        est_doc = _mlp(est, n_features, classification, mlp_dtype)
    else:
        est_doc = fn(est, n_features, classification)
    # Which inputs may be missing: imputed or encoded ones, or all reaching a NaN-aware model.
    reaching = {inp for inp, _ in tr.cols if inp is not None}
    inputs = []
    for i, fname in enumerate(feature_names):
        is_str = i in tr.string_inputs
        allow = i in tr.nan_handled and i not in tr.nan_error
        if name in NAN_NATIVE and i not in tr.nan_error and (i in reaching or i in tr.nan_handled):
            allow = True
        spec = {"name": fname, "type": "string" if is_str else "double", "allow_missing": allow}
        if is_str:
            spec["categories"] = tr.vocab.get(i, [])
            spec["allow_unknown"] = i not in tr.unknown_error
        inputs.append(spec)
    doc = {"format": "kiln-model", "format_version": FORMAT_VERSION,
           "task": task, "inputs": inputs}
    if classification:
        doc["classes"] = [_label(c) for c in est.classes_]
    else:
        doc["n_outputs"] = est_doc["n_outputs"]
    doc["preprocessing"] = steps
    doc["model"] = est_doc
    doc["metadata"] = {"exported_by": "tools/export_sklearn.py",
                       "sklearn_estimator": _cls(model) if not transformers else
                       "Pipeline(" + ", ".join(_cls(t) for t in transformers) + ", " + name + ")"}
    sig_in = [{"type": s["type"], "name": s["name"], "required": True} for s in inputs]
    if classification:
        lab = doc["classes"][0]
        otype = "string" if isinstance(lab, str) else ("long" if isinstance(lab, int) else "double")
    else:
        otype = "double"
    sig_out = [{"type": otype, "required": True}]
    return doc, sig_in, sig_out


def _yaml_str(s):
    return json.dumps(s)


def write_dir(out_dir, doc, sig_in, sig_out):
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise ExportError(f"{out_dir} exists and is not empty")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
    created = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    mlmodel = (
        "artifact_path: model\n"
        "flavors:\n"
        "  kiln:\n"
        "    data: model.json\n"
        f"    format_version: {FORMAT_VERSION}\n"
        f"    kiln_version: {KILN_VERSION}\n"
        f"model_uuid: {uuid.uuid4().hex}\n"
        "signature:\n"
        f"  inputs: {_yaml_str(json.dumps(sig_in))}\n"
        f"  outputs: {_yaml_str(json.dumps(sig_out))}\n"
        "  params: null\n"
        f"utc_time_created: '{created}'\n")
    with open(os.path.join(out_dir, "MLmodel"), "w") as f:
        f.write(mlmodel)


def export(model, out_dir, feature_names=None, mlp_dtype="float64"):
    """Writes the kiln model directory for a fitted model; raises ExportError if unsupported."""
    doc, sig_in, sig_out = build(model, feature_names, mlp_dtype)
    write_dir(out_dir, doc, sig_in, sig_out)
    return doc


def main(argv):
    import argparse
    import pickle
    p = argparse.ArgumentParser(description="Export a fitted scikit-learn model to kiln.")
    p.add_argument("model", help="pickle file of the fitted estimator or pipeline")
    p.add_argument("out_dir")
    p.add_argument("--feature-names", help="comma-separated input names")
    p.add_argument("--mlp-dtype", choices=["float64", "float32"], default="float64")
    a = p.parse_args(argv)
    with open(a.model, "rb") as f:
        model = pickle.load(f)
    names = a.feature_names.split(",") if a.feature_names else None
    try:
        export(model, a.out_dir, names, a.mlp_dtype)
    except ExportError as e:
        print(f"export_sklearn: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
