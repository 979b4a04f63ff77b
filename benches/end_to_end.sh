#!/usr/bin/env bash
# End-to-end benchmark: generates the `medium` and `large` datasets (Parquet and CSV) and times
# `cpor run` on each with /usr/bin/time -v (wall clock and peak resident memory), then the same
# report-writing job in DuckDB when its Python package is installed (pip install duckdb).
#
#   bash benches/end_to_end.sh [WORK_DIR] [OUT_ROOT]
#
# WORK_DIR holds the generated data (about 6 GB for large CSV); OUT_ROOT receives the outputs
# (default WORK_DIR; pass /dev/shm to take the file system out of the measurement).
#
# Each run writes into a new directory and the outputs are deleted only after the last run: on an
# ext4 without a journal, creating files right after deleting many is several times slower
# (BENCHMARKS.md, "Why the disk figures are what they are"), which would measure the previous run's
# deletion. A second invocation within about 5 minutes of the first still meets that effect.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/cpor-bench}"
out_root="${2:-$work}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cpor-target}"
cargo build --release --quiet
cpor="$CARGO_TARGET_DIR/release/cpor"
mkdir -p "$work" "$out_root"
outputs=()

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
printf '%-8s %-8s %10s %12s %s\n' profile format wall_s peak_mib "usage rows"
for profile in medium large; do
  for format in parquet csv; do
    data="$work/$profile-$format"
    [ -f "$data/params.json" ] || "$cpor" generate --profile "$profile" --format "$format" --out "$data" > /dev/null
    out="$out_root/out-$profile-$format-$$"
    sync
    /usr/bin/time -v -o "$work/time.txt" "$cpor" run --quiet --verbose \
      --claims "$data/claims.$format" --responses "$data/responses.$format" --usage "$data/usage.$format" \
      --holidays "$data/holidays.csv" --as-of 2026-11-23T06:00:00Z --out "$out" > /dev/null 2> "$work/stderr.txt"
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    peak=$(awk -F': ' '/Maximum resident/ {printf "%d", $2/1024}' "$work/time.txt")
    rows=$(python3 -c "import json;print(json.load(open('$out/summary.json'))['inputs']['usage']['records'])")
    printf '%-8s %-8s %10s %12s %s\n' "$profile" "$format" "$wall" "$peak" "$rows"
    grep timings "$work/stderr.txt" | sed 's/^/         /'
    cp "$out/ledger.csv" "$work/ledger-$profile-$format.csv"
    outputs+=("$out")
  done
done
rm -rf "${outputs[@]}"

if python3 -c "import duckdb" 2> /dev/null; then
  for profile in medium large; do
    data="$work/$profile-parquet"
    /usr/bin/time -v -o "$work/time.txt" python3 benches/duckdb_reports.py "$data" "$out_root/duckdb-$profile.csv" "$work/ledger-$profile-parquet.csv"
    awk -F': ' '/Elapsed \(wall clock\)|Maximum resident/ {print "         " $0}' "$work/time.txt"
    rm -f "$out_root/duckdb-$profile.csv"
  done
fi
