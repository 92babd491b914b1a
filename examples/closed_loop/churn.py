"""The world of the closed-loop demo: a customer-churn problem whose data moves over time.

Five features of a subscription customer and whether they left (label 1). Before the shift
(shift = 0) churn comes from short tenure, high spend, support calls and little use. After it
(shift = 1) a competitor's offer changed who leaves: customers are newer (tenure x 0.6), call
support more (+1.5 calls a month) and use the service more (+10 hours), and the heavy users
are now the ones who churn while support calls matter much less. The feature shift is what a
replica's drift monitoring sees (3 of 5 columns); the changed rule is why a model trained
before the shift gets worse (accuracy about 0.84 -> 0.55) and retraining on recent labelled
traffic helps (about 0.84 again, ROC AUC about 0.91).

Used by generator.py (live traffic and labels), train.py and the demo script.
"""
import numpy as np

FEATURES = ["tenure", "monthly_spend", "support_calls", "usage_hours", "discount"]
LABEL = "label"


def sample(rng, n, shift):
    """n rows drawn at shift in [0, 1] (0 before, 1 after; in between mixes the two).
    Returns (X, y): an n x 5 float array in FEATURES order and 0/1 labels."""
    X = np.empty((n, len(FEATURES)))
    X[:, 0] = np.round(rng.gamma(2.0, 12.0, n) * (1 - 0.4 * shift), 1)
    X[:, 1] = np.round(rng.normal(60, 15, n), 2)
    X[:, 2] = rng.poisson(1.0 + 1.5 * shift, n)
    X[:, 3] = np.round(rng.normal(40 + 10 * shift, 10, n), 1)
    X[:, 4] = np.round(rng.uniform(0, 0.3, n), 3)
    before = (-0.08 * X[:, 0] + 0.04 * (X[:, 1] - 60) + 0.9 * (X[:, 2] - 1)
              - 0.08 * (X[:, 3] - 40) + 3 * X[:, 4] + 0.4)
    after = 1.5 * (-0.03 * X[:, 0] + 0.04 * (X[:, 1] - 60) + 0.3 * (X[:, 2] - 2.5)
                   + 0.10 * (X[:, 3] - 50) + 3 * X[:, 4])
    z = (1 - shift) * before + shift * after
    p = 1 / (1 + np.exp(-1.5 * z))
    return X, (rng.random(n) < p).astype(int)


def write_csv(path, X, y=None, columns=None):
    """Writes rows (and labels, when given) as CSV with a header."""
    cols = list(columns or FEATURES)
    with open(path, "w") as f:
        f.write(",".join(cols + ([LABEL] if y is not None else [])) + "\n")
        for i, row in enumerate(X):
            line = ",".join(f"{v:g}" for v in row)
            if y is not None:
                line += f",{int(y[i])}"
            f.write(line + "\n")


def read_csv(path):
    """Reads a CSV written by write_csv (or the generator's labelled.csv): (columns, X, y)."""
    with open(path) as f:
        cols = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if cols[-1] == LABEL:
        return cols[:-1], data[:, :-1], data[:, -1].astype(int)
    return cols, data, None
