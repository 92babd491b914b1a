#!/usr/bin/python3
"""Generates the reference fixtures tests/unit/deploy/test_hist.c and test_analysis.c compare
kiln against. Run with Debian 12's python3-numpy/scipy/sklearn and commit the output:

    /usr/bin/python3 tests/unit/deploy/gen_fixtures.py

fixtures/divergence.json: pairs of log-linear histograms (bucket key -> count, bucketed here
exactly as src/deploy/hist.c does) with the PSI and Jensen-Shannon distance of cur against ref,
computed with NumPy and SciPy on the bucket midpoints: inner edges at numpy.quantile(ref,
i/nbins, method='linear') with duplicates dropped, a value x in bin searchsorted(edges, x,
'right'), shares floored for PSI as Evidently does, scipy.spatial.distance.jensenshannon on the
raw shares.

fixtures/confusion.json: (predicted, actual) label lists with scikit-learn's accuracy_score and
precision/recall (binary for a positive label, macro averages otherwise, zero_division=0).
"""
import json
import math
import os

import numpy as np
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import accuracy_score, precision_score, recall_score

HERE = os.path.dirname(os.path.abspath(__file__))


def key(v):
    a = abs(v)
    if not a >= 2.0 ** -32:
        return 0
    frac, e = math.frexp(a)
    e -= 1
    if e > 31:
        e, m = 31, 31
    else:
        m = min(int((2.0 * frac - 1.0) * 32), 31)
    k = 1 + (e + 32) * 32 + m
    return -k if v < 0 else k


def mid(k):
    if k == 0:
        return 0.0
    a = abs(k)
    e = (a - 1) // 32 - 32
    m = (a - 1) % 32
    lo = math.ldexp(1.0 + m / 32.0, e)
    hi = math.ldexp(1.0 + (m + 1) / 32.0, e)
    return (lo + hi) / 2 if k > 0 else (-hi + -lo) / 2


def hist(values):
    h = {}
    for v in values:
        k = key(float(v))
        h[k] = h.get(k, 0) + 1
    return h


def expand(h):
    ks = sorted(h)
    return np.repeat(np.array([mid(k) for k in ks]), [h[k] for k in ks])


def floor(p):
    nz = p[p > 0]
    if nz.size == 0:
        return p
    m = nz.min()
    fill = m / 1e6 if m <= 0.0001 else 0.0001
    return np.where(p == 0, fill, p)


def divergence(ref, cur, nbins):
    r, c = expand(ref), expand(cur)
    qs = [np.quantile(r, i / nbins, method="linear") for i in range(1, nbins)]
    edges = []
    for q in qs:
        if not edges or q != edges[-1]:
            edges.append(q)
    rb = np.bincount(np.searchsorted(edges, r, side="right"), minlength=len(edges) + 1)
    cb = np.bincount(np.searchsorted(edges, c, side="right"), minlength=len(edges) + 1)
    rs, cs = rb / r.size, cb / c.size
    rf, cf = floor(rs), floor(cs)
    psi = float(np.sum((rf - cf) * np.log(rf / cf)))
    js = float(jensenshannon(rs, cs))
    return psi, js


def divergence_cases():
    rng = np.random.default_rng(7)
    cases = [
        ("beta shift", rng.beta(2, 5, 5000), rng.beta(2.6, 5, 3000), 10),
        ("beta same", rng.beta(2, 5, 5000), rng.beta(2, 5, 4000), 10),
        ("inverted", rng.beta(2, 5, 2000), 1 - rng.beta(2, 5, 2000), 10),
        ("regression", rng.normal(100, 15, 3000), rng.normal(110, 15, 3000), 20),
        ("signed", rng.normal(0, 1, 3000), rng.normal(0.3, 1.2, 2500), 10),
        ("few values", rng.integers(0, 3, 1000).astype(float), rng.integers(0, 4, 800)
         .astype(float), 10),
        ("latency us", rng.lognormal(7, 0.5, 4000), rng.lognormal(7.4, 0.6, 4000), 5),
    ]
    out = []
    for name, a, b, nbins in cases:
        ref, cur = hist(a), hist(b)
        psi, js = divergence(ref, cur, nbins)
        out.append({"name": name, "nbins": nbins,
                    "ref": [[k, ref[k]] for k in sorted(ref)],
                    "cur": [[k, cur[k]] for k in sorted(cur)],
                    "psi": psi, "js": js,
                    "p99_ref": float(np.quantile(a, 0.99))})
    return out


def confusion_cases():
    rng = np.random.default_rng(11)
    out = []
    specs = [("binary", ["0", "1"], "1", 0.8), ("binary low", ["0", "1"], "1", 0.3),
             ("three classes", ["a", "b", "c"], None, 0.6),
             ("positive never predicted", ["0", "1"], "1", None)]
    for name, labels, pos, right in specs:
        actual = list(rng.choice(labels, 300))
        if right is None:
            pred = ["0"] * 300
        else:
            pred = [a if rng.random() < right else rng.choice(labels) for a in actual]
        if pos is not None:
            p = precision_score(actual, pred, pos_label=pos, zero_division=0)
            r = recall_score(actual, pred, pos_label=pos, zero_division=0)
        else:
            p = precision_score(actual, pred, average="macro", zero_division=0)
            r = recall_score(actual, pred, average="macro", zero_division=0)
        out.append({"name": name, "positive": pos, "pred": pred, "actual": actual,
                    "accuracy": float(accuracy_score(actual, pred)),
                    "precision": float(p), "recall": float(r),
                    "precision_undefined": pos is not None and pos not in pred})
    return out


def main():
    os.makedirs(os.path.join(HERE, "fixtures"), exist_ok=True)
    with open(os.path.join(HERE, "fixtures", "divergence.json"), "w") as f:
        json.dump(divergence_cases(), f)
    with open(os.path.join(HERE, "fixtures", "confusion.json"), "w") as f:
        json.dump(confusion_cases(), f)


if __name__ == "__main__":
    main()
