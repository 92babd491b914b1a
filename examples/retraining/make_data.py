#!/usr/bin/python3
"""Makes the data of the retraining example: a reference set (what the current model was
trained on), a held-out set, and a new batch, optionally shifted to show drift.

    /usr/bin/python3 examples/retraining/make_data.py OUT_DIR [--shift 1.5] [--seed 7]

A churn-like binary problem: five numeric features, the label drawn from a logistic model.
--shift moves two features' means (a distribution change the drift step sees) and the label
rule with them (so a model trained on the old data gets worse).
"""
import argparse
import os

import numpy as np

FEATURES = ["tenure", "monthly_spend", "support_calls", "usage_hours", "discount"]


def sample(rng, n, shift):
    X = rng.normal(size=(n, 5))
    X[:, 1] += shift
    X[:, 2] += shift / 2
    w = np.array([-1.2, 0.8 + 0.3 * shift, 1.1, -0.6, 0.4])
    p = 1 / (1 + np.exp(-(X @ w - 0.2)))
    return X, (rng.random(n) < p).astype(int)


def write(path, X, y):
    with open(path, "w") as f:
        f.write(",".join(FEATURES + ["label"]) + "\n")
        for row, t in zip(X, y):
            f.write(",".join(f"{v:.5f}" for v in row) + f",{t}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shift", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    write(os.path.join(a.out, "reference.csv"), *sample(rng, 4000, 0.0))
    write(os.path.join(a.out, "holdout.csv"), *sample(rng, 1500, a.shift))
    write(os.path.join(a.out, "batch.csv"), *sample(rng, 4000, a.shift))
    print(f"wrote reference, holdout and batch (shift {a.shift}) to {a.out}")


if __name__ == "__main__":
    main()
