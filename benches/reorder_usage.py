#!/usr/bin/env python3
"""Copies a generated dataset with its usage rows in another order (issue 14, BENCHMARKS.md).

`cpor generate` writes each tenant's usage rows together; a real export may come sorted by date (a
day's rows of every tenant, then the next day's) or in no order at all. The rows, and so every
output but rejects.csv's record numbers, stay the same: only the time to read them changes.

    python3 benches/reorder_usage.py DATA OUT date|shuffled

DATA holds a generated Parquet dataset (`cpor generate --profile medium --format parquet --out
DATA`). OUT gets its claims, responses and holidays as they are, and usage.parquet rewritten:
`date` sorts by (date, tenant_id, workload); `shuffled` puts the rows in a random order (seed 1).
Needs pyarrow (`pip install pyarrow`); written with zstd and row groups of 2^20 rows.
"""

import random
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[3] not in ("date", "shuffled"):
        sys.exit(__doc__)
    data, out, order = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    out.mkdir(parents=True, exist_ok=True)
    for name in ("claims.parquet", "responses.parquet", "holidays.csv", "params.json"):
        if (data / name).exists():
            shutil.copyfile(data / name, out / name)
    table = pq.read_table(data / "usage.parquet")
    # polars writes text as string_view, which pyarrow's take and sort do not handle: plain strings.
    table = table.cast(
        pa.schema([(f.name, pa.string() if f.type == pa.string_view() else f.type) for f in table.schema])
    )
    if order == "date":
        table = table.sort_by([("date", "ascending"), ("tenant_id", "ascending"), ("workload", "ascending")])
    else:
        rows = list(range(table.num_rows))
        random.Random(1).shuffle(rows)
        table = table.take(pa.array(rows))
    pq.write_table(table, out / "usage.parquet", compression="zstd", row_group_size=1 << 20)
    print(f"{out / 'usage.parquet'}: {table.num_rows} rows, {order}")


if __name__ == "__main__":
    main()
