#!/usr/bin/python3
"""The first task of the retraining pipeline: collects the recent labelled traffic into a
training batch and a held-out set for this run.

    collect.py [--data DIR] [--rows 2000] [--holdout 0.25]

DIR (default $KILN_LOOP_DIR, which scripts/demo.sh sets for the server it starts) holds
labelled.csv (appended by generator.py as labels come back), reference.csv (the data the
first production model was trained on) and its profile, reference-profile.json. Waits for
the next --rows labels of live traffic to come back (at most --wait seconds), so a run trains
on the world as it is now and not as it was before the alert; splits them at random into
DIR/runs/RUN/batch.csv and holdout.csv, and writes the paths as task outputs ($KILN_OUTPUTS)
for the validate, drift, train and evaluate steps.

Fault injection: if DIR/faults/next-export exists and says `flip-labels`, this export writes
every label inverted (a bug in a labelling job), and the fault file is consumed. Both the
training batch and the held-out set come from the export, so offline validation and
evaluation cannot see the bug; only the labels of live traffic can (the canary's feedback).
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import churn  # noqa: E402

import numpy as np  # noqa: E402


def outputs(**kv):
    path = os.environ.get("KILN_OUTPUTS")
    for k, v in kv.items():
        print(f"  {k} = {v}")
    if path:
        with open(path, "a") as f:
            for k, v in kv.items():
                f.write(f"{k}={v}\n")


def count_rows(path):
    """Complete data rows in a CSV being appended to (a partial last line does not count)."""
    with open(path, "rb") as f:
        data = f.read()
    return max(0, data.count(b"\n") - 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="", help="default (also when empty): $KILN_LOOP_DIR")
    ap.add_argument("--rows", type=int, default=1500)
    ap.add_argument("--wait", type=float, default=60.0)
    ap.add_argument("--holdout", type=float, default=0.25)
    a = ap.parse_args()
    a.data = a.data or os.environ.get("KILN_LOOP_DIR", "")
    if not a.data:
        sys.exit("collect.py: no data folder: pass --data or set $KILN_LOOP_DIR")
    data = os.path.abspath(a.data)
    src = os.path.join(data, "labelled.csv")
    if not os.path.exists(src):
        sys.exit(f"collect.py: {src}: no labelled traffic yet")
    start, t0 = count_rows(src), time.monotonic()
    while count_rows(src) < start + a.rows:
        if time.monotonic() - t0 > a.wait:
            sys.exit(f"collect.py: {src}: {count_rows(src) - start} new labelled rows in "
                     f"{a.wait:g} s, {a.rows} needed")
        time.sleep(0.2)
    with open(src) as f:
        lines = f.read().split("\n")
    cols = lines[0].split(",")
    if cols != churn.FEATURES + [churn.LABEL]:
        sys.exit(f"collect.py: {src}: columns {cols} are not {churn.FEATURES} + label")
    try:
        table = np.array([[float(v) for v in line.split(",")]
                          for line in lines[1 + start:1 + start + a.rows]])
    except ValueError as e:
        sys.exit(f"collect.py: {src}: {e}")
    X, y = table[:, :-1], table[:, -1].astype(int)

    fault = "none"
    fpath = os.path.join(data, "faults", "next-export")
    if os.path.exists(fpath):
        with open(fpath) as f:
            fault = f.read().strip() or "none"
        os.replace(fpath, fpath + ".consumed")
        if fault != "flip-labels":
            sys.exit(f"collect.py: {fpath}: unknown fault '{fault}' (known: flip-labels)")
        y = 1 - y
        print("FAULT INJECTED: this export has every label inverted (a labelling-job bug)")

    run = os.environ.get("KILN_RUN_ID", "manual")
    out = os.path.join(data, "runs", run)
    os.makedirs(out, exist_ok=True)
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(len(y) * (1 - a.holdout))
    batch, holdout = os.path.join(out, "batch.csv"), os.path.join(out, "holdout.csv")
    churn.write_csv(batch, X[order[:cut]], y[order[:cut]])
    churn.write_csv(holdout, X[order[cut:]], y[order[cut:]])
    print(f"collected the next {len(y)} labelled rows of live traffic in "
          f"{time.monotonic() - t0:.1f} s: {cut} to train on, {len(y) - cut} held out "
          f"(positive rate {y.mean():.2f})")
    outputs(batch=batch, holdout=holdout, reference=os.path.join(data, "reference.csv"),
            profile=os.path.join(data, "reference-profile.json"),
            rows=len(y), fault=fault)
    return 0


if __name__ == "__main__":
    sys.exit(main())
