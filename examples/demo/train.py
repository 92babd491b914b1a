"""kiln demo: a short, real training session logged to a kiln server.

Trains logistic-regression models on scikit-learn's breast-cancer data set (a small
hyper-parameter sweep as nested runs), logging what MLflow users log: parameters, per-epoch
metrics, tags for the data version and preprocessing, the training data set as a run input,
and artifacts. It uses examples/mlflow_lite.py, which sends the same requests as the real
`mlflow` client; with `mlflow` installed, `import mlflow` works the same way.

    KILN_TRACKING_URI=http://127.0.0.1:5000 /usr/bin/python3 examples/demo/train.py OUT_DIR
"""
import hashlib
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import mlflow_lite as mlflow  # noqa: E402
from export_sklearn import export  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.linear_model import LogisticRegression, SGDClassifier  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def write_csv(path, X, y, names):
    with open(path, "w") as f:
        f.write(",".join(names + ["target"]) + "\n")
        for row, t in zip(X, y):
            f.write(",".join(f"{v:.6g}" for v in row) + f",{int(t)}\n")
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def log_servable_model(scaler, clf, names):
    """Logs the run's model as a kiln model directory under model/ (MLmodel + model.json), so
    kiln serve, predict and evaluate run it: the scaler and the SGD logistic regression as the
    equivalent scikit-learn pipeline (same coefficients, same sigmoid), exported with
    tools/export_sklearn.py."""
    lr = LogisticRegression()
    lr.coef_, lr.intercept_, lr.classes_ = clf.coef_.copy(), clf.intercept_.copy(), clf.classes_
    with tempfile.TemporaryDirectory() as tmp:
        export(make_pipeline(scaler, lr), tmp, feature_names=names)
        mlflow.log_artifacts(tmp, "model")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "kiln-data/demo"
    os.makedirs(out, exist_ok=True)
    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    X_train, X_hold, y_train, y_hold = train_test_split(
        data.data, data.target, test_size=0.25, random_state=7, stratify=data.target)
    train_csv, hold_csv = os.path.join(out, "train.csv"), os.path.join(out, "holdout.csv")
    train_digest = write_csv(train_csv, X_train, y_train, names)
    hold_digest = write_csv(hold_csv, X_hold, y_hold, names)
    scaler = StandardScaler().fit(X_train)
    Xs, Xh = scaler.transform(X_train), scaler.transform(X_hold)

    mlflow.set_experiment("demo-breast-cancer")
    best = None
    with mlflow.start_run(run_name="sweep", tags={"dataset.version": train_digest}):
        mlflow.log_params({"model": "logistic regression (SGD)", "epochs": 15})
        for alpha in (1e-4, 1e-3, 1e-2):
            with mlflow.start_run(run_name=f"alpha={alpha:g}", nested=True) as run:
                mlflow.log_params({"alpha": alpha, "epochs": 15, "learning_rate": "optimal",
                                   "scaler": "standard"})
                mlflow.set_tag("dataset.version", train_digest)
                mlflow.set_tag("preprocessing", "StandardScaler")
                mlflow.log_input("breast_cancer_train", train_digest, os.path.abspath(train_csv),
                                 schema={"columns": names + ["target"]})
                clf = SGDClassifier(loss="log_loss", alpha=alpha, random_state=0)
                for epoch in range(15):
                    clf.partial_fit(Xs, y_train, classes=np.array([0, 1]))
                    p = clf.predict_proba(Xh)[:, 1]
                    mlflow.log_metrics({"holdout_log_loss": log_loss(y_hold, p),
                                        "holdout_accuracy": accuracy_score(y_hold, p > 0.5)},
                                       step=epoch)
                auc = roc_auc_score(y_hold, p)
                mlflow.log_metric("holdout_roc_auc", auc)
                mlflow.log_dict({"coef": clf.coef_[0].tolist(),
                                 "intercept": float(clf.intercept_[0]),
                                 "holdout_digest": hold_digest}, "model/coefficients.json")
                log_servable_model(scaler, clf, names)
                mlflow.log_artifact(hold_csv, "data")
                print(f"  run {run.info['run_id']}  alpha={alpha:<7g} holdout ROC AUC {auc:.4f}")
                if best is None or auc > best[1]:
                    best = (run.info["run_id"], auc, alpha)
        mlflow.log_metric("best_holdout_roc_auc", best[1])
        mlflow.set_tag("best_run", best[0])
    print(f"best: alpha={best[2]:g} (run {best[0]}) with holdout ROC AUC {best[1]:.4f}")
    with open(os.path.join(out, "best_run.json"), "w") as f:
        json.dump({"run_id": best[0], "roc_auc": best[1]}, f)


if __name__ == "__main__":
    main()
