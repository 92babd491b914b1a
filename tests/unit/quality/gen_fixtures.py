#!/usr/bin/python3
"""Generates the SciPy reference fixtures that tests/unit/quality/test_stats.c and
test_drift.c compare kiln against. Run once with Debian 12's python3-scipy (SciPy 1.10.1,
NumPy 1.24.2) and commit the output:

    /usr/bin/python3 tests/unit/quality/gen_fixtures.py

Writes fixtures/stats.json (special functions, KS, distances) and fixtures/drift.json
(whole-column drift results per shared/reference/drift-semantics.md, computed here with
NumPy/SciPy exactly as Evidently's legacy stattests do). Samples are not stored: each case
names a kilngen spec and the C test regenerates the same doubles.

Non-finite numbers are written as the strings "inf", "-inf" and "nan" (JSON has none).
"""
import json
import math
import os
import sys

import numpy as np
import scipy
import scipy.special as sc
import scipy.stats as st
from scipy.spatial.distance import jensenshannon
from scipy.stats._stats_py import _compute_prob_outside_square
from scipy.stats._stats_pythran import _compute_outer_prob_inside_method

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilngen  # noqa: E402
import drift_reference  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def enc(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def kolmogn_cases():
    ns = [1, 2, 3, 5, 7, 10, 20, 50, 100, 139, 140, 141, 200, 500, 1000, 4999, 5000, 10000,
          33333, 99999, 100000, 100001, 250000, 500000, 1000000, 1000001, 3000000]
    out = []
    for n in ns:
        xs = [0.2 / n, 0.5 / n, 0.51 / n, 0.75 / n, 1.0 / n, 1.3 / n, 2.5 / n]
        for c in [0.1, 0.3, 0.5, 0.7, 0.754, 0.76, 1.0, 1.5, 2.0, 2.19, 2.21, 3.0, 3.99, 4.01,
                  6, 10, 17.9, 18.1, 50, 100, 369, 371, 500]:
            xs.append(math.sqrt(c / n))
        xs += [0.3, 0.45, 0.4999, 0.5, 0.6, 0.9, 1 - 1.5 / n, 1 - 0.5 / n, 0.999999]
        for x in xs:
            if 0 < x < 1.5:
                out.append([n, x, enc(st.kstwo.sf(x, n))])
    return out


def smirnov_cases():
    out = []
    for n in [1, 2, 5, 10, 11, 50, 100, 1000, 1012, 1013, 5000, 20000, 100000, 1000000,
              1000001, 5000000]:
        for x in [1e-9, 0.3 / n, 1.0 / n, 1.5 / n, 0.1 / math.sqrt(n), 0.5 / math.sqrt(n),
                  1 / math.sqrt(n), 2 / math.sqrt(n), 3 / math.sqrt(n), 5 / math.sqrt(n),
                  0.2, 0.5, 0.75, 1 - 1.0 / n, 1 - 0.5 / n]:
            if 0 <= x <= 1:
                out.append([n, x, enc(sc.smirnov(n, x))])
    return out


def ks_exact_cases():
    out = []
    pairs = [(5, 5), (10, 10), (7, 13), (20, 30), (100, 100), (100, 150), (250, 1000),
             (999, 1000), (1000, 1000), (1024, 1024), (3000, 2000), (4096, 4096),
             (5000, 7000), (9999, 10000), (10000, 10000), (10000, 3), (1, 10000)]
    for n1, n2 in pairs:
        g = math.gcd(n1, n2)
        lcm = (n1 // g) * n2
        for frac in [0.001, 0.01, 0.03, 0.05, 0.1, 0.2, 0.5, 0.9, 1.0]:
            h = max(1, int(round(frac * lcm)))
            if n1 == n2:
                p = _compute_prob_outside_square(n1, h)
            else:
                p = _compute_outer_prob_inside_method(n1, n2, g, h)
            out.append([n1, n2, h, enc(p)])
    return out


def chi2_cases():
    out = []
    for df in [1, 2, 3, 4, 5, 9, 10, 29, 100, 999, 5000, 40000]:
        for m in [1e-6, 0.01, 0.1, 0.5, 0.9, 1.0, 1.1, 1.5, 2, 3, 5, 10, 30]:
            x = m * df
            out.append([x, df, enc(st.chi2.sf(x, df))])
        out.append([0.0, df, enc(st.chi2.sf(0.0, df))])
    return out


def misc_cases():
    norm = [[z, enc(st.norm.cdf(z))] for z in
            [-40, -9, -8.3, -5, -2, -1, -0.7071, -0.5, 0, 0.3, 0.70710678, 1, 1.96, 3, 8, 9, 40]]
    lg = [[x, enc(math.lgamma(x))] for x in
          [1e-10, 0.01, 0.5, 1, 1.5, 2, 2.5, 3, 7.3, 14.99, 15, 100.5, 1e4, 12345.678, 1e7]]
    return norm, lg


SAMPLE_SPECS = {
    "u100": dict(n=100, seed=1, range=100000, scale=1000.0),
    "u80s": dict(n=80, seed=2, range=100000, shift=20000, scale=1000.0),
    "n1000": dict(n=1000, seed=3, range=1000, k=12, shift=-6000, scale=1000.0),
    "n1001": dict(n=1001, seed=4, range=1000, k=12, shift=-6000, scale=1000.0),
    "n1000s": dict(n=1000, seed=5, range=1000, k=12, shift=-5800, scale=1000.0),
    "n4096": dict(n=4096, seed=6, range=1000, k=12, shift=-6000, scale=1000.0),
    "n4096b": dict(n=4096, seed=7, range=1000, k=12, shift=-5950, scale=1000.0),
    "n10000": dict(n=10000, seed=8, range=1000, k=12, shift=-6000, scale=1000.0),
    "n10000s": dict(n=10000, seed=9, range=1000, k=12, shift=-5960, scale=1000.0),
    "n10001": dict(n=10001, seed=10, range=1000, k=12, shift=-6000, scale=1000.0),
    "n30000": dict(n=30000, seed=11, range=1000, k=12, shift=-6000, scale=1000.0),
    "n30000s": dict(n=30000, seed=12, range=1000, k=12, shift=-5990, scale=1000.0),
    "t500": dict(n=500, seed=13, range=7),
    "t700": dict(n=700, seed=14, range=7, shift=1),
    "t20000": dict(n=20000, seed=15, range=30),
    "u7": dict(n=7, seed=16, range=50),
    "u9": dict(n=9, seed=17, range=50, shift=10),
    "n200000": dict(n=200000, seed=18, range=1000, k=12, shift=-6000, scale=1000.0),
    "n150000s": dict(n=150000, seed=19, range=1000, k=12, shift=-5995, scale=1000.0),
}

KS_PAIRS = [("u100", "u80s"), ("n1000", "n1001"), ("n1000", "n1000s"), ("n4096", "n4096b"),
            ("n10000", "n10000s"), ("n10000", "n10001"), ("n1000", "n10001"),
            ("n30000", "n30000s"), ("t500", "t700"), ("t20000", "t500"), ("u7", "u9"),
            ("n200000", "n150000s"), ("u7", "n30000")]


def sample_cases():
    out = []
    for a, b in KS_PAIRS:
        x = np.array(kilngen.sample(SAMPLE_SPECS[a]))
        y = np.array(kilngen.sample(SAMPLE_SPECS[b]))
        ks = st.ks_2samp(x, y)
        out.append({
            "a": a, "b": b,
            "ks_statistic": enc(ks.statistic), "ks_p_value": enc(ks.pvalue),
            "wasserstein": enc(st.wasserstein_distance(x, y)),
        })
    return out


def vector_cases():
    vs = [
        ([0.2, 0.3, 0.5], [0.1, 0.6, 0.3]),
        ([0.0, 0.5, 0.5], [0.25, 0.25, 0.5]),
        ([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]),
        ([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]),
        ([1e-10, 1.0], [1.0, 1e-10]),
        ([0.25] * 4, [0.25] * 4),
    ]
    out = []
    for p, q in vs:
        out.append({"p": p, "q": q, "entropy": enc(st.entropy(p, q)),
                    "jensenshannon": enc(jensenshannon(p, q))})
    chis = [([10, 20, 30], [12.0, 18.0, 30.0]), ([5, 0, 7], [4.0, 4.0, 4.0]),
            ([3, 4], [7.0, 0.0]), ([50], [50.0]), ([1, 2, 3, 4, 5, 6], [3.5] * 6)]
    chi = []
    for o, e in chis:
        with np.errstate(divide="ignore", invalid="ignore"):
            r = st.chisquare(o, e)
        chi.append({"obs": o, "exp": e, "statistic": enc(r.statistic), "p_value": enc(r.pvalue)})
    return out, chi


def quantile_cases():
    out = []
    for spec in ["u100", "u7", "n1001", "t500", "u9"]:
        x = np.array(kilngen.sample(SAMPLE_SPECS[spec]))
        for q in [0.0, 0.01, 0.1, 0.25, 0.3333333333333333, 0.5, 0.75, 0.9, 0.99, 1.0]:
            out.append({"spec": spec, "q": q, "linear": enc(np.quantile(x, q)),
                        "nearest": enc(np.quantile(x, q, method="nearest"))})
    return out


def main():
    assert scipy.__version__ == "1.10.1", scipy.__version__
    norm, lg = misc_cases()
    vec, chi = vector_cases()
    stats = {
        "generator": "tests/unit/quality/gen_fixtures.py",
        "scipy": scipy.__version__, "numpy": np.__version__,
        "kolmogn_sf": kolmogn_cases(),
        "smirnov": smirnov_cases(),
        "ks_exact": ks_exact_cases(),
        "chi2_sf": chi2_cases(),
        "norm_cdf": norm,
        "lgamma": lg,
        "specs": SAMPLE_SPECS,
        "samples": sample_cases(),
        "vectors": vec,
        "chisquare": chi,
        "quantiles": quantile_cases(),
    }
    os.makedirs(os.path.join(HERE, "fixtures"), exist_ok=True)
    with open(os.path.join(HERE, "fixtures", "stats.json"), "w") as f:
        json.dump(stats, f, indent=0, allow_nan=False)
        f.write("\n")
    drift = drift_reference.fixture_cases(enc)
    with open(os.path.join(HERE, "fixtures", "drift.json"), "w") as f:
        json.dump(drift, f, indent=0, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
