#!/usr/bin/python3
"""Writes the data the first churn model is trained and evaluated on, from before the shift:
OUT/reference.csv (training) and OUT/holdout.csv (held out), both with a label column.

    make_data.py OUT [--rows 4000] [--seed 1]
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import churn  # noqa: E402

import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    X, y = churn.sample(rng, a.rows, 0.0)
    churn.write_csv(os.path.join(a.out, "reference.csv"), X, y)
    X, y = churn.sample(rng, a.rows // 3, 0.0)
    churn.write_csv(os.path.join(a.out, "holdout.csv"), X, y)
    print(f"wrote {a.rows} training rows (reference.csv) and {a.rows // 3} held-out rows "
          f"(holdout.csv) to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
