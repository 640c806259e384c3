"""fleet rows in the hourly rollups, and agent_cost_rollups (cost per agent and hour)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 02:00:00

The fleet rows are rows of ``hourly_rollups`` and ``cost_rollups`` whose agent,
environment and group are "" (no agent id can be empty), summed here from the per-agent
rows already there, as ingest keeps them from now on: the hourly every-project rows
("*") per hour, and the cost rows per hour, project, model, source and task type.
``agent_cost_rollups`` is filled from the agents' every-project hourly rows that had
calls. Constants are copied, not imported, so this revision keeps meaning what it meant
when written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FLEET = "''"
ALL_PROJECTS = "'*'"
HOURLY_SUMS = (
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
    "cost_usd",
    *(f"d{i:02d}" for i in range(20)),
)
COST_SUMS = ("llm_calls", "priced_calls", "tokens_in", "tokens_out", "cost_usd")
KEY = "tenant_id, hour, agent_id, environment, group_name, project_id"


def _sums(names: tuple[str, ...]) -> tuple[str, str]:
    """The column list and the matching ``sum(…)`` list."""
    return ", ".join(names), ", ".join(f"sum({n})" for n in names)


def _counter(name: str) -> sa.Column[int]:
    wide = name.startswith("tokens")
    return sa.Column(
        name, sa.BigInteger() if wide else sa.Integer(), server_default="0", nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "agent_cost_rollups",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=128), nullable=False),
        *(_counter(name) for name in COST_SUMS[:-1]),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_agent_cost_rollups_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "hour",
            "agent_id",
            "environment",
            "group_name",
            name="uq_agent_cost_rollups_key",
        ),
    )
    cols = ", ".join(COST_SUMS)
    agent_key = "tenant_id, hour, agent_id, environment, group_name"
    op.execute(
        f"INSERT INTO agent_cost_rollups ({agent_key}, {cols}) "
        f"SELECT {agent_key}, {cols} FROM hourly_rollups "
        f"WHERE project_id = {ALL_PROJECTS} AND llm_calls > 0 ORDER BY {agent_key}"
    )
    cols, sums = _sums(HOURLY_SUMS)
    op.execute(
        f"INSERT INTO hourly_rollups ({KEY}, {cols}) "
        f"SELECT tenant_id, hour, {FLEET}, {FLEET}, {FLEET}, {ALL_PROJECTS}, {sums} "
        f"FROM hourly_rollups WHERE project_id = {ALL_PROJECTS} "
        "GROUP BY tenant_id, hour ORDER BY tenant_id, hour"
    )
    cols, sums = _sums(COST_SUMS)
    dims = "project_id, model, cost_source, task_type"
    op.execute(
        f"INSERT INTO cost_rollups ({KEY}, model, cost_source, task_type, {cols}) "
        f"SELECT tenant_id, hour, {FLEET}, {FLEET}, {FLEET}, {dims}, {sums} "
        f"FROM cost_rollups GROUP BY tenant_id, hour, {dims} ORDER BY tenant_id, hour, {dims}"
    )


def downgrade() -> None:
    op.drop_table("agent_cost_rollups")
    op.execute(f"DELETE FROM cost_rollups WHERE agent_id = {FLEET}")
    op.execute(f"DELETE FROM hourly_rollups WHERE agent_id = {FLEET}")
