"""Rows that a group of ingest batches writes at its end, one ``executemany`` per statement.

Derived rows that nothing later in the same transaction reads back (LLM calls, actions,
task runs, latest queue/schedule snapshots, agent rows, transitions) are collected while
the events are applied and written in one statement per table, instead of one statement
per event or per agent: on both backends most of the cost of a small write is the
statement round trip, not the row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from hiveboard.storage.bulk import Bulk
from hiveboard.storage.tables import task_runs

RUN_COLUMNS = tuple(c.name for c in task_runs.columns if c.name != "id")
RUN_KEY = ("tenant_id", "agent_id", "task_id", "task_run_id")

# RETURNING the natural key as well: ids are matched by key, not by row order, which
# ``executemany`` does not guarantee on every backend.
_INSERT_RUNS = Bulk(
    lambda ins: ins(task_runs).returning(task_runs.c.id, *(task_runs.c[c] for c in RUN_KEY))
)


class WriteBuffer:
    """Parameter lists per statement, flushed in the order the statements were first used."""

    def __init__(self) -> None:
        self._rows: dict[Bulk, list[dict[str, Any]]] = {}
        self.new_runs: list[dict[str, Any]] = []

    def add(self, stmt: Bulk, row: dict[str, Any]) -> None:
        self._rows.setdefault(stmt, []).append(row)

    def extend(self, stmt: Bulk, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._rows.setdefault(stmt, []).extend(rows)

    def flush(self, conn: Connection) -> None:
        """Write everything collected so far; new task runs get their ``id`` filled in."""
        if self.new_runs:
            params = [{c: r[c] for c in RUN_COLUMNS} for r in self.new_runs]
            by_key = {tuple(r[c] for c in RUN_KEY): r for r in self.new_runs}
            for row in _INSERT_RUNS.execute(conn, params):
                by_key[tuple(row[1:])]["id"] = row[0]
            self.new_runs = []
        for stmt, rows in self._rows.items():
            stmt.execute(conn, rows)
        self._rows = {}
