#!/usr/bin/env python3
"""The file system's floor for writing a cpor output (issue 14): the same directories and files,
with the same bytes, created by a plain program that does nothing else.

    python3 benches/floor.py SOURCE DEST [THREADS]

SOURCE is a finished cpor output (made on /dev/shm, say); every file under it is read into memory
first, then DEST is created with the same tree, file by file, without fsync (cpor does not sync
either). Only the creating is timed; it prints the seconds, files and bytes. Run it beside `cpor run
--out` on the same file system within the same hour: the difference is cpor's writing cost above the
floor.

THREADS (default 1): how many threads create the files, each taking whole directories, as cpor's
writers take whole partners. Python releases its lock around each system call, so with 2 or more
threads the kernel's work of creating the files runs on every core: the floor of the machine rather
than of one process.
"""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    source, dest = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) == 4 else 1
    if os.path.exists(dest):
        sys.exit(f"floor.py: {dest} exists; give a new directory")
    # Each directory with its files' names and bytes, in the order os.walk gives them.
    dirs = []
    for root, _, names in os.walk(source):
        files = []
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                files.append((name, f.read()))
        dirs.append((os.path.relpath(root, source), files))
    count = sum(len(files) for _, files in dirs)
    total = sum(len(data) for _, files in dirs for _, data in files)

    # The system calls cpor makes per file, and no others: open relative to the open directory,
    # write, close (Python's own `open` adds a stat, an ioctl and a seek per file).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC

    def create(entry):
        rel, files = entry
        path = os.path.join(dest, rel)
        os.makedirs(path, exist_ok=True)
        parent = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name, data in files:
                fd = os.open(name, flags, 0o666, dir_fd=parent)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
        finally:
            os.close(parent)

    started = time.perf_counter()
    # makedirs also makes a parent that no thread has reached yet.
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(create, dirs))
    elapsed = time.perf_counter() - started
    print(f"floor: {elapsed:.2f} s for {count} files, {total} bytes, {len(dirs)} directories, {threads} thread(s)")


if __name__ == "__main__":
    main()
