"""fleet rows in the minute rollups, and task durations by time from an index alone

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 04:00:00

The fleet rows are rows of ``rollups`` whose agent is "" (no agent id can be empty), one
per tenant and minute, summed here from the per-agent rows already there, as ingest keeps
them from now on. The index on ``task_runs (tenant_id, first_event_at, duration_ms)``
lets the metrics read a window's task durations without visiting the table. Constants
are copied, not imported, so this revision keeps meaning what it meant when written.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FLEET = "''"
SUMS = (
    "events",
    "errors",
    "tasks_started",
    "tasks_completed",
    "tasks_failed",
    "task_duration_ms_sum",
    "task_duration_count",
    "llm_calls",
    "tokens_in",
    "tokens_out",
    "cost_usd",
)
DURATIONS_INDEX = "ix_task_runs_tenant_id_first_event_at_duration_ms"


def upgrade() -> None:
    cols = ", ".join(SUMS)
    sums = ", ".join(f"sum({n})" for n in SUMS)
    op.execute(
        f"INSERT INTO rollups (tenant_id, agent_id, bucket, {cols}) "
        f"SELECT tenant_id, {FLEET}, bucket, {sums} FROM rollups WHERE agent_id <> {FLEET} "
        "GROUP BY tenant_id, bucket ORDER BY tenant_id, bucket"
    )
    op.create_index(DURATIONS_INDEX, "task_runs", ["tenant_id", "first_event_at", "duration_ms"])


def downgrade() -> None:
    op.drop_index(DURATIONS_INDEX, table_name="task_runs")
    op.execute(f"DELETE FROM rollups WHERE agent_id = {FLEET}")
