"""Helpers for the runtime e2e tests (test_runtime_*.py): the rt_tool driver, CSV rows and the
scikit-learn exporter. Standard library plus numpy/sklearn/xgboost from Debian's python3."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from kilntest import KILN_BIN, SRC, check_sanitizers

sys.path.insert(0, os.path.join(SRC, "tools"))

RT_TOOL = os.path.join(os.path.dirname(KILN_BIN), "tests", "e2e", "tools", "rt_tool")
TOL = 1e-6


def have_xgboost():
    try:
        import xgboost  # noqa: F401
        return True
    except ImportError:
        return False


def have_libxgboost():
    """Whether this build of kiln links libxgboost (-Dxgboost)."""
    p = subprocess.run([RT_TOOL, "features"], capture_output=True, text=True, timeout=60)
    return json.loads(p.stdout)["libxgboost"]


def csv_text(X, names=None):
    """CSV for rt_tool: header, then rows; NaN/None become empty fields; floats use repr."""
    X = np.asarray(X, dtype=object)
    names = names or [f"f{i}" for i in range(X.shape[1])]
    lines = [",".join(names)]
    for row in X:
        cells = []
        for v in row:
            if v is None or (isinstance(v, float) and np.isnan(v)):
                cells.append("")
            elif isinstance(v, (float, np.floating)):
                cells.append(repr(float(v)))
            else:
                cells.append(str(v))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def rt_tool(*args, input=None, check=True):
    p = subprocess.run([RT_TOOL, *[str(a) for a in args]], input=input, capture_output=True,
                       text=True, timeout=600)
    check_sanitizers(p.stderr, "rt_tool " + " ".join(str(a) for a in args))
    if check and p.returncode != 0:
        raise AssertionError(f"rt_tool {' '.join(map(str, args))} failed: {p.stderr.strip()}")
    return p


def predict(model_dir, X, names=None, extra=(), cmd="predict"):
    """Runs rt_tool predict; returns (labels, probabilities) or values as numpy arrays."""
    p = rt_tool(cmd, model_dir, *extra, input=csv_text(X, names))
    rows = [[float(t) for t in line.split()] for line in p.stdout.splitlines()]
    return np.array(rows)


def info(model_dir, *extra):
    return json.loads(rt_tool("info", model_dir, *extra).stdout)


class TempDirs:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="kiln-rt-")
        self.n = 0

    def new(self):
        self.n += 1
        return os.path.join(self.root, f"m{self.n}")

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def assert_proba_close(tc, got, ref, what, tol=TOL):
    err = float(np.max(np.abs(got - ref))) if got.size else 0.0
    tc.assertLessEqual(err, tol, f"{what}: max |kiln - reference| = {err:.3g}")


def assert_values_close(tc, got, ref, what, tol=TOL):
    err = float(np.max(np.abs(got - ref) / np.maximum(1.0, np.abs(ref)))) if got.size else 0.0
    tc.assertLessEqual(err, tol, f"{what}: max relative |kiln - reference| = {err:.3g}")


def assert_labels(tc, labels, ref_labels, proba, what):
    """Predicted labels must agree, except on rows whose two best probabilities tie (< 1e-9)."""
    bad = np.flatnonzero(labels != ref_labels)
    for r in bad:
        top = np.sort(proba[r])[-2:]
        tc.assertLess(top[1] - top[0], 1e-9, f"{what}: row {r} label differs "
                      f"({labels[r]!r} vs {ref_labels[r]!r})")
