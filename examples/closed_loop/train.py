#!/usr/bin/python3
"""Trains a churn model and logs it to kiln as a tracking run: parameters, metrics, the
training data set as the run's input, and the model as a servable kiln model (MLmodel +
model.json from tools/export_sklearn.py) with its training profile.json beside it, which
`kiln serve --deployment` replicas compare live traffic with (docs/monitoring.md).

    train.py --data train.csv [--features a,b] [--C 1.0] [--run-name NAME]
             [--experiment NAME] [--out run.json]

In a pipeline's `train` task ($MLFLOW_RUN_ID set) it logs into the run the pipeline made;
otherwise it starts a run of its own in --experiment. Talks to $KILN_TRACKING_URI through
examples/mlflow_lite.py, which sends the requests the real `mlflow` client sends.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import churn  # noqa: E402
import mlflow_lite as mlflow  # noqa: E402
from export_sklearn import export  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def kiln_bin():
    return (os.environ.get("KILN_BIN") or os.environ.get("KILN")
            or os.path.join(ROOT, "build", "kiln"))


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="CSV with the features and a label column")
    ap.add_argument("--features", default=",".join(churn.FEATURES))
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--run-name", default=None)
    ap.add_argument("--experiment", default="churn")
    ap.add_argument("--out", help="write {run_id, val_roc_auc} here")
    a = ap.parse_args()

    cols, X_all, y = churn.read_csv(a.data)
    if y is None:
        sys.exit(f"train.py: {a.data}: no '{churn.LABEL}' column")
    features = a.features.split(",")
    unknown = [f for f in features if f not in cols]
    if unknown:
        sys.exit(f"train.py: {a.data}: no column(s) {', '.join(unknown)}")
    X = X_all[:, [cols.index(f) for f in features]]
    Xt, Xv, yt, yv = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=a.C, max_iter=500)).fit(Xt, yt)
    p = model.predict_proba(Xv)[:, 1]
    acc, auc = accuracy_score(yv, p >= 0.5), roc_auc_score(yv, p)
    print(f"trained on {len(yt)} rows ({len(features)} features, C={a.C:g}): "
          f"validation accuracy {acc:.3f}, roc_auc {auc:.3f}")

    if os.environ.get("MLFLOW_RUN_ID"):
        # The pipeline made the run (nested under its own); resume it as mlflow.start_run()
        # does with $MLFLOW_RUN_ID set.
        mlflow._state["run"] = mlflow._call(
            "GET", "/runs/get", {"run_id": os.environ["MLFLOW_RUN_ID"]})["run"]["info"]
        own = False
    else:
        mlflow.set_experiment(a.experiment)
        mlflow.start_run(run_name=a.run_name or f"{len(features)} features, C={a.C:g}")
        own = True
    run_id = mlflow._run_id()
    data_digest = digest(a.data)
    mlflow.log_params({"model": "logistic regression", "C": a.C, "features": a.features,
                       "rows": len(y), "data": os.path.basename(a.data)})
    mlflow.log_metrics({"val_accuracy": acc, "val_roc_auc": auc,
                        "train_positive_rate": float(np.mean(yt))})
    mlflow.set_tag("dataset.version", data_digest)
    mlflow.log_input("churn_train", data_digest, os.path.abspath(a.data),
                     schema={"columns": features + [churn.LABEL]})
    with tempfile.TemporaryDirectory() as tmp:
        mdir = os.path.join(tmp, "model")
        export(model, mdir, feature_names=features)
        # The training profile: what the features looked like, for online drift monitoring.
        feats = os.path.join(tmp, "features.csv")
        churn.write_csv(feats, Xt, columns=features)
        subprocess.run([kiln_bin(), "profile", feats, "--out", os.path.join(mdir, "profile.json")],
                       check=True, stdout=subprocess.DEVNULL)
        mlflow.log_artifacts(mdir, "model")
    if own:
        mlflow.end_run()
    print(f"logged run {run_id}: model/ (MLmodel, model.json, profile.json)")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"run_id": run_id, "val_roc_auc": auc}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
