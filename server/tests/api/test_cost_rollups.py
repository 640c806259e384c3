"""The cost summary and time series read from rollups equal sums of the raw calls.

Windows start and end at many offsets into their hours (so both edge strategies, adding
the calls inside or subtracting those outside from the hour's rollups, are exercised),
under every filter; each figure is compared with one computed here from ``llm_calls``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hbtest import T0, TenantKeys, body, ev, llm
from hiveboard.ingest.validate import validate_batch
from hiveboard.storage.read.buckets import bucket_start
from hiveboard.storage.read.cost import (
    COST_DIMENSIONS,
    cost_summary,
    plan_edges,
    split_window,
)
from hiveboard.storage.read.cost_series import cost_timeseries
from hiveboard.storage.read.filters import Scope
from hiveboard.storage.sql import SqlStorage
from hiveboard.storage.tables import agents, llm_calls
from sqlalchemy import event, select

AGENTS = {
    "a1": {"environment": "production", "group": "g1"},
    "a2": {"environment": "production", "group": "g2"},
    "a3": {"environment": "staging", "group": "g1"},
}
MODELS = ("claude-sonnet-4", "gpt-4o", "no-such-model-xyz")
PROJECTS = ("p1", "p2", None)
TASK_TYPES = ("triage", None)


def _call(i: int, at: float) -> dict[str, Any]:
    """The ``i``-th call: models, projects, task types and cost sources vary with ``i``."""
    data: dict[str, Any] = {"tokens_in": 100 + i, "tokens_out": 10 + i % 7}
    if i % 3 == 0:
        data["cost"] = round(0.01 * (i % 11), 4)
    out = llm(at, MODELS[i % len(MODELS)], task_id=f"t{i % 4}", **data)
    project, task_type = PROJECTS[i % 3], TASK_TYPES[i % 2]
    return (
        out
        | ({"project_id": project} if project else {})
        | ({"task_type": task_type} if task_type else {})
    )


def seed(storage: SqlStorage, tenant_id: str) -> None:
    """About 200 calls over four hours from three agents, in two batches per agent."""
    now = T0 + timedelta(hours=6)
    for n, (agent_id, envelope) in enumerate(AGENTS.items()):
        calls = [_call(i, i * 67.0 + n * 13) for i in range(n, 200, 3)]
        for part in (calls[: len(calls) // 2], calls[len(calls) // 2 :]):
            b = body(ev("heartbeat", 5), *part, agent_id=agent_id, **envelope)
            storage.ingest(tenant_id, validate_batch(b, now=now), now=now)


def expected(storage: SqlStorage, scope: Scope) -> dict[str, Any]:
    """The summary's figures (ranking aside) summed from the raw calls in ``scope``."""
    assert scope.since is not None and scope.until is not None
    c, a = llm_calls, agents
    query = (
        select(c, a.c.environment, a.c.group_name)
        .join(a, (a.c.tenant_id == c.c.tenant_id) & (a.c.agent_id == c.c.agent_id))
        .where(c.c.tenant_id == scope.tenant_id, c.c.ts >= scope.since, c.c.ts < scope.until)
    )
    with storage.engine.connect() as conn:
        rows = [r._mapping for r in conn.execute(query)]
    wanted = {
        "agent_id": scope.agent_id,
        "environment": scope.environment,
        "group_name": scope.group,
        "project_id": scope.project_id,
    }
    rows = [r for r in rows if all(v is None or r[k] == v for k, v in wanted.items())]
    out: dict[str, Any] = {"total": _sums(rows)}
    for name, column in COST_DIMENSIONS.items():
        groups: dict[Any, list[Any]] = defaultdict(list)
        for r in rows:
            groups[r[column]].append(r)
        out[name] = {key: _sums(members) for key, members in groups.items()}
    return out


def _sums(rows: list[Any]) -> dict[str, Any]:
    return {
        "llm_calls": len(rows),
        "tokens_in": sum(r["tokens_in"] or 0 for r in rows),
        "tokens_out": sum(r["tokens_out"] or 0 for r in rows),
        "unknown_cost_calls": sum(r["cost_usd"] is None for r in rows),
        "cost_usd": pytest.approx(sum(r["cost_usd"] or 0.0 for r in rows), abs=1e-9),
    }


def actual(storage: SqlStorage, scope: Scope) -> dict[str, Any]:
    with storage.engine.connect() as conn:
        got = cost_summary(conn, scope)
    out: dict[str, Any] = {"total": got["total"]}
    for name in COST_DIMENSIONS:
        out[name] = {g.pop("key"): g for g in got[name]}
    return out


WINDOWS = [
    (T0, T0 + timedelta(hours=4)),  # whole hours only
    (T0 + timedelta(minutes=5), T0 + timedelta(hours=3, minutes=55)),  # subtract both edges
    (T0 + timedelta(minutes=50), T0 + timedelta(hours=2, minutes=10)),  # add both edges
    (T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)),  # inside one hour
    (T0 + timedelta(minutes=1), T0 + timedelta(minutes=59)),  # one hour, subtract around
    (T0 + timedelta(minutes=50), T0 + timedelta(hours=1, minutes=15)),  # across one boundary
    (T0 + timedelta(minutes=5), T0 + timedelta(hours=1, minutes=55)),  # no whole hour
    (T0 - timedelta(hours=2), T0 + timedelta(days=1, seconds=1)),  # empty hours around
]
FILTERS: list[dict[str, str]] = [
    {},
    {"environment": "production"},
    {"group": "g1"},
    {"project_id": "p2"},
    {"agent_id": "a3"},
    {"environment": "production", "project_id": "p1"},
]


@pytest.mark.parametrize(("window", "where"), list(itertools.product(WINDOWS, FILTERS)))
def test_summary_equals_the_raw_calls(
    storage: SqlStorage, tenant: TenantKeys, window: tuple[datetime, datetime], where: dict
) -> None:
    seed(storage, tenant.tenant_id)
    scope = replace(Scope(tenant.tenant_id, since=window[0], until=window[1]), **where)
    assert actual(storage, scope) == expected(storage, scope)


def test_groups_whose_calls_cancel_out_are_not_listed(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    """The hour is read as rollups minus the calls before ``since``: a model used only
    then must not appear with zero calls."""
    now = T0 + timedelta(hours=2)
    early = llm(60, "gpt-4o", tokens_in=5, cost=0.5)
    late = [llm(600 + i, "claude-sonnet-4", tokens_in=5, cost=0.25) for i in range(20)]
    b = body(early, *late, agent_id="a1")
    storage.ingest(tenant.tenant_id, validate_batch(b, now=now), now=now)
    scope = Scope(tenant.tenant_id, since=T0 + timedelta(minutes=2), until=now)
    got = actual(storage, scope)
    assert set(got["by_model"]) == {"claude-sonnet-4"}
    assert got["total"]["cost_usd"] == 5.0 and got["total"]["llm_calls"] == 20


@pytest.mark.parametrize(("window", "signs"), [(WINDOWS[1], (-1, -1)), (WINDOWS[2], (1, 1))])
def test_each_edge_reads_the_part_of_its_hour_with_fewer_calls(
    storage: SqlStorage, tenant: TenantKeys, window: tuple[datetime, datetime], signs: tuple
) -> None:
    """Five minutes out of the window at either end: the hours minus those minutes'
    calls; ten minutes in: those minutes' calls. (The shorter part is counted on the
    index, the whole hour read from its fleet row.)"""
    seed(storage, tenant.tenant_id)
    since, until = window
    _, edges = split_window(since, until)
    with storage.engine.connect() as conn:
        hours, ranges = plan_edges(conn, Scope(tenant.tenant_id, since=since, until=until), edges)
    assert tuple(sign for *_, sign in ranges) == signs
    assert len(hours) == (2 if signs == (-1, -1) else 0)


def test_summary_runs_three_statements_however_many_edges(
    storage: SqlStorage, tenant: TenantKeys
) -> None:
    """One statement counts the calls of both edges, one nets the breakdown by source,
    model, task type and project, one the agents; a window of whole hours needs no count."""
    seed(storage, tenant.tenant_id)
    executed: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT"):  # not BEGIN
            executed.append(statement)

    for window, statements in ((WINDOWS[1], 3), (WINDOWS[0], 2)):
        executed.clear()
        event.listen(storage.engine, "before_cursor_execute", capture)
        try:
            actual(storage, Scope(tenant.tenant_id, since=window[0], until=window[1]))
        finally:
            event.remove(storage.engine, "before_cursor_execute", capture)
        assert len(executed) == statements, executed


SERIES_WINDOWS = [WINDOWS[0], WINDOWS[1], WINDOWS[2], WINDOWS[5], WINDOWS[6]]


def _raw_calls(storage: SqlStorage, scope: Scope) -> list[Any]:
    """The calls in ``scope``'s window, of its project if it has one."""
    assert scope.since is not None and scope.until is not None
    c = llm_calls
    query = select(c).where(
        c.c.tenant_id == scope.tenant_id, c.c.ts >= scope.since, c.c.ts < scope.until
    )
    if scope.project_id is not None:
        query = query.where(c.c.project_id == scope.project_id)
    with storage.engine.connect() as conn:
        return [r._mapping for r in conn.execute(query)]


@pytest.mark.parametrize("interval_s", [60, 300, 3600])
@pytest.mark.parametrize("where", [{}, {"project_id": "p2"}])
def test_series_counts_the_unpriced_calls_of_each_bucket(
    storage: SqlStorage, tenant: TenantKeys, interval_s: int, where: dict
) -> None:
    """Per bucket (and agent or model), ``unknown_cost_calls`` is the number of calls
    without a cost, whichever source read them (minute or hourly rollups, the calls)."""
    seed(storage, tenant.tenant_id)
    now = T0 + timedelta(hours=6)
    unpriced = [llm(i * 401.0, MODELS[2], tokens_in=7) | {"project_id": "p2"} for i in range(33)]
    b = body(*unpriced, agent_id="a2", **AGENTS["a2"])  # the seed's p2 calls are all priced
    storage.ingest(tenant.tenant_id, validate_batch(b, now=now), now=now)
    unknown = only_unpriced = 0
    for (since, until), group_by in itertools.product(SERIES_WINDOWS, (None, "agent", "model")):
        scope = replace(Scope(tenant.tenant_id, since=since, until=until), **where)
        column = {"agent": "agent_id", "model": "model"}.get(group_by or "")
        want: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
        for r in _raw_calls(storage, scope):
            cell = want[(bucket_start(r["ts"], interval_s), r[column] if column else None)]
            cell[0] += 1
            cell[1] += r["cost_usd"] is None
        with storage.engine.connect() as conn:
            points = cost_timeseries(conn, scope, since, until, interval_s, group_by)
        got = {
            (p["bucket"], p["key"]): [p["llm_calls"], p["unknown_cost_calls"]]
            for p in points
            if p["llm_calls"] or p["unknown_cost_calls"]
        }
        assert got == dict(want), (since, until, group_by)
        unknown += sum(p["unknown_cost_calls"] for p in points)
        only_unpriced += sum(1 for p in points if p["llm_calls"] == p["unknown_cost_calls"] > 0)
    assert unknown and (only_unpriced or interval_s == 3600)  # such buckets read $0 before
