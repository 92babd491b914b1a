#!/bin/sh
# Data-quality demo (called by `make demo`): profiles a training batch, validates a good and
# a bad batch against it, and prints drift reports between batches.
#
#   scripts/demo_quality.sh [path/to/kiln] [work-dir]
#
# Exits non-zero only if a step behaves unexpectedly (the bad batch must fail validation,
# the shifted batch must drift, the good batch must pass both).
set -u
cd "$(dirname "$0")/.." || exit 2
KILN=${1:-build/kiln}
DIR=${2:-$(mktemp -d "${TMPDIR:-/tmp}/kiln-quality-demo.XXXXXX")}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }
expect() { # expect CODE COMMAND...: runs it, checks the exit code
    want=$1; shift
    "$@"; got=$?
    if [ "$got" -ne "$want" ]; then
        echo "demo: '$*' exited $got, expected $want" >&2
        exit 1
    fi
}

"$PY" examples/quality/make_batches.py --out "$DIR" --rows 5000 || exit 1

step "profile the training data" "kiln profile train.csv --out train.profile.json"
expect 0 "$KILN" profile "$DIR/train.csv" --out "$DIR/train.profile.json"

step "suggest expectations from the profile (first lines)" \
    "kiln validate --suggest --profile train.profile.json --out checks.yaml"
expect 0 "$KILN" validate --suggest --profile "$DIR/train.profile.json" --out "$DIR/checks.yaml"
# Edit the suite: customer_id is an identifier, require it unique (kiln wrote it commented out).
sed -i 's/^  # - type: expect_column_values_to_be_unique/  - type: expect_column_values_to_be_unique/; s/^  #   column: "customer_id"/    column: "customer_id"/' "$DIR/checks.yaml"
sed -n '1,26p' "$DIR/checks.yaml"

step "validate a good batch (exit 0)" "kiln validate good.csv --profile train.profile.json"
expect 0 "$KILN" validate "$DIR/good.csv" --profile "$DIR/train.profile.json" \
    --expectations "$DIR/checks.yaml" | tail -n 3

step "validate a bad batch (exit 1, bad values with their lines)" \
    "kiln validate bad.csv --profile train.profile.json --html --out bad.html"
expect 1 "$KILN" validate "$DIR/bad.csv" --profile "$DIR/train.profile.json" \
    --expectations "$DIR/checks.yaml"
"$KILN" validate "$DIR/bad.csv" --profile "$DIR/train.profile.json" \
    --expectations "$DIR/checks.yaml" --html --out "$DIR/bad.html"
echo "HTML report: $DIR/bad.html"

# customer_id is an identifier: new batches always have new ids, so leave it out of drift.
FEATURES=age,income,country,plan,churn_score
step "drift: good batch against the training data (exit 0)" \
    "kiln drift --reference train.csv --current good.csv --columns $FEATURES"
expect 0 "$KILN" drift --reference "$DIR/train.csv" --current "$DIR/good.csv" --columns "$FEATURES"

step "drift: shifted batch against the training profile (exit 1)" \
    "kiln drift --reference train.profile.json --current shifted.csv --columns $FEATURES"
expect 1 "$KILN" drift --reference "$DIR/train.profile.json" --current "$DIR/shifted.csv" \
    --columns "$FEATURES"
"$KILN" drift --reference "$DIR/train.profile.json" --current "$DIR/shifted.csv" \
    --columns "$FEATURES" --html --out "$DIR/drift.html"
echo "HTML report: $DIR/drift.html"
echo
echo "demo files in $DIR"
