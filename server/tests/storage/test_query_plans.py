"""SQLite plans the timeline's event read by task, not by agent.

Without ANALYZE statistics SQLite prefers an index that saves the ORDER BY sort, and the
(tenant, agent, ts) index does that for ``agent_id = ? AND task_id = ? ORDER BY ts``:
it then walks every event the agent ever sent (270 ms per timeline at 10 M events).
The plan is checked on the statement the read really runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hbtest import T0, body, ev, llm
from hiveboard.ingest.validate import validate_batch
from hiveboard.storage.read.tasks import find_run, run_events
from hiveboard.storage.sql import SqlStorage
from sqlalchemy import event


def test_timeline_events_are_found_through_the_task_index(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path / 'plans.db'}")
    storage.migrate()
    tenant = storage.create_tenant("plans")
    run = {"task_id": "t1", "task_run_id": "r1"}
    sent = [ev("task_started", 0, **run), llm(1, **run), ev("task_completed", 2, **run)]
    storage.ingest(tenant.id, validate_batch(body(*sent), now=T0), now=T0)
    executed: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM events" in statement:
            executed.append((statement, params))

    with storage.engine.connect() as conn:
        found = find_run(conn, tenant.id, "t1", "r1")
        assert found is not None
        event.listen(storage.engine, "before_cursor_execute", capture)
        try:
            timeline, truncated = run_events(conn, tenant.id, found)
        finally:
            event.remove(storage.engine, "before_cursor_execute", capture)
        [(statement, params)] = executed
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
    storage.close()

    assert [e.event_id for e in timeline] == [e["event_id"] for e in sent]
    assert not truncated
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_events_tenant_id_task_id" in details, details
