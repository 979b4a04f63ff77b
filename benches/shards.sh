#!/usr/bin/env bash
# Shards on one machine (SPEC 10, issue 13): the unsharded run, then for N = 1, 2, 4, 8 every shard
# run alone, one after another, then the merge — each under /usr/bin/time (wall, peak RSS) — and the
# merged output checked against the unsharded one with diff -r (summary.json and summary.html aside).
#
#   bash benches/shards.sh DATA OUT_ROOT [cpor binary]
#
# DATA holds a generated dataset (cpor generate --profile large --format parquet --out DATA);
# OUT_ROOT receives the outputs (use /dev/shm for cpor's own cost; it needs room for about two outputs:
# the shards of one N and their merge, which links their reports). The unsharded output is kept as a
# digest of its files only. Prints a Markdown table.
set -euo pipefail
data=$1
root=$2
cpor=${3:-cpor}
args=(--quiet --claims "$data/claims.parquet" --responses "$data/responses.parquet" --usage "$data/usage.parquet"
    --holidays "$data/holidays.csv" --as-of 2026-11-23T06:00:00Z)
timed() { # label, command...: prints "label | wall | peak MiB"
    local label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$root/.time" "$@" >/dev/null
    read -r wall peak <"$root/.time"
    echo "| $label | $wall s | $((peak / 1024)) MiB |"
}
digest() { # the sha256 of every output file but the summary, as one line
    (cd "$1" && find . -type f ! -name 'summary.*' ! -name '.cpor-output' -print0 | sort -z | xargs -0 sha256sum | sha256sum)
}
mkdir -p "$root"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| run | wall | peak RSS |"
echo "|---|---|---|"
timed "unsharded" "$cpor" run "${args[@]}" --out "$root/one"
one=$(digest "$root/one")
rm -rf "$root/one"
for n in 1 2 4 8; do
    for ((i = 0; i < n; i++)); do
        timed "shard $i of $n" "$cpor" run "${args[@]}" --shard "$i/$n" --out "$root/shard-$n-$i"
    done
    shards=()
    for ((i = 0; i < n; i++)); do shards+=("$root/shard-$n-$i"); done
    timed "merge of $n" "$cpor" merge "${shards[@]}" --quiet --out "$root/merged-$n"
    [ "$(digest "$root/merged-$n")" = "$one" ] || echo "| merge of $n | DIFFERS from the unsharded output | |"
    rm -rf "${shards[@]}" "$root/merged-$n"
done
timed "unsharded, again" "$cpor" run "${args[@]}" --out "$root/one-again"
rm -rf "$root/one-again" "$root/.time"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
