"""hourly rollups (metrics with a duration histogram, cost) and read-path indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:00:00

The hourly tables are filled from what is already stored, in SQL: events (those
retention kept) for event, error and task-start counts; task_runs for outcomes and
durations (bucketed as the ingest side does); llm_calls for calls, tokens and cost, with
the agent's current environment and group (llm_calls has none of its own). Constants
are copied, not imported, so this revision keeps meaning what it meant when written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPPER_MS = tuple(50 * 2**k for k in range(19))
BUCKETS = tuple(f"d{i:02d}" for i in range(len(UPPER_MS) + 1))
COUNTERS = (
    "events",
    "errors",
    "tasks_started",
    "tasks_completed",
    "tasks_failed",
    "task_duration_ms_sum",
    "task_duration_count",
    "llm_calls",
    "priced_calls",
    "tokens_in",
    "tokens_out",
    *BUCKETS,
)


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(length=64), nullable=False)


def _counter(name: str) -> sa.Column[int]:
    wide = name.endswith("_sum") or name.startswith("tokens")
    return sa.Column(
        name, sa.BigInteger() if wide else sa.Integer(), server_default="0", nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "hourly_rollups",
        _tenant(),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=256), nullable=False),
        *(_counter(name) for name in COUNTERS),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_hourly_rollups_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "hour",
            "agent_id",
            "environment",
            "group_name",
            "project_id",
            name="uq_hourly_rollups_key",
        ),
    )
    op.create_table(
        "cost_rollups",
        _tenant(),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("cost_source", sa.String(length=16), nullable=False),
        sa.Column("task_type", sa.String(length=256), nullable=False),
        sa.Column("llm_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("priced_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_cost_rollups_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "hour",
            "agent_id",
            "environment",
            "group_name",
            "project_id",
            "model",
            "cost_source",
            "task_type",
            name="uq_cost_rollups_key",
        ),
    )
    _backfill()
    # The timeline finds a task's newest runs: (tenant_id, task_id) alone left SQLite
    # walking every run of the tenant in first_event_at order to honour ORDER BY … LIMIT.
    op.drop_index("ix_task_runs_tenant_id_task_id", table_name="task_runs")
    op.create_index(
        "ix_task_runs_tenant_id_task_id_first_event_at",
        "task_runs",
        ["tenant_id", "task_id", "first_event_at"],
    )


def _hour(column: str) -> str:
    """SQL for the start of ``column``'s hour, in the form UTCDateTime stores it."""
    if op.get_bind().dialect.name == "postgresql":
        return f"(date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    return f"strftime('%Y-%m-%d %H:00:00.000000', {column})"


def _backfill() -> None:
    bucket = "CASE " + " ".join(
        f"WHEN t.duration_ms < {upper} THEN {i}" for i, upper in enumerate(UPPER_MS)
    )
    bucket += f" ELSE {len(UPPER_MS)} END"
    zeros = {name: "0" for name in (*COUNTERS, "cost_usd")}

    def part(values: dict[str, str], keys: str, source: str) -> str:
        cols = ", ".join(f"{values.get(name, zeros[name])} AS {name}" for name in zeros)
        return f"SELECT {keys}, {cols} FROM {source}"

    key = "tenant_id, hour, agent_id, environment, group_name, project_id"
    from_events = part(
        {
            "events": "1",
            "errors": "CASE WHEN e.severity = 'error' THEN 1 ELSE 0 END",
            "tasks_started": "CASE WHEN e.event_type = 'task_started' THEN 1 ELSE 0 END",
        },
        f"e.tenant_id, {_hour('e.ts')} AS hour, e.agent_id, e.environment, e.group_name, "
        "coalesce(e.project_id, '') AS project_id",
        "events e",
    )
    done = "t.ended_at IS NOT NULL AND t.duration_ms IS NOT NULL"
    from_runs = part(
        {
            "tasks_completed": "CASE WHEN t.status = 'completed' THEN 1 ELSE 0 END",
            "tasks_failed": "CASE WHEN t.status = 'completed' THEN 0 ELSE 1 END",
            "task_duration_ms_sum": "t.duration_ms",
            "task_duration_count": "1",
            **{
                name: f"CASE WHEN {bucket} = {i} THEN 1 ELSE 0 END"
                for i, name in enumerate(BUCKETS)
            },
        },
        f"t.tenant_id, {_hour('t.ended_at')} AS hour, t.agent_id, t.environment, t.group_name, "
        "coalesce(t.project_id, '') AS project_id",
        f"task_runs t WHERE {done}",
    )
    calls = "llm_calls c JOIN agents a ON a.tenant_id = c.tenant_id AND a.agent_id = c.agent_id"
    from_calls = part(
        {
            "llm_calls": "1",
            "priced_calls": "CASE WHEN c.cost_usd IS NULL THEN 0 ELSE 1 END",
            "tokens_in": "coalesce(c.tokens_in, 0)",
            "tokens_out": "coalesce(c.tokens_out, 0)",
            "cost_usd": "coalesce(c.cost_usd, 0)",
        },
        f"c.tenant_id, {_hour('c.ts')} AS hour, c.agent_id, a.environment, a.group_name, "
        "coalesce(c.project_id, '') AS project_id",
        calls,
    )
    sums = ", ".join(f"sum({name})" for name in zeros)
    op.execute(
        f"INSERT INTO hourly_rollups ({key}, {', '.join(zeros)}) "
        f"SELECT {key}, {sums} FROM ({from_events} UNION ALL {from_runs} UNION ALL {from_calls})"
        f" AS parts GROUP BY {key}"
    )
    # The every-project twin rows ("*"), summed from the per-project rows just written.
    agent_hour = "tenant_id, hour, agent_id, environment, group_name"
    op.execute(
        f"INSERT INTO hourly_rollups ({key}, {', '.join(zeros)}) "
        f"SELECT {agent_hour}, '*', {sums} FROM hourly_rollups GROUP BY {agent_hour}"
    )
    cost_key = f"{key}, model, cost_source, task_type"
    op.execute(
        f"INSERT INTO cost_rollups ({cost_key}, llm_calls, priced_calls, tokens_in, tokens_out,"
        " cost_usd) "
        f"SELECT c.tenant_id, {_hour('c.ts')}, c.agent_id, a.environment, a.group_name, "
        "coalesce(c.project_id, ''), coalesce(c.model, ''), c.cost_source, "
        "coalesce(c.task_type, ''), count(*), count(c.cost_usd), "
        "coalesce(sum(c.tokens_in), 0), coalesce(sum(c.tokens_out), 0), "
        f"coalesce(sum(c.cost_usd), 0) FROM {calls} "
        f"GROUP BY c.tenant_id, {_hour('c.ts')}, c.agent_id, a.environment, a.group_name, "
        "coalesce(c.project_id, ''), coalesce(c.model, ''), c.cost_source, "
        "coalesce(c.task_type, '')"
    )


def downgrade() -> None:
    op.drop_index("ix_task_runs_tenant_id_task_id_first_event_at", table_name="task_runs")
    op.create_index("ix_task_runs_tenant_id_task_id", "task_runs", ["tenant_id", "task_id"])
    op.drop_table("cost_rollups")
    op.drop_table("hourly_rollups")
