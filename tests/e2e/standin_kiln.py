#!/usr/bin/python3
"""A stand-in for the kiln commands the pipeline's built-in steps wrap, following their
documented interfaces (issues 3, 4 and 5), for testing the step wrappers on their own:

  validate DATA --profile P [--expectations E]          exit 0 pass, 1 fail, 2 usage
  drift --reference R --current C [--columns ...] [--method M] [--threshold T] --json
  evaluate URI --data D --target T [--dataset-name N] --json
  models promote NAME VERSION --to ENV [--reason R]     exit 0 moved, 1 refused by gates

Every call is appended (argv as JSON) to $STANDIN_LOG. Behaviour is a plain function of the
input files so tests can predict it: a data file containing "BAD" fails validation; drift is
the difference of the mean of the first column against --threshold (default 0.5); evaluation
metrics come from the share of positive targets; promotion is refused when $STANDIN_REFUSE
names the environment.
"""
import csv
import json
import os
import sys


def log(argv):
    path = os.environ.get("STANDIN_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(argv) + "\n")


def opt(argv, name, default=None):
    return argv[argv.index(name) + 1] if name in argv else default


def first_column_mean(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    vals = [float(r[0]) for r in rows[1:] if r]
    return sum(vals) / len(vals)


def main(argv):
    log(argv)
    if argv[:1] == ["validate"]:
        if not os.path.exists(opt(argv, "--profile", "")):
            print("validate: no such profile", file=sys.stderr)
            return 2
        with open(argv[1]) as f:
            bad = "BAD" in f.read()
        print("validation " + ("failed: a row says BAD" if bad else "passed"))
        return 1 if bad else 0
    if argv[:1] == ["drift"]:
        ref, cur = first_column_mean(opt(argv, "--reference")), first_column_mean(opt(argv, "--current"))
        thr = float(opt(argv, "--threshold", "0.5"))
        drifted = abs(ref - cur) > thr
        print(json.dumps({"dataset_drift": drifted, "drift_share": 1.0 if drifted else 0.0,
                          "drift_share_threshold": 0.5,
                          "columns": [{"name": "x", "type": "num", "method": "stand-in",
                                       "statistic": abs(ref - cur), "p_value": None,
                                       "threshold": thr, "drifted": drifted, "stats": {}}]}))
        return 0
    if argv[:1] == ["evaluate"]:
        with open(opt(argv, "--data")) as f:
            rows = list(csv.DictReader(f))
        pos = sum(1 for r in rows if r[opt(argv, "--target")] == "1") / len(rows)
        print(json.dumps({"model_uri": argv[1], "dataset": opt(argv, "--dataset-name", "data"),
                          "metrics": {"accuracy": 1 - pos, "positive_rate": pos, "rows": len(rows)}}))
        return 0
    if argv[:2] == ["models", "promote"]:
        env = opt(argv, "--to")
        if os.environ.get("STANDIN_REFUSE") == env:
            print(f"promotion of {argv[2]} version {argv[3]} to {env} refused: roc_auc 0.81 < 0.9")
            return 1
        print(f"moved {env} of {argv[2]} to version {argv[3]}")
        return 0
    print("stand-in: unknown command " + " ".join(argv), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
