#!/usr/bin/env python3
"""The file system's floor for writing a cpor output (issue 14): the same directories and files,
with the same bytes, created by a plain program that does nothing else.

    python3 benches/floor.py SOURCE DEST

SOURCE is a finished cpor output (made on /dev/shm, say); every file under it is read into memory
first, then DEST is created with the same tree, file by file, in one process, without fsync (cpor
does not sync either). Only the creating is timed; it prints the seconds, files and bytes. Run it
beside `cpor run --out` on the same file system within the same hour: the difference is cpor's
writing cost above the floor.
"""
import os
import sys
import time


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, dest = sys.argv[1], sys.argv[2]
    if os.path.exists(dest):
        sys.exit(f"floor.py: {dest} exists; give a new directory")
    dirs, files = [], []
    for root, _, names in os.walk(source):
        rel = os.path.relpath(root, source)
        dirs.append(rel)
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                files.append((os.path.join(rel, name), f.read()))
    total = sum(len(data) for _, data in files)
    started = time.perf_counter()
    for rel in dirs:
        os.makedirs(os.path.join(dest, rel), exist_ok=True)
    for rel, data in files:
        with open(os.path.join(dest, rel), "wb") as f:
            f.write(data)
    elapsed = time.perf_counter() - started
    print(f"floor: {elapsed:.2f} s for {len(files)} files, {total} bytes, {len(dirs)} directories")


if __name__ == "__main__":
    main()
