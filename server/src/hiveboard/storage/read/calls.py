"""Individual LLM calls: newest first, or dearest first within a time window."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from hiveboard.storage.dialect import not_indexed
from hiveboard.storage.read.filters import Scope, one_of, where_scope
from hiveboard.storage.read.pagination import Keyset
from hiveboard.storage.tables import llm_calls

c = llm_calls

COST_SOURCES = ("reported", "estimated", "unknown")
"""Every ``cost_source`` a call can have: the precedence of ``derive.cost.llm_call_cost``."""

SORTS: dict[str, Keyset] = {
    "time": Keyset("llm:ts", (c.c.ts, c.c.id)),
    "cost": Keyset(
        "llm:cost", (func.coalesce(c.c.cost_usd, -1.0), c.c.id), keys=("sort_cost", "id")
    ),
}
# Newest first among one task's calls, which are few: through the (tenant, task) index
# and a sort, not a walk of the time index on SQLite (800 ms at 10 M events).
BY_TIME_IN_TASK = Keyset("llm:ts", (not_indexed(c.c.ts), c.c.id), keys=("ts", "id"))


def list_llm_calls(
    conn: Connection,
    scope: Scope,
    *,
    models: list[str] | None,
    sources: list[str] | None,
    task_id: str | None,
    sort: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of LLM calls with their settled cost and its source."""
    in_task = task_id is not None
    keyset = BY_TIME_IN_TASK if in_task and sort == "time" else SORTS[sort]
    query = select(c, func.coalesce(c.c.cost_usd, -1.0).label("sort_cost"))
    # A task's calls are few: neither the time range nor the order may pick the index.
    query = where_scope(query, c, scope, time_column=not_indexed(c.c.ts) if in_task else c.c.ts)
    for cond in (
        one_of(c.c.model, models),
        one_of(c.c.cost_source, sources),
        c.c.task_id == task_id if task_id is not None else None,
    ):
        if cond is not None:
            query = query.where(cond)
    rows = conn.execute(keyset.page(query, cursor, limit)).all()
    page, next_cursor = keyset.split(rows, limit)
    out = []
    for row in page:
        item = dict(row._mapping)
        item.pop("sort_cost", None)
        out.append(item)
    return out, next_cursor
