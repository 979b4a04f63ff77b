#!/usr/bin/env python3
"""Runs cpor's shards on a Dask cluster, then merges them (SPEC 10).

    python3 deploy/dask/run.py --workers W --shards N [--scheduler ADDRESS] -- <cpor run arguments> --out OUT

Shard I runs `cpor run <cpor run arguments> --shard I/N --out OUT.shards/I` as one Dask task (a leading
`run` among the cpor arguments is optional). Without `--scheduler`, the tasks go to a LocalCluster of W
worker processes of one thread each on this machine; with it, to the workers of that existing cluster,
which must see the inputs, the cpor binary and OUT's parent directory at the same paths as this machine
(a shared file system), since OUT.shards is read back here. A shard that fails is submitted once more;
once every shard is done, `cpor merge OUT.shards/0 ... OUT.shards/N-1 --out OUT` runs here, its summary
on stdout, and the shard directories are removed when it exits 0 or 3 (`--keep-shards` keeps them).

Progress goes to stderr, a line per shard (`shard 3/8 done in 12.4 s`, `shard 2/8 failed (attempt 1):
<error line>; retrying`). The exit code is the merge's (0 done, 1 refused or fatal, 3 a reject rate
above --max-reject-rate); a shard that fails twice exits 1 naming it and the error line of its stderr,
and the merge is not run; 2 is a usage error of this script. The error line is the last line of the
shard's stderr that starts with `error:` (the first line of a usage error) or `cpor: ` but not
`cpor: warning:` (cpor's one-line fatal message), else its last line.

The cpor binary is $CPOR_BIN, else `cpor` on the PATH (resolved here, and the same path used on the
workers).

Test hook: CPOR_DASK_FAIL_ONCE=I (a comma-separated list of shard indexes) makes the first attempt of
shard I fail as a real attempt does: the binary is run with the extra argument
`--cpor-dask-fail-once-test-hook`, which cpor refuses (exit 2). The retry then runs as usual. It is
read here, not on the workers, so it works on any cluster; tests/cli/dask.rs uses it.
"""

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

FAIL_ONCE_VARIABLE = "CPOR_DASK_FAIL_ONCE"
FAIL_ONCE_ARGUMENT = "--cpor-dask-fail-once-test-hook"
ATTEMPTS = 2
PROGRAM = "cpor-dask"


class Usage(Exception):
    """A usage error of this script: exit 2."""


def parse_command_line(argv):
    """Splits the command line at the first `--`: this script's options, then cpor's run arguments."""
    parser = argparse.ArgumentParser(
        prog="run.py",
        usage="%(prog)s [--workers W] --shards N [--scheduler ADDRESS] [--keep-shards] -- <cpor run arguments> --out OUT",
        description="Run cpor's N shards on a Dask cluster, then `cpor merge` them into OUT.",
    )
    parser.add_argument("--shards", type=positive, required=True, metavar="N", help="number of shards")
    parser.add_argument(
        "--workers",
        type=positive,
        metavar="W",
        help="worker processes of the local cluster (default: the number of CPUs); with --scheduler, "
        "wait (up to 10 minutes) until that many workers have joined",
    )
    parser.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--keep-shards", action="store_true", help="keep OUT.shards after the merge")
    if "--" not in argv:
        own, cpor_args = argv, None
    else:
        at = argv.index("--")
        own, cpor_args = argv[:at], argv[at + 1 :]
    options = parser.parse_args(own)
    if cpor_args is None:
        parser.error("the cpor run arguments follow `--`, with --out OUT among them")
    if cpor_args[:1] == ["run"]:
        cpor_args = cpor_args[1:]
    try:
        out, shard_args = take_out(cpor_args)
    except Usage as problem:
        parser.error(str(problem))
    return options, out, shard_args


def positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number >= 1 expected, not {text!r}")
    return value


def take_out(cpor_args):
    """Removes `--out OUT` (or `--out=OUT`) from cpor's arguments: returns OUT and the rest."""
    out, rest, i = None, [], 0
    while i < len(cpor_args):
        arg = cpor_args[i]
        if arg in ("--shard", "--out") or arg.startswith(("--shard=", "--out=")):
            name, _, value = arg.partition("=")
            if name == "--shard":
                raise Usage("--shard is set by this script, one per task; leave it out")
            if not value:
                if i + 1 >= len(cpor_args):
                    raise Usage("--out needs a directory")
                value = cpor_args[i + 1]
                i += 1
            if out is not None:
                raise Usage("--out is given twice")
            out = value
        else:
            rest.append(arg)
        i += 1
    if out is None:
        raise Usage("--out OUT is required among the cpor arguments (the shards go to OUT.shards/I)")
    if out.rstrip("/") == "":
        raise Usage(f"--out {out!r}: not a directory cpor can replace")
    return os.path.abspath(out.rstrip("/")), rest


def cpor_binary():
    """$CPOR_BIN, else `cpor` on the PATH, as an absolute path: the merge runs here, so it must exist here."""
    named = os.environ.get("CPOR_BIN") or "cpor"
    found = shutil.which(named)
    if not found:
        raise SystemExit(f"{PROGRAM}: error: no cpor binary {named!r}: set CPOR_BIN or put cpor on the PATH")
    return os.path.abspath(found)


def fail_once():
    """The shard indexes whose first attempt the test hook makes fail."""
    text = os.environ.get(FAIL_ONCE_VARIABLE, "")
    try:
        return {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise SystemExit(f"{PROGRAM}: error: {FAIL_ONCE_VARIABLE}={text!r}: shard indexes expected")


def run_shard(command, cwd):
    """The Dask task: runs one shard's cpor, returns its seconds, or raises with the error line of its
    stderr. The functions of a script's `__main__` travel to the workers by value (cloudpickle), so the
    workers need only Python and distributed, not this file."""
    import os
    import subprocess
    import tempfile
    import time

    start = time.monotonic()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=cwd if os.path.isdir(cwd) else None,
        )
        try:
            while True:
                try:
                    code = process.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    if task_abandoned():
                        process.terminate()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        seconds = time.monotonic() - start
        if code == 0:
            return seconds
        stderr.seek(0)
        lines = [line.strip() for line in stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("cpor: ", "error:")) and not line.startswith("cpor: warning:")]
    if code < 0:
        line = f"killed by signal {-code}" + (" (out of memory?)" if code == -9 else "")
    elif errors or lines:
        line = (errors or lines)[-1]
    else:
        line = f"exit code {code}, nothing on stderr"
    raise RuntimeError(line)


def task_abandoned():
    """Whether the task running this thread is no longer wanted: its worker is closing (the local
    cluster shut down) or its future was cancelled. Dask cannot stop a running task, so the task stops
    its cpor process itself. Any surprise in these internals of distributed means "wanted"."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker = get_worker()
        if worker.status.name not in ("running", "paused"):
            return True
        task = worker.state.tasks.get(thread_state.key)
        return task is None or task.state in ("cancelled", "released", "forgotten")
    except Exception:
        return False


def connect(options, Client, LocalCluster):
    """The cluster (None for an existing one) and a client of it."""
    if not options.scheduler:
        cluster = LocalCluster(
            n_workers=options.workers or os.cpu_count() or 1,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            memory_limit=0,  # cpor runs in a child process, whose memory the worker does not see
            silence_logs=logging.CRITICAL,
        )
        return cluster, Client(cluster)
    try:
        client = Client(options.scheduler)
    except (OSError, TimeoutError) as problem:
        raise SystemExit(f"{PROGRAM}: error: no Dask scheduler at {options.scheduler}: {problem}")
    if options.workers:
        try:
            client.wait_for_workers(options.workers, timeout=600)
        except (OSError, TimeoutError) as problem:
            client.close()
            raise SystemExit(f"{PROGRAM}: error: {options.workers} workers did not join in 10 minutes: {problem}")
    return None, client


def main(argv):
    options, out, shard_args = parse_command_line(argv)
    cpor = cpor_binary()
    failing = fail_once()
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise SystemExit(f'{PROGRAM}: error: Dask is not installed: pip install "dask[distributed]"')

    count = options.shards
    shards_dir = out + ".shards"
    shard_dirs = [os.path.join(shards_dir, str(index)) for index in range(count)]
    cwd = os.getcwd()

    def command(index, attempt):
        hook = [FAIL_ONCE_ARGUMENT] if attempt == 1 and index in failing else []
        return [cpor, "run", *shard_args, "--shard", f"{index}/{count}", "--out", shard_dirs[index], *hook]

    cluster, client = connect(options, Client, LocalCluster)
    os.makedirs(shards_dir, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    running = {}  # future key → (future, shard index, attempt), for the futures not yet done
    try:

        def submit(index, attempt):
            key = f"cpor-shard-{index}-of-{count}-attempt-{attempt}-{token}"
            future = client.submit(run_shard, command(index, attempt), cwd, key=key, pure=False)
            running[future.key] = (future, index, attempt)
            return future

        where = options.scheduler or f"a local cluster of {len(client.nthreads())} worker processes"
        log(f"{count} shards of cpor on {where}; shards in {shards_dir}")
        pending = as_completed([submit(index, 1) for index in range(count)])
        for future in pending:
            _, index, attempt = running.pop(future.key)
            name = f"shard {index}/{count}"
            try:
                seconds = future.result()
            except Exception as problem:  # the task's error line, or the cluster's (a worker lost)
                line = str(problem) or type(problem).__name__
                if attempt < ATTEMPTS:
                    log(f"{name} failed (attempt {attempt}): {line}; retrying")
                    pending.add(submit(index, attempt + 1))
                    continue
                log(f"{name} failed (attempt {attempt}): {line}")
                client.cancel([other for other, _, _ in running.values()])
                log(f"{PROGRAM}: error: {name} failed twice, the merge is not run: {line}")
                return 1
            log(f"{name} done in {seconds:.1f} s")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    merge = [cpor, "merge", *shard_dirs, "--out", out]
    merge += [flag for flag in ("--quiet", "--verbose") if flag in shard_args]  # the merge's only options
    log(f"merging {count} shards into {out}")
    code = subprocess.run(merge, stdin=subprocess.DEVNULL).returncode
    if code in (0, 3) and not options.keep_shards:
        for index, path in enumerate(shard_dirs):
            shutil.rmtree(path, ignore_errors=True)
            try:
                os.remove(os.path.join(shards_dir, f".{index}.lock"))  # cpor's lock file beside its --out
            except OSError:
                pass
        try:
            os.rmdir(shards_dir)
        except OSError:
            pass  # something else is in it: not ours to remove
    return code


def log(line):
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    # A stop request (systemd, a batch system) ends the run as Ctrl-C does: the local cluster closes.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
