#!/usr/bin/env bash
# Before/after pairs of `cpor validate` (issue 14): runs two cpor binaries alternated — before, after,
# before, after … — on one Parquet dataset, output on OUT_ROOT (default /dev/shm), and prints each
# run's wall and user + sys CPU, then each binary's medians.
#
#   bash benches/validate_pair.sh BEFORE_BINARY AFTER_BINARY DATA [ROUNDS] [OUT_ROOT]
set -euo pipefail
before=$1 after=$2 data=$3 rounds=${4:-5} root=${5:-/dev/shm}
args=(--claims "$data/claims.parquet" --responses "$data/responses.parquet" --usage "$data/usage.parquet"
    --holidays "$data/holidays.csv" --as-of 2026-11-23T06:00:00Z --out "$root/validate-pair-$$")
results="$root/validate-pair-$$.txt"
: >"$results"
for _ in $(seq "$rounds"); do
    for which in before after; do
        binary=$before
        [ "$which" = after ] && binary=$after
        /usr/bin/time -f "$which %e %U %S" -a -o "$results" "$binary" validate "${args[@]}" >/dev/null 2>&1 || true
        rm -rf "$root/validate-pair-$$"
    done
done
cat "$results"
awk '{ wall[$1] = wall[$1] " " $2; cpu[$1] = cpu[$1] " " ($3 + $4) }
    END { for (k in wall) print k, "wall:" wall[k], "| cpu:" cpu[k] }' "$results" |
    while read -r which _ rest; do
        walls=$(echo "$rest" | cut -d'|' -f1)
        cpus=$(echo "$rest" | cut -d':' -f2)
        median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
        echo "$which: median wall $(echo "$walls" | median) s, median CPU $(echo "$cpus" | median) s"
    done
rm -f "$results"
