"""Deterministic sample generator shared by the fixture scripts and the C tests.

Values are integers divided by a scale, computed with integer arithmetic first, so Python and
C produce bit-identical doubles (IEEE division is correctly rounded in both). The C twin is
gen_sample() in tests/unit/quality/kilngen.h; keep them in step.

A spec is a dict: n, seed, range, k (number of draws summed, default 1), shift (default 0),
scale (default 1.0), and optionally nan_every / inf_every (every j-th value, 1-based, becomes
NaN / +inf; inf wins when both hit) and missing_every (the value becomes None: a missing cell).
"""

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & MASK

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def sample(spec):
    g = SplitMix64(spec["seed"])
    k = spec.get("k", 1)
    rng = spec["range"]
    shift = spec.get("shift", 0)
    scale = float(spec.get("scale", 1.0))
    out = []
    for i in range(1, spec["n"] + 1):
        acc = 0
        for _ in range(k):
            acc += g.next() % rng
        v = (acc + shift) / scale
        if spec.get("missing_every") and i % spec["missing_every"] == 0:
            v = None
        elif spec.get("inf_every") and i % spec["inf_every"] == 0:
            v = float("inf")
        elif spec.get("nan_every") and i % spec["nan_every"] == 0:
            v = float("nan")
        out.append(v)
    return out


def finite(values):
    import math
    return [v for v in values if v is not None and math.isfinite(v)]
