#!/usr/bin/python3
"""Trains the benchmark MLP (scikit-learn MLPClassifier, three hidden layers of 256, ReLU) on
scikit-learn's digits, exports it as a float32 kiln model with tools/export_sklearn.py and
runs bench_runtime_mlp on it with the digits rows.

    /usr/bin/python3 bench/run_mlp_bench.py build-release/bench/bench_runtime_mlp
"""
import os
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
warnings.filterwarnings("ignore")

from export_sklearn import export  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def main():
    X, y = load_digits(return_X_y=True)
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(256, 256, 256),
                                                          max_iter=60, random_state=0))
    model.fit(X, y)
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "mlp")
        export(model, d, mlp_dtype="float32")
        csv = os.path.join(tmp, "digits.csv")
        with open(csv, "w") as f:
            f.write(",".join(f"f{i}" for i in range(X.shape[1])) + "\n")
            for row in X:
                f.write(",".join(repr(float(v)) for v in row) + "\n")
        return subprocess.call([sys.argv[1], d, csv])


if __name__ == "__main__":
    sys.exit(main())
