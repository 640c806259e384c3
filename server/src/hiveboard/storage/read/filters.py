"""The filters every listing shares, applied the same way to every table.

Every read is scoped by ``tenant_id`` first: it is the leading column of every index,
so a query that forgets it would both leak across tenants and scan.  :class:`Scope`
makes the tenant a required field, and :func:`where_scope` always applies it.

Tables that do not carry ``environment``/``group_name`` themselves (LLM calls, issues,
approvals, rollups…) are filtered through the agent: ``agent_id IN (SELECT agent_id FROM
agents WHERE tenant_id = … AND environment = …)``, which the agents table's
``(tenant_id, environment, group_name)`` index answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, select

from hiveboard.storage.tables import agents


@dataclass(frozen=True)
class Scope:
    """Who is asking and which slice of their data; ``None`` means "no constraint"."""

    tenant_id: str
    since: datetime | None = None
    until: datetime | None = None
    environment: str | None = None
    group: str | None = None
    project_id: str | None = None
    agent_id: str | None = None


def fleet_wide(scope: Scope) -> bool:
    """True when fleet rows can answer ``scope``: they have no agent, environment, group
    (an hourly fleet row has no project either)."""
    return scope.agent_id is None and scope.environment is None and scope.group is None


def agents_matching(scope: Scope) -> Select[Any]:
    """Agent ids of the tenant in the scope's environment and group."""
    query = select(agents.c.agent_id).where(agents.c.tenant_id == scope.tenant_id)
    if scope.environment is not None:
        query = query.where(agents.c.environment == scope.environment)
    if scope.group is not None:
        query = query.where(agents.c.group_name == scope.group)
    return query


def where_scope(
    query: Select[Any],
    table: Table,
    scope: Scope,
    *,
    time_column: ColumnElement[Any] | None = None,
    project: bool = True,
) -> Select[Any]:
    """Apply tenant, agent, environment, group, project and time range to ``query``.

    ``time_column`` is the column the time range applies to (``None``: the table has
    no time dimension for this listing).  ``project=False`` for tables with no project.
    """
    cols = table.c
    query = query.where(cols.tenant_id == scope.tenant_id)
    if scope.agent_id is not None:
        query = query.where(cols.agent_id == scope.agent_id)
    if scope.environment is not None or scope.group is not None:
        if "environment" in cols and "group_name" in cols:
            if scope.environment is not None:
                query = query.where(cols.environment == scope.environment)
            if scope.group is not None:
                query = query.where(cols.group_name == scope.group)
        else:
            query = query.where(cols.agent_id.in_(agents_matching(scope)))
    if project and scope.project_id is not None and "project_id" in cols:
        query = query.where(cols.project_id == scope.project_id)
    if time_column is not None:
        if scope.since is not None:
            query = query.where(time_column >= scope.since)
        if scope.until is not None:
            query = query.where(time_column < scope.until)
    return query


def one_of(column: ColumnElement[Any], values: list[str] | None) -> ColumnElement[bool] | None:
    """``column IN values`` for a multi-valued filter, or None when not filtering."""
    if not values:
        return None
    return column.in_(values) if len(values) > 1 else column == values[0]
