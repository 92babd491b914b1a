#!/usr/bin/python3
"""The training step of the retraining example: fits a logistic regression on a batch, logs
parameters and metrics to the tracking run the pipeline made for this task ($MLFLOW_RUN_ID,
nested under the pipeline's run) and uploads the model as the run's "model" artifact, in
kiln's model format (tools/export_sklearn.py) so kiln evaluate and kiln serve can run it.

    train.py --data batch.csv [--C 1.0]

Uses examples/mlflow_lite.py, which speaks the MLflow REST API like the real client; with the
`mlflow` package installed, `mlflow.start_run()` resumes $MLFLOW_RUN_ID the same way.
"""
import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import mlflow_lite as mlflow  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def load(path):
    with open(path) as f:
        names = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return names[:-1], data[:, :-1], data[:, -1].astype(int)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--C", type=float, default=1.0)
    a = ap.parse_args()
    names, X, y = load(a.data)
    Xt, Xv, yt, yv = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=a.C, max_iter=500)).fit(Xt, yt)
    acc = accuracy_score(yv, model.predict(Xv))
    auc = roc_auc_score(yv, model.predict_proba(Xv)[:, 1])
    print(f"trained on {len(y)} rows: validation accuracy {acc:.3f}, roc_auc {auc:.3f}")

    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        print("no tracking run ($MLFLOW_RUN_ID): not logging")
        return 0
    # Resume the run the pipeline created (what mlflow.start_run() does with MLFLOW_RUN_ID).
    mlflow._state["run"] = mlflow._call("GET", "/runs/get", {"run_id": run_id})["run"]["info"]
    mlflow.log_params({"C": a.C, "rows": len(y), "data": os.path.basename(a.data)})
    mlflow.log_metrics({"val_accuracy": acc, "val_roc_auc": auc})
    from export_sklearn import export
    with tempfile.TemporaryDirectory() as d:
        export(model, os.path.join(d, "model"), feature_names=names)
        mlflow.log_artifacts(os.path.join(d, "model"), "model")
    print(f"logged the model to run {run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
