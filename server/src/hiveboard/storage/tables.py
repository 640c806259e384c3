"""The schema: SQLAlchemy Core tables shared by SQLite and PostgreSQL.

Raw ``events`` are the durable record; every other table except the tenancy ones is
*derived* at ingest, in the same transaction as the raw insert, so queries never scan the
event history. Migrations (``migrations/versions``) are the source of truth for existing
databases; this module must describe the same schema as the newest revision
(test_migrations.py checks that they agree).

Conventions: every tenant-scoped table leads with ``tenant_id`` (and ``agent_id``) so
indexes serve the per-tenant queries; timestamps are ``UTCDateTime``; money is ``Float``
USD; ``group`` is spelled ``group_name`` (reserved word).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from hiveboard.storage.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Auto-increment ids: SQLite only aliases rowid for INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


def _tenant() -> Column[str]:
    return Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False)


# -- tenancy and access ------------------------------------------------------------------

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    _tenant(),
    Column("kind", String(8), nullable=False),  # live / test / read
    Column("name", String(200), nullable=False, server_default=""),
    Column("prefix", String(32), nullable=False),  # shown in lists: hb_live_ab12…
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    _tenant(),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),  # argon2id
    Column("role", String(16), nullable=False),  # owner / admin / member / viewer
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime()),
)

price_overrides = Table(
    "price_overrides",
    metadata,
    _tenant(),
    Column("model", String(200), nullable=False),
    Column("input_per_mtok", Float, nullable=False),  # USD per million input tokens
    Column("output_per_mtok", Float, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "model"),
)

# -- raw events --------------------------------------------------------------------------

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant(),
    Column("event_id", String(256), nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("agent_id", String(256), nullable=False),
    Column("agent_type", String(256)),
    Column("agent_version", String(256)),
    Column("framework", String(256)),
    Column("runtime", String(256)),
    Column("sdk_version", String(256)),
    Column("environment", String(64), nullable=False),
    Column("group_name", String(128), nullable=False),
    Column("project_id", String(256)),
    Column("task_id", String(256)),
    Column("task_type", String(256)),
    Column("task_run_id", String(256)),
    Column("correlation_id", String(256)),
    Column("action_id", String(256)),
    Column("parent_action_id", String(256)),
    Column("status", String(256)),
    Column("duration_ms", BigInteger),
    Column("parent_event_id", String(256)),
    Column("payload_kind", String(64)),
    Column("summary", String(512)),
    Column("payload", Json),
    UniqueConstraint("tenant_id", "event_id"),
    Index(None, "tenant_id", "agent_id", "ts"),
    Index(None, "tenant_id", "task_id"),
    Index(None, "tenant_id", "event_type", "ts"),
    Index(None, "tenant_id", "ts"),
)

# -- derived: agents ---------------------------------------------------------------------

agents = Table(
    "agents",
    metadata,
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("agent_type", String(256), nullable=False, server_default="general"),
    Column("agent_version", String(256)),
    Column("framework", String(256)),
    Column("runtime", String(256)),
    Column("sdk_version", String(256)),
    Column("environment", String(64), nullable=False, server_default="production"),
    Column("group_name", String(128), nullable=False, server_default="default"),
    Column("heartbeat_interval_s", Float, nullable=False, server_default="30"),
    Column("stuck_threshold_s", Float, nullable=False, server_default="300"),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),  # newest event of any kind
    Column("last_heartbeat_at", UTCDateTime()),
    Column("registered_at", UTCDateTime()),  # newest agent_registered
    Column("shutdown_at", UTCDateTime()),  # clean shutdown reported by the SDK
    Column("status", String(32), nullable=False, server_default="idle"),
    Column("status_since", UTCDateTime(), nullable=False),
    Column("status_reason", String(512), nullable=False, server_default=""),
    # The open task run the agent is working on (newest started, not ended).
    Column("current_task_run_pk", BigInteger),
    Column("current_task_id", String(256)),
    Column("current_task_started_at", UTCDateTime()),
    Column("current_task_last_event_at", UTCDateTime()),
    Column("current_task_pending_approvals", Integer, nullable=False, server_default="0"),
    # The newest ended task run: drives the `error` status.
    Column("last_task_outcome", String(32)),
    Column("last_task_ended_at", UTCDateTime()),
    Column("last_task_started_at", UTCDateTime()),
    Column("open_high_issues", Integer, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "agent_id"),
    Index(None, "tenant_id", "status"),
    Index(None, "tenant_id", "environment", "group_name"),
)

agent_status_transitions = Table(
    "agent_status_transitions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("from_status", String(32)),
    Column("to_status", String(32), nullable=False),
    Column("reason", String(512), nullable=False),
    Index(None, "tenant_id", "agent_id", "at"),
    Index(None, "tenant_id", "at"),
)

# -- derived: tasks, actions, llm calls, plans --------------------------------------------

task_runs = Table(
    "task_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("task_id", String(256), nullable=False),
    Column("task_run_id", String(256), nullable=False),  # "" when the SDK sent none
    Column("project_id", String(256)),
    Column("task_type", String(256)),
    Column("correlation_id", String(256)),
    Column("environment", String(64), nullable=False),
    Column("group_name", String(128), nullable=False),
    Column("started_at", UTCDateTime()),  # from task_started
    Column("first_event_at", UTCDateTime(), nullable=False),
    Column("last_event_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Column("status", String(32), nullable=False),
    Column("duration_ms", BigInteger),
    Column("escalated_at", UTCDateTime()),
    Column("stuck_since", UTCDateTime()),  # set by the detector, cleared by newer events
    Column("pending_approvals", Integer, nullable=False, server_default="0"),
    Column("exception_type", String(256)),
    Column("exception_message", Text),
    Column("llm_call_count", Integer, nullable=False, server_default="0"),
    Column("tokens_in", BigInteger, nullable=False, server_default="0"),
    Column("tokens_out", BigInteger, nullable=False, server_default="0"),
    Column("cost_usd", Float, nullable=False, server_default="0"),
    Column("cost_unknown_calls", Integer, nullable=False, server_default="0"),
    Column("action_count", Integer, nullable=False, server_default="0"),
    Column("error_count", Integer, nullable=False, server_default="0"),
    Column("event_count", Integer, nullable=False, server_default="0"),
    UniqueConstraint("tenant_id", "agent_id", "task_id", "task_run_id"),
    # A task's runs newest first (the timeline) without walking the tenant's runs.
    Index(None, "tenant_id", "task_id", "first_event_at"),
    Index(None, "tenant_id", "first_event_at"),
    Index(None, "tenant_id", "agent_id", "first_event_at"),
    Index(None, "tenant_id", "status", "first_event_at"),
    Index(None, "tenant_id", "agent_id", "ended_at"),
    # Revision 0004: the metrics' task durations of a window read from the index alone.
    # Not a replacement for (tenant_id, first_event_at): that one also orders ties by id,
    # which the task list's keyset (first_event_at, id) needs.
    Index(None, "tenant_id", "first_event_at", "duration_ms"),
)

actions = Table(
    "actions",
    metadata,
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("action_id", String(256), nullable=False),
    Column("parent_action_id", String(256)),
    Column("task_id", String(256)),
    Column("task_run_id", String(256)),
    Column("name", String(512)),
    Column("function", String(512)),
    Column("started_at", UTCDateTime()),
    Column("ended_at", UTCDateTime()),
    Column("status", String(32), nullable=False),  # running / completed / failed
    Column("duration_ms", BigInteger),
    Column("exception_type", String(256)),
    Column("exception_message", Text),
    UniqueConstraint("tenant_id", "agent_id", "action_id"),
    Index(None, "tenant_id", "task_id"),
)

llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant(),
    Column("event_id", String(256), nullable=False),
    Column("agent_id", String(256), nullable=False),
    Column("project_id", String(256)),
    Column("task_id", String(256)),
    Column("task_run_id", String(256)),
    Column("task_type", String(256)),
    Column("action_id", String(256)),
    Column("ts", UTCDateTime(), nullable=False),
    Column("name", String(512)),
    Column("model", String(256)),
    Column("tokens_in", BigInteger),
    Column("tokens_out", BigInteger),
    Column("cost_usd", Float),  # NULL when cost_source is "unknown": never a silent zero
    Column("cost_source", String(16), nullable=False),  # reported / estimated / unknown
    Column("matched_model", String(256)),
    Column("duration_ms", BigInteger),
    Column("prompt_preview", Text),
    Column("response_preview", Text),
    UniqueConstraint("tenant_id", "event_id"),
    Index(None, "tenant_id", "ts"),
    Index(None, "tenant_id", "task_id"),
    Index(None, "tenant_id", "agent_id", "ts"),
    Index(None, "tenant_id", "model", "ts"),
)

plans = Table(
    "plans",
    metadata,
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("task_id", String(256), nullable=False),
    Column("task_run_id", String(256), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("total_steps", Integer, nullable=False),
    Column("steps", Json, nullable=False),  # [{index, description}] as sent
    UniqueConstraint("tenant_id", "agent_id", "task_id", "task_run_id", "revision"),
    Index(None, "tenant_id", "task_id"),
)

plan_steps = Table(
    "plan_steps",
    metadata,
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("task_id", String(256), nullable=False),
    Column("task_run_id", String(256), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("description", Text),
    Column("state", String(16), nullable=False),  # pending/started/completed/failed/skipped
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("turns", Integer),
    Column("tokens", BigInteger),
    UniqueConstraint("tenant_id", "agent_id", "task_id", "task_run_id", "revision", "step_index"),
)

# -- derived: pipeline -------------------------------------------------------------------

queue_snapshots = Table(
    "queue_snapshots",
    metadata,
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    Column("depth", Integer, nullable=False),
    Column("oldest_age_seconds", Float),
    Column("items", Json),
    Column("processing", Json),
    UniqueConstraint("tenant_id", "agent_id"),
)

todos = Table(
    "todos",
    metadata,
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("todo_id", String(256), nullable=False),
    Column("summary", String(512)),
    Column("last_action", String(16), nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("priority", String(64)),
    Column("source", String(256)),
    Column("context", Json),
    Column("due_by", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "agent_id", "todo_id"),
    Index(None, "tenant_id", "is_open"),
)

scheduled_items = Table(
    "scheduled_items",
    metadata,
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    Column("items", Json, nullable=False),
    UniqueConstraint("tenant_id", "agent_id"),
)

issues = Table(
    "issues",
    metadata,
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    # issue_id when sent, else "summary:" + normalized summary.
    Column("issue_key", String(600), nullable=False),
    Column("issue_id", String(256)),
    Column("summary", String(512)),
    Column("severity", String(16), nullable=False),
    Column("category", String(256)),
    Column("context", Json),
    Column("state", String(16), nullable=False),  # open / resolved / dismissed
    Column("occurrence_count", Integer, nullable=False),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),  # ts of the newest state change
    UniqueConstraint("tenant_id", "agent_id", "issue_key"),
    Index(None, "tenant_id", "state", "severity"),
)

approvals = Table(
    "approvals",
    metadata,
    _tenant(),
    Column("event_id", String(256), nullable=False),  # the approval_requested / escalated event
    Column("kind", String(16), nullable=False),  # approval / escalation
    Column("agent_id", String(256), nullable=False),
    Column("task_id", String(256)),
    Column("task_run_id", String(256)),
    Column("summary", String(512)),
    Column("payload", Json),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime()),
    Column("received_event_id", String(256)),
    Column("wait_ms", BigInteger),
    Column("state", String(16), nullable=False),  # pending / received (escalations: open)
    UniqueConstraint("tenant_id", "event_id"),
    Index(None, "tenant_id", "state", "requested_at"),
    Index(None, "tenant_id", "agent_id", "task_id"),
)

# -- derived: time buckets ---------------------------------------------------------------
# One row per agent and minute, plus (revision 0004) one *fleet row* per minute with
# agent_id "" (derived_hourly.ALL_AGENTS) summing every agent of the tenant: readers that
# sum agents' rows exclude it, the fleet-wide metrics read only it.

rollups = Table(
    "rollups",
    metadata,
    _tenant(),
    Column("agent_id", String(256), nullable=False),
    Column("bucket", UTCDateTime(), nullable=False),  # start of the minute
    Column("events", Integer, nullable=False, server_default="0"),
    Column("errors", Integer, nullable=False, server_default="0"),
    Column("tasks_started", Integer, nullable=False, server_default="0"),
    Column("tasks_completed", Integer, nullable=False, server_default="0"),
    Column("tasks_failed", Integer, nullable=False, server_default="0"),
    Column("task_duration_ms_sum", BigInteger, nullable=False, server_default="0"),
    Column("task_duration_count", Integer, nullable=False, server_default="0"),
    Column("llm_calls", Integer, nullable=False, server_default="0"),
    Column("tokens_in", BigInteger, nullable=False, server_default="0"),
    Column("tokens_out", BigInteger, nullable=False, server_default="0"),
    Column("cost_usd", Float, nullable=False, server_default="0"),
    # LLM calls whose cost is unknown (revision 0005): cost_usd is never a silent zero.
    Column("cost_unknown_calls", Integer, nullable=False, server_default="0"),
    UniqueConstraint("tenant_id", "agent_id", "bucket"),
    Index(None, "tenant_id", "bucket"),
)

ROLLUP_COUNTERS = (
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
    "cost_unknown_calls",
)

# -- derived: hourly buckets (revision 0002) ---------------------------------------------
# Hour-sized twins of the minute rollups for windows of a day or more, with the project
# the minute rollups lack. Key columns that may be absent are stored as "" (NULLs never
# conflict in a unique index, so an upsert could not find its row): readers map "" back to
# None. Rows are per agent, so the agent row lock that ingest holds on PostgreSQL also
# guards them: concurrent batches never update the same rollup row.

DURATION_BUCKET_UPPER_MS = tuple(50 * 2**k for k in range(19))
"""Upper bounds (exclusive) of the task-duration histogram: 50 ms … 3.6 h, doubling; the
20th bucket holds everything longer. Percentiles read from it are exact to one bucket."""

DURATION_BUCKETS = tuple(f"d{i:02d}" for i in range(len(DURATION_BUCKET_UPPER_MS) + 1))

HOURLY_COUNTERS = (
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
    *DURATION_BUCKETS,
)

ALL_PROJECTS = "*"
"""``hourly_rollups.project_id`` of the rows that count every project: a query without a
project filter reads one row per agent and hour instead of one per project."""

hourly_rollups = Table(
    "hourly_rollups",
    metadata,
    _tenant(),
    Column("hour", UTCDateTime(), nullable=False),  # start of the hour
    Column("agent_id", String(256), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("group_name", String(128), nullable=False),
    # "" for events without a project; ALL_PROJECTS for the every-project twin row.
    Column("project_id", String(256), nullable=False),
    *(
        Column(
            name,
            BigInteger if name.endswith("_sum") or name.startswith("tokens") else Integer,
            nullable=False,
            server_default="0",
        )
        for name in HOURLY_COUNTERS
        if name != "cost_usd"
    ),
    Column("cost_usd", Float, nullable=False, server_default="0"),
    UniqueConstraint(
        "tenant_id",
        "hour",
        "agent_id",
        "environment",
        "group_name",
        "project_id",
        name="uq_hourly_rollups_key",
    ),
)

COST_COUNTERS = ("llm_calls", "priced_calls", "tokens_in", "tokens_out", "cost_usd")


def _cost_counters() -> list[Column[Any]]:
    """The COST_COUNTERS columns, fresh for each table that sums them."""
    return [
        Column("llm_calls", Integer, nullable=False, server_default="0"),
        Column("priced_calls", Integer, nullable=False, server_default="0"),
        Column("tokens_in", BigInteger, nullable=False, server_default="0"),
        Column("tokens_out", BigInteger, nullable=False, server_default="0"),
        Column("cost_usd", Float, nullable=False, server_default="0"),
    ]


cost_rollups = Table(
    "cost_rollups",
    metadata,
    _tenant(),
    Column("hour", UTCDateTime(), nullable=False),
    Column("agent_id", String(256), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("group_name", String(128), nullable=False),
    Column("project_id", String(256), nullable=False),  # "" = none
    Column("model", String(256), nullable=False),  # "" = none
    Column("cost_source", String(16), nullable=False),
    Column("task_type", String(256), nullable=False),  # "" = none
    *_cost_counters(),
    UniqueConstraint(
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

agent_cost_rollups = Table(
    "agent_cost_rollups",
    metadata,
    _tenant(),
    Column("hour", UTCDateTime(), nullable=False),
    Column("agent_id", String(256), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("group_name", String(128), nullable=False),
    *_cost_counters(),
    UniqueConstraint(
        "tenant_id",
        "hour",
        "agent_id",
        "environment",
        "group_name",
        name="uq_agent_cost_rollups_key",
    ),
)
"""Cost per agent and hour (every project, model and task type together): the cost
summary's "by agent" reads these 200-agents-an-hour narrow rows, not the wide
``hourly_rollups`` rows among their per-project twins."""
