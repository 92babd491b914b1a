#!/usr/bin/python3
"""NumPy/SciPy side of bench_quality: the same drift statistics kiln computes, on the same
values, timed in the same run.

    /usr/bin/python3 bench/quality_ref.py DIR NCOLS

Reads DIR/ref_<j>.f64 and DIR/cur_<j>.f64 (raw little-endian doubles written by
bench_quality), computes per column what `kiln drift` reports for a large numeric column
(ks_2samp, wasserstein_distance and its normed form, Sturges bins with Evidently's zero floor
for PSI and KL, Jensen-Shannon), times the statistics (not the file reads), and also times
numpy.loadtxt on the first 100,000 rows of DIR/ref.csv. Prints one JSON object.
"""
import io
import json
import os
import sys
import time

import numpy as np
import scipy
from scipy import stats
from scipy.spatial.distance import jensenshannon


def floor_zeroes(p):
    p = p.copy()
    nz = p[p != 0]
    m = nz.min()
    p[p == 0] = m / 10 ** 6 if m <= 0.0001 else 0.0001
    return p


def column(r, c):
    ks = stats.ks_2samp(r, c)
    w = stats.wasserstein_distance(r, c)
    edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
    rp = np.histogram(r, edges)[0] / len(r)
    cp = np.histogram(c, edges)[0] / len(c)
    rf, cf = floor_zeroes(rp), floor_zeroes(cp)
    return {
        "ks_statistic": float(ks.statistic), "ks_p_value": float(ks.pvalue),
        "wasserstein": float(w), "wasserstein_normed": float(w / max(np.std(r), 0.001)),
        "psi": float(np.sum((rf - cf) * np.log(rf / cf))),
        "kl_divergence": float(stats.entropy(rf, cf)),
        "jensenshannon": float(jensenshannon(rp, cp)),
    }


def main():
    d, ncols = sys.argv[1], int(sys.argv[2])
    cols, compute = [], 0.0
    for j in range(ncols):
        r = np.fromfile(os.path.join(d, "ref_%d.f64" % j), dtype="<f8")
        c = np.fromfile(os.path.join(d, "cur_%d.f64" % j), dtype="<f8")
        t0 = time.perf_counter()
        cols.append(column(r, c))
        compute += time.perf_counter() - t0
    with open(os.path.join(d, "ref.csv"), "rb") as f:
        head = b"".join(f.readline() for _ in range(100001))
    t0 = time.perf_counter()
    np.loadtxt(io.BytesIO(head), delimiter=",", skiprows=1)
    loadtxt = time.perf_counter() - t0
    print(json.dumps({"scipy": scipy.__version__, "numpy": np.__version__,
                      "compute_s": compute, "loadtxt_s": loadtxt,
                      "loadtxt_mb": len(head) / 1e6, "columns": cols}))


if __name__ == "__main__":
    main()
