"""Reference implementation of kiln's drift semantics with NumPy/SciPy, written from
shared/reference/drift-semantics.md (Evidently legacy stattests, SciPy 1.10.1): the fixture
generator runs it and test_drift.c compares kiln's C engine with its output.

Missing cells are None (or NaN, which a CSV reader reads as a missing value); +-inf is a
value that is dropped before any statistic, like NaN.
"""
import math

import numpy as np
import scipy.stats as st
from scipy.spatial.distance import jensenshannon

import kilngen

P_TESTS = {"ks", "chisquare", "z"}
DEFAULT_THRESHOLD = {"ks": 0.05, "chisquare": 0.05, "z": 0.05, "wasserstein": 0.1,
                     "jensenshannon": 0.1, "psi": 0.1, "kl_div": 0.1}


def is_missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def clean(values):
    out = []
    for v in values:
        if is_missing(v):
            continue
        if isinstance(v, float) and math.isinf(v):
            continue
        out.append(v)
    return out


def default_method(kind, n_ref, n_values):
    if kind == "numeric":
        if n_ref <= 1000:
            return "z" if n_values <= 2 else ("chisquare" if n_values <= 5 else "ks")
        return "jensenshannon" if n_values <= 5 else "wasserstein"
    if n_ref <= 1000:
        return "chisquare" if n_values > 2 else "z"
    return "jensenshannon"


def floor_zeroes(p):
    p = p.copy()
    nz = p[p != 0]
    m = nz.min()
    p[p == 0] = m / 10 ** 6 if m <= 0.0001 else 0.0001
    return p


def binned(ref, cur, kind, bins):
    """(reference shares, current shares, description) before the zero floor."""
    n_vals = len(set(ref))
    if kind == "numeric" and n_vals > 20:
        r = np.array(ref, dtype=float)
        c = np.array(cur, dtype=float)
        if bins is None:
            edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
            rp = np.histogram(r, edges)[0] / len(r)
            cp = np.histogram(c, edges)[0] / len(c)
            return rp, cp, "sturges"
        nb = int(bins.split(":")[1])
        inner = np.unique(np.quantile(r, [i / nb for i in range(1, nb)]))
        rp = np.bincount(np.searchsorted(inner, r, side="right"), minlength=len(inner) + 1) / len(r)
        cp = np.bincount(np.searchsorted(inner, c, side="right"), minlength=len(inner) + 1) / len(c)
        return rp, cp, bins
    keys = sorted(set(ref) | set(cur))
    rc = {k: 0 for k in keys}
    cc = {k: 0 for k in keys}
    for v in ref:
        rc[v] += 1
    for v in cur:
        cc[v] += 1
    rp = np.array([rc[k] for k in keys], dtype=float) / len(ref)
    cp = np.array([cc[k] for k in keys], dtype=float) / len(cur)
    return rp, cp, "values"


def chisquare(ref, cur):
    keys = sorted(set(ref) | set(cur))
    rc = {k: 0 for k in keys}
    cc = {k: 0 for k in keys}
    for v in ref:
        rc[v] += 1
    for v in cur:
        cc[v] += 1
    k_norm = len(cur) / len(ref)
    f_exp = [rc[k] * k_norm for k in keys]
    f_obs = [cc[k] for k in keys]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = st.chisquare(f_obs, f_exp)
    return float(r.statistic), float(r.pvalue)


def z_test(ref, cur):
    """(z statistic or None, p-value) as Evidently's _z_stat_test computes them."""
    if len(set(ref)) == 1 and len(set(cur)) == 1 and ref[0] == cur[0]:
        return None, 1.0
    keys = sorted(set(ref) | set(cur))
    x1 = np.array([0 if v == keys[0] else 1 for v in ref])
    x2 = np.array([0 if v == keys[0] else 1 for v in cur])
    n1, n2 = len(x1), len(x2)
    p1 = float(sum(x1)) / n1
    p2 = float(sum(x2)) / n2
    P = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * (1 - st.norm.cdf(np.abs(z))))


def column(ref_raw, cur_raw, kind, method=None, threshold=None, bins=None):
    ref = clean(ref_raw)
    cur = clean(cur_raw)
    miss_ref = sum(1 for v in ref_raw if is_missing(v)) / len(ref_raw)
    miss_cur = sum(1 for v in cur_raw if is_missing(v)) / len(cur_raw)
    out = {"type": kind, "n_reference": len(ref), "n_current": len(cur)}
    if not ref or not cur:
        out["error"] = "reference" if not ref else "current"
        return out
    n_values = len(set(ref) | set(cur))
    m = method or default_method(kind, len(ref), n_values)
    thr = threshold if threshold is not None else DEFAULT_THRESHOLD[m]
    stats = {"missing_share_change": miss_cur - miss_ref}
    rp, cp, how = binned(ref, cur, kind, bins)
    stats["psi"] = float(np.sum((floor_zeroes(rp) - floor_zeroes(cp)) *
                                np.log(floor_zeroes(rp) / floor_zeroes(cp))))
    stats["kl_divergence"] = float(st.entropy(floor_zeroes(rp), floor_zeroes(cp)))
    stats["jensenshannon"] = float(jensenshannon(rp, cp))
    out["n_bins"] = len(rp)
    out["binning"] = how
    chi = z = None
    if kind == "numeric":
        ks = st.ks_2samp(ref, cur)
        stats["ks_statistic"] = float(ks.statistic)
        stats["ks_p_value"] = float(ks.pvalue)
        w = st.wasserstein_distance(ref, cur)
        stats["wasserstein"] = float(w)
        stats["wasserstein_normed"] = float(w / max(np.std(ref), 0.001))
        if m in ("chisquare", "z"):
            chi = chisquare(ref, cur)
            z = z_test(ref, cur)
    else:
        chi = chisquare(ref, cur)
        seen = set(ref)
        stats["unseen_share"] = sum(1 for v in cur if v not in seen) / len(cur)
        if n_values <= 2 or m == "z":
            z = z_test(ref, cur)
    if chi is not None:
        stats["chisquare_statistic"], stats["chisquare_p_value"] = chi
    if z is not None:
        stats["z_statistic"], stats["z_p_value"] = z
    if m == "ks":
        s, p = stats["ks_statistic"], stats["ks_p_value"]
    elif m == "chisquare":
        s, p = stats["chisquare_statistic"], stats["chisquare_p_value"]
    elif m == "z":
        s, p = stats["z_statistic"], stats["z_p_value"]
    elif m == "wasserstein":
        s, p = stats["wasserstein_normed"], None
    elif m == "kl_div":
        s, p = stats["kl_divergence"], None
    else:
        s, p = stats[m if m != "jensenshannon" else "jensenshannon"], None
    if m in P_TESTS:
        drifted = p <= thr if m == "ks" else p < thr
    else:
        drifted = s >= thr
    out.update({"method": m, "threshold": thr, "statistic": s, "p_value": p,
                "drifted": bool(drifted), "stats": stats})
    return out


def values_of(spec, kind):
    vals = kilngen.sample(spec)
    if kind == "categorical":
        out = []
        for v in vals:
            if is_missing(v):
                out.append(None)
            else:
                out.append("c%d" % int(round(v * float(spec.get("scale", 1.0)))))
        return out
    return vals


def N(n, seed, shift=-6000, **kw):
    d = dict(n=n, seed=seed, range=1000, k=12, shift=shift, scale=1000.0)
    d.update(kw)
    return d


def U(n, seed, rng, shift=0, **kw):
    d = dict(n=n, seed=seed, range=rng, shift=shift)
    d.update(kw)
    return d


CASES = [
    # name, kind, ref spec, cur spec, options
    ("ks_small_same", "numeric", N(500, 1), N(600, 2), {}),
    ("ks_small_shift", "numeric", N(800, 3), N(700, 4, shift=-5900), {}),
    ("ks_1000_exact", "numeric", N(1000, 5), N(1000, 6, shift=-5950), {}),
    ("w_1001", "numeric", N(1001, 7), N(1000, 8, shift=-5950), {}),
    ("w_10000", "numeric", N(10000, 9), N(10000, 10, shift=-5980), {}),
    ("w_10001", "numeric", N(10001, 11), N(9999, 12), {}),
    ("ks_forced_10000", "numeric", N(10000, 13), N(10000, 14, shift=-5990), {"method": "ks"}),
    ("ks_forced_10001", "numeric", N(10001, 15), N(10000, 16, shift=-5990), {"method": "ks"}),
    ("sturges_pow2_2048", "numeric", N(2048, 17), N(2048, 18, shift=-5980), {}),
    ("sturges_pow2_1024", "numeric", N(512, 19), N(512, 20), {"method": "psi"}),
    ("sturges_4096_mixed", "numeric", N(4000, 21), N(96, 22), {}),
    ("ties_few_values_chi", "numeric", U(900, 23, 4), U(950, 24, 5), {}),
    ("ties_two_values_z", "numeric", U(900, 25, 2), U(950, 26, 2), {}),
    ("ties_js_large", "numeric", U(5000, 27, 4), U(4000, 28, 4, shift=1), {}),
    ("ties_15_values", "numeric", U(3000, 29, 15), U(3000, 30, 15), {"method": "psi"}),
    ("ties_21_values", "numeric", U(3000, 31, 21), U(3000, 32, 22), {"method": "kl_div"}),
    ("union_makes_ks", "numeric", U(200, 33, 3), U(200, 34, 6), {}),
    ("const_same", "numeric", U(300, 35, 1), U(300, 36, 1), {}),
    ("const_diff", "numeric", U(300, 37, 1), U(300, 38, 1, shift=5), {}),
    ("nan_inf_dropped", "numeric", N(1200, 39, nan_every=7, inf_every=11),
     N(1100, 40, shift=-5970, missing_every=5, inf_every=13), {}),
    ("empty_current", "numeric", N(100, 41), N(50, 42, inf_every=1), {}),
    ("empty_reference", "numeric", N(100, 43, missing_every=1), N(50, 44), {}),
    ("quantile_10", "numeric", N(5000, 45), N(3000, 46, shift=-5970), {"bins": "quantile:10"}),
    ("quantile_7_outside", "numeric", N(2000, 47), N(2000, 48, shift=-5000),
     {"bins": "quantile:7", "method": "psi"}),
    ("method_wasserstein_small", "numeric", N(300, 49), N(300, 50, shift=-5990),
     {"method": "wasserstein", "threshold": 0.05}),
    ("method_js_threshold", "numeric", N(3000, 51), N(3000, 52), {"method": "jensenshannon",
                                                                  "threshold": 0.01}),
    ("method_ks_threshold", "numeric", N(3000, 53), N(3000, 54, shift=-5995),
     {"method": "ks", "threshold": 0.5}),
    ("method_z_numeric", "numeric", U(400, 55, 3), U(400, 56, 3), {"method": "z"}),
    ("method_chi_numeric", "numeric", N(400, 57), N(400, 58), {"method": "chisquare"}),
    ("cat_chi", "categorical", U(800, 59, 6), U(900, 60, 6), {}),
    ("cat_chi_unseen", "categorical", U(800, 61, 5), U(900, 62, 6), {}),
    ("cat_z", "categorical", U(700, 63, 2), U(600, 64, 2), {}),
    ("cat_z_one_value_same", "categorical", U(300, 65, 1), U(300, 66, 1), {}),
    ("cat_z_one_value_diff", "categorical", U(300, 67, 1), U(300, 68, 1, shift=1), {}),
    ("cat_js_large", "categorical", U(20000, 69, 40), U(8000, 70, 41), {}),
    ("cat_js_floor_quirk", "categorical", U(20000, 71, 3, missing_every=19), U(8000, 72, 4),
     {"method": "psi"}),
    ("cat_missing", "categorical", U(1500, 73, 8, missing_every=4), U(1500, 74, 8,
                                                                         missing_every=3), {}),
    ("cat_many", "categorical", U(900, 75, 300), U(900, 76, 320), {}),
    ("cat_empty", "categorical", U(10, 77, 3), U(10, 78, 3, missing_every=1), {}),
]


def fixture_cases(enc):
    out = []
    for name, kind, rs, cs, opts in CASES:
        ref = values_of(rs, kind)
        cur = values_of(cs, kind)
        res = column(ref, cur, kind, opts.get("method"), opts.get("threshold"), opts.get("bins"))

        def e(v):
            if isinstance(v, dict):
                return {k: e(x) for k, x in v.items()}
            if isinstance(v, float):
                return enc(v)
            return v
        out.append({"name": name, "kind": kind, "ref": rs, "cur": cs, "options": opts,
                    "expected": e(res)})
    return {"generator": "tests/unit/quality/gen_fixtures.py", "cases": out}
