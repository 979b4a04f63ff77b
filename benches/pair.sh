#!/usr/bin/env bash
# Before/after pairs (issue 14): runs two cpor binaries alternated — before, after, before, after … —
# on one dataset, outputs on OUT_ROOT (use /dev/shm for cpor's own cost), each output deleted after
# its run, and prints a Markdown row per run: binary, load1 at its start, wall, user + sys CPU, peak
# RSS and the run's own stage timings (`--verbose`).
#
#   bash benches/pair.sh BEFORE_BINARY AFTER_BINARY DATA EXT [ROUNDS] [OUT_ROOT]
#
# DATA holds a generated dataset (`cpor generate --profile large --format parquet --out DATA`); EXT is
# its inputs' extension (parquet or csv); ROUNDS defaults to 2, OUT_ROOT to /dev/shm.
set -euo pipefail
before=$1 after=$2 data=$3 ext=$4 rounds=${5:-2} root=${6:-/dev/shm}
args=(--quiet --verbose --claims "$data/claims.$ext" --responses "$data/responses.$ext" --usage "$data/usage.$ext"
    --holidays "$data/holidays.csv" --as-of 2026-11-23T06:00:00Z)
echo "| binary | load1 | wall | user + sys | peak | stages |"
echo "|---|---|---|---|---|---|"
for _ in $(seq "$rounds"); do
    for which in before after; do
        binary=$before
        [ "$which" = after ] && binary=$after
        load=$(cut -d' ' -f1 /proc/loadavg)
        out="$root/pair-$which-$$"
        /usr/bin/time -f "%e %U %S %M" -o "$root/pair-time-$$" "$binary" run "${args[@]}" --out "$out" \
            >/dev/null 2>"$root/pair-err-$$"
        read -r wall user sys peak <"$root/pair-time-$$"
        stages=$(grep timings "$root/pair-err-$$" | sed 's/timings: //')
        echo "| $which | $load | $wall s | $user + $sys s | $((peak / 1024)) MiB | $stages |"
        rm -rf "$out"
    done
done
rm -f "$root/pair-time-$$" "$root/pair-err-$$"
