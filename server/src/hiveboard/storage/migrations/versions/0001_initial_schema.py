"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 22:23:36.707696
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "actions",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("action_id", sa.String(length=256), nullable=False),
        sa.Column("parent_action_id", sa.String(length=256), nullable=True),
        sa.Column("task_id", sa.String(length=256), nullable=True),
        sa.Column("task_run_id", sa.String(length=256), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("function", sa.String(length=512), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("exception_type", sa.String(length=256), nullable=True),
        sa.Column("exception_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_actions_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "agent_id",
            "action_id",
            name=op.f("uq_actions_tenant_id_agent_id_action_id"),
        ),
    )
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_actions_tenant_id_task_id"), ["tenant_id", "task_id"], unique=False
        )

    op.create_table(
        "agent_status_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agent_status_transitions_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_status_transitions")),
    )
    with op.batch_alter_table("agent_status_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_status_transitions_tenant_id_agent_id_at"),
            ["tenant_id", "agent_id", "at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_agent_status_transitions_tenant_id_at"),
            ["tenant_id", "at"],
            unique=False,
        )

    op.create_table(
        "agents",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("agent_type", sa.String(length=256), server_default="general", nullable=False),
        sa.Column("agent_version", sa.String(length=256), nullable=True),
        sa.Column("framework", sa.String(length=256), nullable=True),
        sa.Column("runtime", sa.String(length=256), nullable=True),
        sa.Column("sdk_version", sa.String(length=256), nullable=True),
        sa.Column("environment", sa.String(length=64), server_default="production", nullable=False),
        sa.Column("group_name", sa.String(length=128), server_default="default", nullable=False),
        sa.Column("heartbeat_interval_s", sa.Float(), server_default="30", nullable=False),
        sa.Column("stuck_threshold_s", sa.Float(), server_default="300", nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shutdown_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=32), server_default="idle", nullable=False),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_reason", sa.String(length=512), server_default="", nullable=False),
        sa.Column("current_task_run_pk", sa.BigInteger(), nullable=True),
        sa.Column("current_task_id", sa.String(length=256), nullable=True),
        sa.Column("current_task_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_task_last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "current_task_pending_approvals", sa.Integer(), server_default="0", nullable=False
        ),
        sa.Column("last_task_outcome", sa.String(length=32), nullable=True),
        sa.Column("last_task_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_task_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("open_high_issues", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_agents_tenant_id_tenants")
        ),
        sa.UniqueConstraint("tenant_id", "agent_id", name=op.f("uq_agents_tenant_id_agent_id")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agents_tenant_id_environment_group_name"),
            ["tenant_id", "environment", "group_name"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_agents_tenant_id_status"), ["tenant_id", "status"], unique=False
        )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "approvals",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("task_id", sa.String(length=256), nullable=True),
        sa.Column("task_run_id", sa.String(length=256), nullable=True),
        sa.Column("summary", sa.String(length=512), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_event_id", sa.String(length=256), nullable=True),
        sa.Column("wait_ms", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_approvals_tenant_id_tenants")
        ),
        sa.UniqueConstraint("tenant_id", "event_id", name=op.f("uq_approvals_tenant_id_event_id")),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approvals_tenant_id_agent_id_task_id"),
            ["tenant_id", "agent_id", "task_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_approvals_tenant_id_state_requested_at"),
            ["tenant_id", "state", "requested_at"],
            unique=False,
        )

    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("agent_type", sa.String(length=256), nullable=True),
        sa.Column("agent_version", sa.String(length=256), nullable=True),
        sa.Column("framework", sa.String(length=256), nullable=True),
        sa.Column("runtime", sa.String(length=256), nullable=True),
        sa.Column("sdk_version", sa.String(length=256), nullable=True),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=128), nullable=False),
        sa.Column("project_id", sa.String(length=256), nullable=True),
        sa.Column("task_id", sa.String(length=256), nullable=True),
        sa.Column("task_type", sa.String(length=256), nullable=True),
        sa.Column("task_run_id", sa.String(length=256), nullable=True),
        sa.Column("correlation_id", sa.String(length=256), nullable=True),
        sa.Column("action_id", sa.String(length=256), nullable=True),
        sa.Column("parent_action_id", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=256), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("parent_event_id", sa.String(length=256), nullable=True),
        sa.Column("payload_kind", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.String(length=512), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_events_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("tenant_id", "event_id", name=op.f("uq_events_tenant_id_event_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_events_tenant_id_agent_id_ts"),
            ["tenant_id", "agent_id", "ts"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_events_tenant_id_event_type_ts"),
            ["tenant_id", "event_type", "ts"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_events_tenant_id_task_id"), ["tenant_id", "task_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_events_tenant_id_ts"), ["tenant_id", "ts"], unique=False
        )

    op.create_table(
        "issues",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("issue_key", sa.String(length=600), nullable=False),
        sa.Column("issue_id", sa.String(length=256), nullable=True),
        sa.Column("summary", sa.String(length=512), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=256), nullable=True),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("occurrence_count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_issues_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "agent_id",
            "issue_key",
            name=op.f("uq_issues_tenant_id_agent_id_issue_key"),
        ),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_issues_tenant_id_state_severity"),
            ["tenant_id", "state", "severity"],
            unique=False,
        )

    op.create_table(
        "llm_calls",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("project_id", sa.String(length=256), nullable=True),
        sa.Column("task_id", sa.String(length=256), nullable=True),
        sa.Column("task_run_id", sa.String(length=256), nullable=True),
        sa.Column("task_type", sa.String(length=256), nullable=True),
        sa.Column("action_id", sa.String(length=256), nullable=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("tokens_in", sa.BigInteger(), nullable=True),
        sa.Column("tokens_out", sa.BigInteger(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("cost_source", sa.String(length=16), nullable=False),
        sa.Column("matched_model", sa.String(length=256), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("prompt_preview", sa.Text(), nullable=True),
        sa.Column("response_preview", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_llm_calls_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_calls")),
        sa.UniqueConstraint("tenant_id", "event_id", name=op.f("uq_llm_calls_tenant_id_event_id")),
    )
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_llm_calls_tenant_id_agent_id_ts"),
            ["tenant_id", "agent_id", "ts"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_llm_calls_tenant_id_model_ts"),
            ["tenant_id", "model", "ts"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_llm_calls_tenant_id_task_id"), ["tenant_id", "task_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_llm_calls_tenant_id_ts"), ["tenant_id", "ts"], unique=False
        )

    op.create_table(
        "plan_steps",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("task_id", sa.String(length=256), nullable=False),
        sa.Column("task_run_id", sa.String(length=256), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=True),
        sa.Column("tokens", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_plan_steps_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "agent_id",
            "task_id",
            "task_run_id",
            "revision",
            "step_index",
            name=op.f("uq_plan_steps_tenant_id_agent_id_task_id_task_run_id_revision_step_index"),
        ),
    )
    op.create_table(
        "plans",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("task_id", sa.String(length=256), nullable=False),
        sa.Column("task_run_id", sa.String(length=256), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_steps", sa.Integer(), nullable=False),
        sa.Column(
            "steps",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_plans_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "agent_id",
            "task_id",
            "task_run_id",
            "revision",
            name=op.f("uq_plans_tenant_id_agent_id_task_id_task_run_id_revision"),
        ),
    )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plans_tenant_id_task_id"), ["tenant_id", "task_id"], unique=False
        )

    op.create_table(
        "price_overrides",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("input_per_mtok", sa.Float(), nullable=False),
        sa.Column("output_per_mtok", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_price_overrides_tenant_id_tenants")
        ),
        sa.UniqueConstraint("tenant_id", "model", name=op.f("uq_price_overrides_tenant_id_model")),
    )
    op.create_table(
        "queue_snapshots",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("oldest_age_seconds", sa.Float(), nullable=True),
        sa.Column(
            "items",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "processing",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_queue_snapshots_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id", "agent_id", name=op.f("uq_queue_snapshots_tenant_id_agent_id")
        ),
    )
    op.create_table(
        "rollups",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer(), server_default="0", nullable=False),
        sa.Column("errors", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tasks_started", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tasks_completed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tasks_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("task_duration_ms_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("task_duration_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("llm_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_rollups_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id", "agent_id", "bucket", name=op.f("uq_rollups_tenant_id_agent_id_bucket")
        ),
    )
    with op.batch_alter_table("rollups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rollups_tenant_id_bucket"), ["tenant_id", "bucket"], unique=False
        )

    op.create_table(
        "scheduled_items",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "items",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_scheduled_items_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id", "agent_id", name=op.f("uq_scheduled_items_tenant_id_agent_id")
        ),
    )
    op.create_table(
        "task_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("task_id", sa.String(length=256), nullable=False),
        sa.Column("task_run_id", sa.String(length=256), nullable=False),
        sa.Column("project_id", sa.String(length=256), nullable=True),
        sa.Column("task_type", sa.String(length=256), nullable=True),
        sa.Column("correlation_id", sa.String(length=256), nullable=True),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stuck_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending_approvals", sa.Integer(), server_default="0", nullable=False),
        sa.Column("exception_type", sa.String(length=256), nullable=True),
        sa.Column("exception_message", sa.Text(), nullable=True),
        sa.Column("llm_call_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("cost_unknown_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("action_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("event_count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_task_runs_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_runs")),
        sa.UniqueConstraint(
            "tenant_id",
            "agent_id",
            "task_id",
            "task_run_id",
            name=op.f("uq_task_runs_tenant_id_agent_id_task_id_task_run_id"),
        ),
    )
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_runs_tenant_id_agent_id_ended_at"),
            ["tenant_id", "agent_id", "ended_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_task_runs_tenant_id_agent_id_first_event_at"),
            ["tenant_id", "agent_id", "first_event_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_task_runs_tenant_id_first_event_at"),
            ["tenant_id", "first_event_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_task_runs_tenant_id_status_first_event_at"),
            ["tenant_id", "status", "first_event_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_task_runs_tenant_id_task_id"), ["tenant_id", "task_id"], unique=False
        )

    op.create_table(
        "todos",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=256), nullable=False),
        sa.Column("todo_id", sa.String(length=256), nullable=False),
        sa.Column("summary", sa.String(length=512), nullable=True),
        sa.Column("last_action", sa.String(length=16), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=256), nullable=True),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("due_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_todos_tenant_id_tenants")
        ),
        sa.UniqueConstraint(
            "tenant_id", "agent_id", "todo_id", name=op.f("uq_todos_tenant_id_agent_id_todo_id")
        ),
    )
    with op.batch_alter_table("todos", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_todos_tenant_id_is_open"), ["tenant_id", "is_open"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )


def downgrade() -> None:

    op.drop_table("users")
    with op.batch_alter_table("todos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_todos_tenant_id_is_open"))

    op.drop_table("todos")
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_runs_tenant_id_task_id"))
        batch_op.drop_index(batch_op.f("ix_task_runs_tenant_id_status_first_event_at"))
        batch_op.drop_index(batch_op.f("ix_task_runs_tenant_id_first_event_at"))
        batch_op.drop_index(batch_op.f("ix_task_runs_tenant_id_agent_id_first_event_at"))
        batch_op.drop_index(batch_op.f("ix_task_runs_tenant_id_agent_id_ended_at"))

    op.drop_table("task_runs")
    op.drop_table("scheduled_items")
    with op.batch_alter_table("rollups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollups_tenant_id_bucket"))

    op.drop_table("rollups")
    op.drop_table("queue_snapshots")
    op.drop_table("price_overrides")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plans_tenant_id_task_id"))

    op.drop_table("plans")
    op.drop_table("plan_steps")
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_calls_tenant_id_ts"))
        batch_op.drop_index(batch_op.f("ix_llm_calls_tenant_id_task_id"))
        batch_op.drop_index(batch_op.f("ix_llm_calls_tenant_id_model_ts"))
        batch_op.drop_index(batch_op.f("ix_llm_calls_tenant_id_agent_id_ts"))

    op.drop_table("llm_calls")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issues_tenant_id_state_severity"))

    op.drop_table("issues")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_tenant_id_ts"))
        batch_op.drop_index(batch_op.f("ix_events_tenant_id_task_id"))
        batch_op.drop_index(batch_op.f("ix_events_tenant_id_event_type_ts"))
        batch_op.drop_index(batch_op.f("ix_events_tenant_id_agent_id_ts"))

    op.drop_table("events")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approvals_tenant_id_state_requested_at"))
        batch_op.drop_index(batch_op.f("ix_approvals_tenant_id_agent_id_task_id"))

    op.drop_table("approvals")
    op.drop_table("api_keys")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_tenant_id_status"))
        batch_op.drop_index(batch_op.f("ix_agents_tenant_id_environment_group_name"))

    op.drop_table("agents")
    with op.batch_alter_table("agent_status_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_status_transitions_tenant_id_at"))
        batch_op.drop_index(batch_op.f("ix_agent_status_transitions_tenant_id_agent_id_at"))

    op.drop_table("agent_status_transitions")
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_actions_tenant_id_task_id"))

    op.drop_table("actions")
    op.drop_table("tenants")
