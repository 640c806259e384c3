"""SQLite reads through the intended indexes (the plan of the statement each read runs).

Without ANALYZE statistics SQLite prefers an index that saves the ORDER BY sort, so for
``task_id = ? ORDER BY ts`` it walked the (tenant, agent, ts) or (tenant, ts) index
until it met the task's rows: 270 ms per timeline, 9 s per event-list page and 800 ms
per LLM-call page at 10 M events. The fleet metrics of the last hour read the 60 fleet
minute rows and the runs' durations from an index alone; the cost summary reads one
index probe per hour of rollups and the edge calls from the (tenant, ts) index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hbtest import T0, body, ev, llm
from hiveboard.ingest.validate import validate_batch
from hiveboard.storage.read.calls import list_llm_calls
from hiveboard.storage.read.cost import cost_summary
from hiveboard.storage.read.events import EventFilter, list_events
from hiveboard.storage.read.filters import Scope
from hiveboard.storage.read.metrics import metrics
from hiveboard.storage.read.tasks import find_run, list_task_runs, run_events
from hiveboard.storage.sql import SqlStorage
from sqlalchemy import Connection, event

TASK_INDEX = "ix_events_tenant_id_task_id"
RUN = {"task_id": "t1", "task_run_id": "r1"}


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[tuple[SqlStorage, str, list[dict[str, Any]]]]:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'plans.db'}")
    storage.migrate()
    tenant = storage.create_tenant("plans")
    sent = [ev("task_started", 0, **RUN), llm(1, **RUN), ev("task_completed", 2, **RUN)]
    storage.ingest(tenant.id, validate_batch(body(*sent), now=T0), now=T0)
    yield storage, tenant.id, sent
    storage.close()


def _plan(
    storage: SqlStorage, read: Callable[[Connection], Any], table: str = "events"
) -> tuple[Any, str]:
    """Run ``read``; its result and the query plan of the one query it ran on ``table``."""
    executed: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if f"FROM {table}" in statement:
            executed.append((statement, params))

    with storage.engine.connect() as conn:
        event.listen(storage.engine, "before_cursor_execute", capture)
        try:
            result = read(conn)
        finally:
            event.remove(storage.engine, "before_cursor_execute", capture)
        [(statement, params)] = executed
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
    return result, " ".join(str(row[-1]) for row in plan)


def _plans(storage: SqlStorage, read: Callable[[Connection], Any]) -> list[str]:
    """The query plan of every statement ``read`` runs, in order."""
    executed: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith("SELECT"):  # not BEGIN
            executed.append((statement, params))

    with storage.engine.connect() as conn:
        event.listen(storage.engine, "before_cursor_execute", capture)
        try:
            read(conn)
        finally:
            event.remove(storage.engine, "before_cursor_execute", capture)
        plans = [
            conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            for statement, params in executed
        ]
    return [" ".join(str(row[-1]) for row in plan) for plan in plans]


def test_timeline_events(stored: tuple[SqlStorage, str, list[dict[str, Any]]]) -> None:
    storage, tenant_id, sent = stored
    with storage.engine.connect() as conn:
        run = find_run(conn, tenant_id, "t1", "r1")
    assert run is not None

    (timeline, truncated), plan = _plan(storage, lambda conn: run_events(conn, tenant_id, run))

    assert [e.event_id for e in timeline] == [e["event_id"] for e in sent]
    assert not truncated
    assert TASK_INDEX in plan, plan


@pytest.mark.parametrize("agent_id", [None, "agent-1"])
def test_event_list_of_a_task_pages_through_the_task_index(
    stored: tuple[SqlStorage, str, list[dict[str, Any]]], agent_id: str | None
) -> None:
    storage, tenant_id, sent = stored
    scope = Scope(tenant_id=tenant_id, agent_id=agent_id, since=T0 - timedelta(days=1))
    flt = EventFilter(task_id="t1")

    (first, cursor), plan = _plan(
        storage, lambda conn: list_events(conn, scope, flt, cursor=None, limit=2)
    )
    (rest, end), next_plan = _plan(
        storage, lambda conn: list_events(conn, scope, flt, cursor=cursor, limit=2)
    )

    newest_first = [e["event_id"] for e in reversed(sent)]
    assert [r["event_id"] for r in first + rest] == newest_first
    assert cursor is not None and end is None
    assert TASK_INDEX in plan, plan
    assert TASK_INDEX in next_plan, next_plan


@pytest.mark.parametrize("sort", ["time", "cost"])
@pytest.mark.parametrize("agent_id", [None, "agent-1"])
def test_llm_calls_of_a_task_through_the_task_index(
    stored: tuple[SqlStorage, str, list[dict[str, Any]]], agent_id: str | None, sort: str
) -> None:
    storage, tenant_id, sent = stored
    scope = Scope(tenant_id=tenant_id, agent_id=agent_id, since=T0 - timedelta(days=1))

    (calls, cursor), plan = _plan(
        storage,
        lambda conn: list_llm_calls(
            conn, scope, models=None, sources=None, task_id="t1", sort=sort, cursor=None,
            limit=10,
        ),
        table="llm_calls",
    )  # fmt: skip

    assert [call["event_id"] for call in calls] == [sent[1]["event_id"]]
    assert cursor is None
    assert "ix_llm_calls_tenant_id_task_id" in plan, plan


def test_fleet_metrics_read_the_fleet_minute_rows_and_durations_from_an_index(
    stored: tuple[SqlStorage, str, list[dict[str, Any]]],
) -> None:
    """The last hour of fleet metrics: the fleet rows on the (tenant, agent, minute) key
    (60, not one per agent and minute) and the runs' durations from the covering index."""
    storage, tenant_id, _ = stored
    scope = Scope(tenant_id=tenant_id)
    since, until = T0 - timedelta(minutes=30), T0 + timedelta(minutes=30)

    def read(conn: Connection) -> Any:
        return metrics(conn, scope, since, until, 300)

    result, rollups_plan = _plan(storage, read, table="rollups")
    _, runs_plan = _plan(storage, read, table="task_runs")

    assert result["summary"]["events"] == 3 and result["summary"]["tasks_completed"] == 1
    assert "agent_id=? AND bucket>? AND bucket<?" in rollups_plan, rollups_plan
    assert "COVERING INDEX ix_task_runs_tenant_id_first_event_at_duration_ms" in runs_plan, (
        runs_plan
    )


def test_task_list_keeps_the_index_that_orders_ties_by_id(
    stored: tuple[SqlStorage, str, list[dict[str, Any]]],
) -> None:
    """The list pages on (first_event_at, id): the durations index, which orders ties by
    duration, would need a sort of the whole range."""
    storage, tenant_id, _ = stored
    scope = Scope(tenant_id=tenant_id)

    (runs, _), plan = _plan(
        storage,
        lambda conn: list_task_runs(
            conn, scope, statuses=None, task_types=None, task_id=None, sort="started",
            cursor=None, limit=10,
        ),
        table="task_runs",
    )  # fmt: skip

    assert [r["task_id"] for r in runs] == ["t1"]
    assert "ix_task_runs_tenant_id_first_event_at " in plan + " ", plan
    assert "TEMP B-TREE" not in plan, plan


def test_cost_summary_probes_each_hour_and_reads_edge_calls_by_time(
    stored: tuple[SqlStorage, str, list[dict[str, Any]]],
) -> None:
    """A day's cost summary: one statement counts the calls of each edge on the
    (tenant, ts) index alone and reads its hour's calls from the fleet hourly row; the
    breakdown reads the fleet rows of each hour (``hour IN``: one probe per hour on the
    rollup key, never the agents' rows between them) netted with the edges' calls; the
    agents' statement reads their narrow rows per hour the same way."""
    storage, tenant_id, _ = stored
    since, until = T0 - timedelta(hours=23, minutes=30), T0 + timedelta(minutes=30)
    scope = Scope(tenant_id=tenant_id, since=since, until=until)

    counts, breakdown, agents = _plans(storage, lambda conn: cost_summary(conn, scope))

    assert counts.count("COVERING INDEX ix_llm_calls_tenant_id_ts") == 2, counts
    fleet_row = "hourly_rollups USING INDEX sqlite_autoindex_hourly_rollups_1 (tenant_id=? AND "
    fleet_row += "hour=? AND agent_id=? AND environment=? AND group_name=? AND project_id=?)"
    assert counts.count(fleet_row) == 2, counts
    rollup_key = "sqlite_autoindex_cost_rollups_1 (tenant_id=? AND hour=? AND agent_id=?)"
    assert rollup_key in breakdown, breakdown
    agent_key = "sqlite_autoindex_agent_cost_rollups_1 (tenant_id=? AND hour=?)"
    assert agent_key in agents, agents
    for plan in (breakdown, agents):
        assert "ix_llm_calls_tenant_id_ts (tenant_id=? AND ts>? AND ts<?)" in plan, plan
        tables = ("llm_calls", "cost_rollups", "agent_cost_rollups")
        assert not any(f"SCAN {table}" in plan for table in tables), plan
