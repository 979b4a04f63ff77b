"""The report job of cpor done by DuckDB, for comparison (see BENCHMARKS.md).

DuckDB reads the generated usage Parquet, keeps the first row of each (tenant, workload,
subscription, date) key, joins the official and revoked claims of a cpor ledger on SPEC 5's scope
rule and access window (UTC days), and writes one CSV per claim partitioned by partner and claim.
It does not check records, evaluate claims or write rejects: it is the I/O-heavy core only.

    python3 benches/duckdb_reports.py DATA_DIR OUT LEDGER_CSV [--partitioned]

Without --partitioned the rows go to one CSV file OUT (the query's cost alone); with it, to one file
per claim under OUT, as cpor writes them (DuckDB's PARTITION_BY is slow with ~10^5 partitions).
"""

import sys
import time

import duckdb

data, out, ledger = sys.argv[1:4]
partitioned = "--partitioned" in sys.argv[4:]
target = "(FORMAT CSV, HEADER, PARTITION_BY (partner_id, claim_id))" if partitioned else "(FORMAT CSV, HEADER)"
con = duckdb.connect()
con.execute("SET threads = 2")
started = time.time()
con.execute(
    f"""
COPY (
  WITH usage AS (
    SELECT lower(trim(tenant_id)) AS tenant_id, lower(trim(workload)) AS workload_key,
           lower(trim(subscription_id)) AS subscription_id, date, active_users, paid_seats, assigned_seats,
           row_number() OVER (
             PARTITION BY lower(trim(tenant_id)), lower(trim(workload)), lower(trim(subscription_id)), date
             ORDER BY file_row_number) AS nth
    FROM read_parquet('{data}/usage.parquet', file_row_number = true)
  ),
  claims AS (
    SELECT * FROM read_csv('{ledger}', all_varchar = true) WHERE status IN ('official', 'revoked')
  )
  SELECT c.claim_id, c.partner_id, c.tenant_id, c.engagement, c.workload, u.subscription_id, u.date,
         u.active_users, u.paid_seats, u.assigned_seats
  FROM claims c JOIN usage u
    ON u.nth = 1 AND u.tenant_id = c.tenant_id AND u.workload_key = lower(c.workload)
   AND (c.engagement = 'modern_work_security_usage' OR u.subscription_id = c.subscription_id)
   AND u.date >= substr(c.official_at, 1, 10)::DATE
   AND u.date < coalesce(substr(c.ended_at, 1, 10)::DATE, DATE '2026-11-24')
  ORDER BY c.partner_id, c.claim_id, u.date, u.subscription_id NULLS FIRST
) TO '{out}' {target}
"""
)
rows = con.execute(f"SELECT count(*) FROM read_csv('{out}')").fetchone()[0] if not partitioned else None
print(f"duckdb report job on {data}: {time.time() - started:.1f}s" + (f", {rows} rows" if rows is not None else ""))
