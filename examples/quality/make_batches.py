#!/usr/bin/python3
"""Writes deterministic demo batches for kiln's data-quality commands (standard library only).

    /usr/bin/python3 examples/quality/make_batches.py --out DIR [--rows N]

DIR/train.csv    the training batch (N rows, default 5000)
DIR/good.csv     a later batch from the same distributions (N/2 rows)
DIR/shifted.csv  a batch whose distributions moved: older customers, higher incomes, more
                 'pro' plans and a new country (N/2 rows)
DIR/bad.csv      a broken batch: negative and absurd ages, duplicated ids, text in a numeric
                 column, a spike of missing countries (N/10 rows)
DIR/train.jsonl  the training batch again as JSON Lines

The same seed always gives the same files, so docs and demos show the same numbers.
"""
import argparse
import json
import os
import random

COUNTRIES = ["FR", "DE", "IT", "ES", "NL"]
HEADER = ["customer_id", "age", "income", "country", "plan", "signup", "churn_score"]


def row(rnd, i, shift=False):
    age = rnd.randint(18, 75) + (8 if shift and rnd.random() < 0.7 else 0)
    income = round(rnd.gauss(52000 * (1.25 if shift else 1.0), 14000), 2)
    if shift and rnd.random() < 0.15:
        country = "PL"
    else:
        country = rnd.choices(COUNTRIES, weights=[30, 25, 20, 15, 10])[0]
    plan = "pro" if rnd.random() < (0.55 if shift else 0.3) else "basic"
    signup = "2024-%02d-%02d" % (1 + rnd.randrange(12), 1 + rnd.randrange(28))
    score = round(min(1.0, max(0.0, rnd.betavariate(2, 5) + (0.1 if shift else 0.0))), 4)
    return [str(i), "" if rnd.random() < 0.02 else str(age), repr(income), country, plan,
            signup, repr(score)]


def write(path, rows):
    with open(path, "w") as f:
        f.write(",".join(HEADER) + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=5000)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    n = a.rows
    rnd = random.Random(20260101)
    train = [row(rnd, i + 1) for i in range(n)]
    good = [row(rnd, n + i + 1) for i in range(n // 2)]
    shifted = [row(rnd, 2 * n + i + 1, shift=True) for i in range(n // 2)]
    bad = [row(rnd, 3 * n + i + 1) for i in range(max(20, n // 10))]
    bad[3][1] = "-4"
    bad[7][1] = "290"
    bad[11][0] = bad[10][0]
    bad[15][2] = "unknown"
    for r in bad[::4]:
        r[3] = ""
    write(os.path.join(a.out, "train.csv"), train)
    write(os.path.join(a.out, "good.csv"), good)
    write(os.path.join(a.out, "shifted.csv"), shifted)
    write(os.path.join(a.out, "bad.csv"), bad)
    with open(os.path.join(a.out, "train.jsonl"), "w") as f:
        for r in train:
            rec = dict(zip(HEADER, r))
            rec["customer_id"] = int(rec["customer_id"])
            rec["age"] = int(rec["age"]) if rec["age"] else None
            rec["income"] = float(rec["income"])
            rec["churn_score"] = float(rec["churn_score"])
            f.write(json.dumps(rec) + "\n")
    print("wrote train.csv (%d rows), good.csv, shifted.csv, bad.csv, train.jsonl to %s"
          % (n, a.out))


if __name__ == "__main__":
    main()
