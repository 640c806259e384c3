"""How fast SQLite itself stores raw event rows on this machine: the ceiling under ingest.

``bench/ingest.py`` measures HiveBoard end to end; this script asks what is left when
everything HiveBoard adds is taken away. Event rows of the ingest mix (eventmix.py) are
stored once through HiveBoard, read back as plain tuples, and then inserted by the
``sqlite3`` module alone (one ``executemany`` per commit, no HTTP, no validation, no
Python per row, no derived table) into copies of a migrated database that already holds
``--prefill`` events, with the settings HiveBoard runs with (WAL, synchronous=NORMAL,
foreign keys on). Rows per commit vary: 100 is one request, 400 is the most a group can
hold under ingest.py's 4 clients (each waits for its answer, which comes only after the
commit), larger sizes show what bigger groups would buy. Each size runs with the events
table's indexes, and without its two time-ordered ones, to show what they cost.

    .venv/bin/python bench/sqlite_ceiling.py               # ~2 min
    .venv/bin/python bench/sqlite_ceiling.py --rounds 1 --rows 20000 --prefill 20000
    .venv/bin/python bench/sqlite_ceiling.py --quick       # smoke run

Rounds interleave the variants; the table shows medians over rounds.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import eventmix  # noqa: E402

TIME_INDEXES = ("ix_events_tenant_id_event_type_ts", "ix_events_tenant_id_ts")
COMMIT_SIZES = (100, 200, 400, 1000, 5000)


def stored_rows(workdir: Path, count: int) -> tuple[Path, list[str], list[tuple[object, ...]]]:
    """A migrated database holding ``count`` events of the mix (stored through HiveBoard),
    its events columns, and those rows as tuples in insert order."""
    from hiveboard.ingest.validate import validate_batch
    from hiveboard.storage.sql import SqlStorage

    path = workdir / "source.db"
    storage = SqlStorage(f"sqlite:///{path}")
    storage.migrate()
    tenant = storage.create_tenant("ceiling")
    start = eventmix.utcnow() - timedelta(hours=2)
    sims = eventmix.fleet(200, 999, start, timedelta(milliseconds=1))
    now, stored = eventmix.utcnow(), 0
    for body in eventmix.batches(sims, 100):
        if stored >= count:
            break
        stored += len(storage.ingest(tenant.id, validate_batch(body, now=now), now=now).stored)
    storage.close()
    with sqlite3.connect(path) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(events)") if r[1] != "id"]
        rows = conn.execute(f"SELECT {', '.join(columns)} FROM events ORDER BY id").fetchall()
    return path, columns, rows


def empty_copy(source: Path, target: Path, keep: int) -> None:
    """``source`` with only its first ``keep`` events: the prefilled starting point."""
    shutil.copy(source, target)
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("DELETE FROM events WHERE id > ?", (keep,))
    conn.execute("VACUUM")
    conn.close()


def rows_per_second(
    start: Path, work: Path, sql: str, rows: list[tuple[object, ...]], per_commit: int,
    drop: tuple[str, ...], expected_before: int,
) -> float:  # fmt: skip
    shutil.copy(start, work)
    conn = sqlite3.connect(work, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    for index in drop:
        conn.execute(f"DROP INDEX {index}")
    began = time.perf_counter()
    for i in range(0, len(rows), per_commit):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[i : i + per_commit])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - began
    added = conn.execute("SELECT count(*) FROM events").fetchone()[0] - expected_before
    conn.close()
    if added != len(rows):
        raise SystemExit(f"stored {added} rows of {len(rows)}: the figures would be wrong")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=60_000, help="rows inserted per run")
    parser.add_argument("--prefill", type=int, default=100_000, help="events already stored")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 small round: smoke run")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.prefill, args.rounds = 2_000, 1_000, 1

    with tempfile.TemporaryDirectory(prefix="hiveboard-bench-ceiling-") as tmp:
        workdir = Path(tmp)
        print(f"storing {args.prefill + args.rows:,} events of the mix ...", file=sys.stderr)
        source, columns, rows = stored_rows(workdir, args.prefill + args.rows)
        start = workdir / "start.db"
        empty_copy(source, start, keep=args.prefill)
        fresh = rows[args.prefill :]
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO events ({', '.join(columns)}) VALUES ({marks})"
        variants = [(size, drop) for size in COMMIT_SIZES for drop in ((), TIME_INDEXES)]
        rates: dict[tuple[int, tuple[str, ...]], list[float]] = {v: [] for v in variants}
        for n in range(args.rounds):
            print(f"round {n + 1}/{args.rounds} ...", file=sys.stderr)
            for size, drop in variants:
                rate = rows_per_second(
                    start, workdir / "work.db", sql, fresh, size, drop, args.prefill
                )
                rates[(size, drop)].append(rate)

    print(f"\n## bench/sqlite_ceiling.py — {len(fresh):,} raw event rows onto {args.prefill:,}, "
          f"median of {args.rounds} round(s)\n")  # fmt: skip
    print("| rows per commit | all events indexes, rows/s | without the 2 time indexes, rows/s |")
    print("|---:|---:|---:|")
    for size in COMMIT_SIZES:
        full = statistics.median(rates[(size, ())])
        lean = statistics.median(rates[(size, TIME_INDEXES)])
        print(f"| {size:,} | {full:,.0f} | {lean:,.0f} |")


if __name__ == "__main__":
    main()
