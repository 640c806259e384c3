"""count of LLM calls with unknown cost in the minute rollups

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 06:30:00

Without it every figure read from ``rollups`` (the last hour of the fleet and of each
agent, the metrics' cost series) showed a silent $0.00 for calls nobody could price.
Backfilled from ``llm_calls`` (cost_source "unknown", cost NULL): each agent row counts
its minute's unknown calls, found by range on the ``(tenant_id, agent_id, ts)`` index;
each fleet row (agent "") sums its minute's agent rows, as ingest keeps them from now
on. Only rows that had calls are visited. Constants are copied, not imported, so this
revision keeps meaning what it meant when written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FLEET = "''"


def _next_minute(column: str) -> str:
    """SQL for ``column`` plus a minute, in the form UTCDateTime stores it."""
    if op.get_bind().dialect.name == "postgresql":
        return f"({column} + interval '1 minute')"
    return f"strftime('%Y-%m-%d %H:%M:00.000000', {column}, '+1 minute')"


def upgrade() -> None:
    with op.batch_alter_table("rollups") as batch:
        batch.add_column(
            sa.Column("cost_unknown_calls", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE rollups SET cost_unknown_calls = (SELECT count(*) FROM llm_calls c "
        "WHERE c.tenant_id = rollups.tenant_id AND c.agent_id = rollups.agent_id "
        f"AND c.ts >= rollups.bucket AND c.ts < {_next_minute('rollups.bucket')} "
        f"AND c.cost_source = 'unknown') WHERE agent_id <> {FLEET} AND llm_calls > 0"
    )
    op.execute(
        "UPDATE rollups SET cost_unknown_calls = (SELECT coalesce(sum(a.cost_unknown_calls), 0) "
        "FROM rollups a WHERE a.tenant_id = rollups.tenant_id AND a.bucket = rollups.bucket "
        f"AND a.agent_id <> {FLEET}) WHERE agent_id = {FLEET} AND llm_calls > 0"
    )


def downgrade() -> None:
    with op.batch_alter_table("rollups") as batch:
        batch.drop_column("cost_unknown_calls")
