#!/usr/bin/python3
"""Generates tests/unit/pipeline/fixtures.h, the reference values for the pipeline unit tests.

Run with Debian's /usr/bin/python3 from the repository root:
    /usr/bin/python3 tests/unit/pipeline/gen_fixtures.py > tests/unit/pipeline/fixtures.h

References, all independent of kiln's C code:
- UTC offsets from Python's zoneinfo (the same tzdata files, read by CPython's own parser);
- cron fire times from a brute-force search over every UTC minute, with cronie's DST rules
  written out plainly (a wall time skipped by a gap fires at the gap's end for fixed-time
  schedules; a repeated wall time fires once for fixed-time schedules, each time otherwise);
- retry delays from Airflow's formula (TaskInstance.next_retry_datetime with
  retry_exponential_backoff), SHA-1 of "dag#task#logical_date#try";
- SHA-1/SHA-256 digests from hashlib.
"""
import datetime as dt
import hashlib
import math
import random
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "America/Sao_Paulo", "UTC"]


def offset(zone, t):
    return int(dt.datetime.fromtimestamp(t, ZoneInfo(zone)).utcoffset().total_seconds())


def transitions(zone, start_year, end_year):
    """Instants where the UTC offset changes, found by an hourly scan and bisection."""
    out = []
    t = int(dt.datetime(start_year, 1, 1, tzinfo=UTC).timestamp())
    end = int(dt.datetime(end_year, 1, 1, tzinfo=UTC).timestamp())
    prev = offset(zone, t)
    while t < end:
        n = t + 3600
        o = offset(zone, n)
        if o != prev:
            lo, hi = t, n
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(zone, mid) == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
            prev = o
        t = n
    return out


def offset_fixtures():
    rnd = random.Random(20240331)
    rows = []
    for zone in ZONES:
        pts = set()
        for _ in range(150):
            pts.add(rnd.randrange(int(dt.datetime(1901, 1, 1, tzinfo=UTC).timestamp()),
                                  int(dt.datetime(2099, 1, 1, tzinfo=UTC).timestamp())))
        for tr in transitions(zone, 2020, 2024) + transitions(zone, 2037, 2041) + \
                transitions(zone, 2090, 2092):
            pts.update((tr - 1, tr, tr + 1))
        for t in sorted(pts):
            rows.append((zone, t, offset(zone, t)))
    return rows


# ---- cron reference ----------------------------------------------------------------------

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DOWS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def parse_field(text, lo, hi, names=None, base=0):
    vals = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/")
            step = int(s)
        if part == "*":
            a, b = lo, (6 if hi == 7 else hi)
        else:
            def val(x):
                if names and x.lower() in names:
                    return names.index(x.lower()) + base
                return int(x)
            if "-" in part:
                a, b = (val(x) for x in part.split("-"))
            else:
                a = val(part)
                b = a if step == 1 else (6 if hi == 7 else hi)
        for v in range(a, b + 1, step):
            vals.add(0 if hi == 7 and v == 7 else v)
    return vals


def parse_cron(expr):
    macros = {"@daily": "0 0 * * *", "@hourly": "0 * * * *", "@weekly": "0 0 * * 0",
              "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *"}
    expr = macros.get(expr, expr)
    f = expr.split()
    return {
        "min": parse_field(f[0], 0, 59), "hour": parse_field(f[1], 0, 23),
        "dom": parse_field(f[2], 1, 31), "mon": parse_field(f[3], 1, 12, MONTHS, 1),
        "dow": parse_field(f[4], 0, 7, DOWS, 0),
        "dom_star": f[2].startswith("*"), "dow_star": f[4].startswith("*"),
        "fixed": not f[0].startswith("*") and not f[1].startswith("*"),
    }


def matches(c, wall):
    if wall.minute not in c["min"] or wall.hour not in c["hour"] or wall.month not in c["mon"]:
        return False
    dom = wall.day in c["dom"]
    dow = (wall.isoweekday() % 7) in c["dow"]
    return (dom and dow) if (c["dom_star"] or c["dow_star"]) else (dom or dow)


def cron_next_n(expr, zone, start, n):
    c = parse_cron(expr)
    z = ZoneInfo(zone)
    out = []
    u = (start // 60 + 1) * 60
    while len(out) < n:
        fire = False
        local = dt.datetime.fromtimestamp(u, z)
        wall = local.replace(tzinfo=None)
        if matches(c, wall):
            if not c["fixed"] or local.fold == 0:
                fire = True
        off_now, off_before = offset(zone, u), offset(zone, u - 1)
        if c["fixed"] and off_now > off_before:
            # A gap: wall times [u + off_before, u + off_now) were skipped.
            w = u + off_before
            while w < u + off_now:
                if matches(c, dt.datetime.fromtimestamp(w, UTC).replace(tzinfo=None)):
                    fire = True
                w += 60
        if fire and u > start:
            out.append(u)
        u += 60
    return out


def cron_fixtures():
    exprs = ["30 2 * * *", "0 * * * *", "*/15 1-3 * * *", "0 2 * * *", "30 1 * * sun",
             "0 0 1 * *", "15 2,3 * * *", "0 9 * * mon-fri", "0 3 31 * *", "@daily",
             "0 0 13 * 5", "0 2 */2 * *", "45 1 * * *"]
    starts = {
        "Europe/Berlin": ["2024-03-29T12:00Z", "2024-10-25T12:00Z", "2041-03-29T00:00Z",
                          "2041-10-25T00:00Z"],
        "America/New_York": ["2024-03-08T12:00Z", "2024-11-01T12:00Z", "2040-03-09T00:00Z",
                             "2040-11-02T00:00Z"],
        "Australia/Lord_Howe": ["2024-04-05T00:00Z", "2024-10-04T00:00Z"],
        "UTC": ["2024-02-27T00:00Z"],
    }
    rows = []
    for zone, ss in starts.items():
        for s in ss:
            start = int(dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())
            for e in exprs:
                n = 4 if e in ("0 0 1 * *", "0 3 31 * *", "0 0 13 * 5") else 8
                rows.append((e, zone, start, cron_next_n(e, zone, start, n)))
    return rows


# ---- retries -----------------------------------------------------------------------------

def airflow_delay(dag, task, logical_ms, try_number, delay_s, max_delay_s):
    min_backoff = math.ceil(delay_s * (2 ** (try_number - 1)))
    if min_backoff < 1:
        min_backoff = 1
    date = dt.datetime.fromtimestamp(logical_ms / 1000, UTC)
    iso = date.strftime("%Y-%m-%dT%H:%M:%S.") + f"{logical_ms % 1000:03d}Z"
    h = int(hashlib.sha1(f"{dag}#{task}#{iso}#{try_number}".encode()).hexdigest(), 16)
    d = min(min_backoff + h % min_backoff, 86400)
    if max_delay_s:
        d = min(d, max_delay_s)
    return int(d * 1000)


def retry_fixtures():
    rows = []
    for dag, task, logical_ms in [("retrain", "train", 1711846800000),
                                  ("etl", "load-data", 1700000000123),
                                  ("p", "t", 0)]:
        for delay_ms, max_ms in [(300000, 0), (1000, 0), (10000, 60000), (1500, 0), (0, 0)]:
            for tr in (1, 2, 3, 5, 8, 12, 20):
                rows.append((dag, task, logical_ms, tr, delay_ms, max_ms,
                             airflow_delay(dag, task, logical_ms, tr, delay_ms / 1000,
                                           max_ms / 1000)))
    return rows


def hash_fixtures():
    msgs = [b"", b"abc", b"a" * 55, b"a" * 56, b"a" * 64, b"a" * 119, b"a" * 1000,
            b"The quick brown fox jumps over the lazy dog"]
    return [(m, hashlib.sha1(m).hexdigest(), hashlib.sha256(m).hexdigest()) for m in msgs]


def c_str(b):
    return '"' + "".join(chr(c) if 32 <= c < 127 and chr(c) not in '"\\' else f"\\x{c:02x}"
                         for c in b) + '"'


def main():
    print("/* Generated by tests/unit/pipeline/gen_fixtures.py: do not edit. */")
    print("#ifndef KILN_PIPELINE_FIXTURES_H\n#define KILN_PIPELINE_FIXTURES_H\n")
    print("#include <stdint.h>\n")
    print("static const struct { const char *zone; int64_t t; int32_t off; } tz_offsets[] = {")
    for z, t, o in offset_fixtures():
        print(f'    {{ "{z}", {t}LL, {o} }},')
    print("};\n")
    print("#define CRON_MAX_FIRES 8")
    print("static const struct { const char *expr, *zone; int64_t start; int n; "
          "int64_t fires[CRON_MAX_FIRES]; } cron_cases[] = {")
    for e, z, s, fires in cron_fixtures():
        fl = ", ".join(f"{f}LL" for f in fires)
        print(f'    {{ "{e}", "{z}", {s}LL, {len(fires)}, {{ {fl} }} }},')
    print("};\n")
    print("static const struct { const char *pipeline, *task; int64_t logical_ms; int try_number; "
          "int64_t delay_ms, max_ms, expect_ms; } retry_cases[] = {")
    for r in retry_fixtures():
        print(f'    {{ "{r[0]}", "{r[1]}", {r[2]}LL, {r[3]}, {r[4]}LL, {r[5]}LL, {r[6]}LL }},')
    print("};\n")
    print("static const struct { const char *msg; size_t len; const char *sha1, *sha256; } "
          "hash_cases[] = {")
    for m, s1, s256 in hash_fixtures():
        print(f'    {{ {c_str(m)}, {len(m)}, "{s1}", "{s256}" }},')
    print("};\n\n#endif")


if __name__ == "__main__":
    main()
