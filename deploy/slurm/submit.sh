#!/usr/bin/env bash
# Slurm (SPEC 10): N shards of one cpor run as an array job, and the merge as a job that Slurm starts
# once every shard has succeeded. From a login node, on a file system every node sees:
#   deploy/slurm/submit.sh N OUT -- <cpor run arguments, with --as-of>
#   deploy/slurm/submit.sh 8 /shared/cpor/out -- --config /shared/cpor/nightly.toml --as-of 2026-11-23T06:00:00Z
# Shard I writes OUT.shards/I and is run again once when it fails; the merge writes OUT (its summary in
# slurm-JOBID.out; the job fails on exit 1 and 3). Prints the two job ids.
# The cpor binary: $CPOR_BIN, else cpor on the nodes' PATH. Partition, time and memory: sbatch's own
# variables (SBATCH_PARTITION, SBATCH_TIMELIMIT, SBATCH_MEM_PER_NODE, ...); CPOR_CPUS cores a shard (2).
set -euo pipefail
if [ $# -lt 3 ] || [ "$3" != -- ]; then
    echo "usage: $0 N OUT -- <cpor run arguments>" >&2
    exit 2
fi
n=$1 out=${2%/}
shift 3
case $n in '' | *[!0-9]* | 0) echo "$0: N must be a whole number >= 1, not '$n'" >&2; exit 2 ;; esac
cpor=$(printf '%q' "${CPOR_BIN:-cpor}")
args=$(printf '%q ' "$@")
shards=$(printf '%q' "$out.shards")
mkdir -p "$out.shards"

shard="i=\$SLURM_ARRAY_TASK_ID
for attempt in 1 2; do
    $cpor run $args--shard \$i/$n --out $shards/\$i && exit 0
    echo \"shard \$i/$n failed (attempt \$attempt)\" >&2
done
exit 1"
array=$(sbatch --parsable --job-name=cpor-shards --array="0-$((n - 1))" --cpus-per-task="${CPOR_CPUS:-2}" --wrap "$shard")
array=${array%%;*}

dirs=$(for ((i = 0; i < n; i++)); do printf '%s/%d ' "$shards" "$i"; done)
merge=$(sbatch --parsable --job-name=cpor-merge --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    --wrap "$cpor merge $dirs--out $(printf '%q' "$out")")
echo "shards: job $array (squeue -j $array; sacct -j $array), merge: job ${merge%%;*}"
