#!/bin/sh
# One sharded cpor run on Kubernetes (SPEC 10): the Indexed Job of N shards, then, once it is
# complete, the merge Job. From any machine with kubectl pointed at the cluster:
#   deploy/k8s/run.sh N AS_OF [IMAGE]
#   deploy/k8s/run.sh 8 2026-11-23T06:00:00Z registry.example.com/cpor:1.0
# sets N, the as-of instant and the image in shards-job.yaml and merge-job.yaml, replaces the Jobs of
# an earlier run, waits for each, prints the merge's log and exits with the merge's exit code (0 done,
# 1 refused or fatal, 3 a reject rate above the limit); 1 when the shards Job fails.
# CPOR_PARALLELISM (default N): shards at once. CPOR_POLL (default 15): seconds between looks.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 N AS_OF [IMAGE]" >&2; exit 2; }
here=$(dirname "$0")
n=$1 as_of=$2 image=${3:-}
parallelism=${CPOR_PARALLELISM:-$n}
poll=${CPOR_POLL:-15}
case $n in '' | *[!0-9]* | 0) echo "$0: N must be a whole number >= 1, not '$n'" >&2; exit 2 ;; esac

# The manifest with this run's N, as-of and image.
manifest() {
    sed -e "s|^\(  completions:\).*|\1 $n|" \
        -e "s|^\(  parallelism:\).*|\1 $parallelism|" \
        -e "s|{name: CPOR_SHARDS, value: \"[^\"]*\"}|{name: CPOR_SHARDS, value: \"$n\"}|" \
        -e "s|{name: CPOR_AS_OF, value: \"[^\"]*\"}|{name: CPOR_AS_OF, value: \"$as_of\"}|" \
        -e "s|^\(  *image:\).*|\1 ${image:-&}|" "$here/$1"
}

# Waits until the Job is Complete (returns 0) or Failed (returns 1).
finished() {
    while :; do
        state=$(kubectl get "job/$1" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')
        case " $state" in
            *" Complete "*) return 0 ;;
            *" Failed "*) return 1 ;;
        esac
        sleep "$poll"
    done
}

kubectl delete job cpor-shards cpor-merge --ignore-not-found --wait=true
kubectl apply -f "$here/volume.yaml"
manifest shards-job.yaml | kubectl apply -f -
echo "waiting for $n shards (kubectl get job cpor-shards; kubectl get pods -l job-name=cpor-shards)" >&2
if ! finished cpor-shards; then
    echo "$0: the shards Job failed; failed indexes: $(kubectl get job cpor-shards -o jsonpath='{.status.failedIndexes}')" >&2
    for pod in $(kubectl get pods -l job-name=cpor-shards --field-selector=status.phase=Failed -o name); do
        echo "$pod: $(kubectl logs "$pod" --tail=1 2>&1)" >&2
    done
    exit 1
fi
manifest merge-job.yaml | kubectl apply -f -
finished cpor-merge || true
kubectl logs job/cpor-merge
code=$(kubectl get pods -l job-name=cpor-merge \
    -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')
exit "${code:-1}"
