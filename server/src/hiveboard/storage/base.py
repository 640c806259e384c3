"""The Storage protocol: the only seam between the application and SQL.

The app, the CLI and the detector talk to storage through this interface; the read-side
query module uses ``engine`` with the tables in ``tables.py`` directly. One
implementation (``sql.SqlStorage``) serves SQLite and PostgreSQL, and the contract test
suite (tests/storage/test_contract.py) runs against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Engine

from hiveboard.derive.cost import PriceOverride
from hiveboard.derive.status import AgentFacts, StatusDecision
from hiveboard.ingest.model import Batch, Event

KEY_KINDS = ("live", "test", "read")
ROLES = ("owner", "admin", "member", "viewer")


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's stored record; the secret itself is never stored, only its hash."""

    id: str
    tenant_id: str
    kind: str  # live / test / read
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def can_ingest(self) -> bool:
        return self.kind in ("live", "test")


@dataclass(frozen=True, slots=True)
class User:
    id: str
    tenant_id: str
    email: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded agent status change."""

    tenant_id: str
    agent_id: str
    at: datetime
    from_status: str | None
    to_status: str
    reason: str
    environment: str = "production"
    group: str = "default"

    def message(self) -> dict[str, Any]:
        """The live-stream message for this transition."""
        return {
            "type": "transition",
            "agent_id": self.agent_id,
            "environment": self.environment,
            "group": self.group,
            "transition": {
                "agent_id": self.agent_id,
                "at": self.at.isoformat(),
                "from": self.from_status,
                "to": self.to_status,
                "reason": self.reason,
            },
        }


@dataclass(slots=True)
class IngestResult:
    """What one committed batch did: new events stored and applied, duplicates skipped."""

    stored: list[Event] = field(default_factory=list)
    duplicates: int = 0
    transitions: list[Transition] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent's stored status plus the facts to re-evaluate it (for the detector)."""

    tenant_id: str
    agent_id: str
    status: str
    facts: AgentFacts
    environment: str
    group: str
    current_task_run_pk: int | None
    updated_at: datetime  # changed by every write to the row: what makes a read stale


@runtime_checkable
class Storage(Protocol):
    """Everything the application needs from a database."""

    engine: Engine

    def migrate(self) -> None:
        """Apply pending migrations (idempotent)."""

    def close(self) -> None:
        """Release connections."""

    # -- tenancy and access ----------------------------------------------------------

    def is_empty(self) -> bool:
        """True when no tenant exists yet (first start)."""

    def create_tenant(self, name: str, tenant_id: str | None = None) -> Tenant: ...

    def list_tenants(self) -> list[Tenant]: ...

    def create_api_key(self, tenant_id: str, kind: str, name: str = "") -> tuple[ApiKey, str]:
        """Create a key; returns the record and the secret, which is never retrievable again."""

    def list_api_keys(self, tenant_id: str) -> list[ApiKey]: ...

    def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        """Revoke a key of this tenant; False when no such active key exists."""

    def authenticate_api_key(self, secret: str) -> ApiKey | None:
        """The key record for a presented secret, or None if unknown (revoked keys included,
        so callers can tell revoked from unknown)."""

    def create_user(self, tenant_id: str, email: str, password: str, role: str) -> User: ...

    def verify_user(self, email: str, password: str) -> User | None:
        """The user when the password matches, else None (same cost either way)."""

    def set_price_override(
        self, tenant_id: str, model: str, input_per_mtok: float, output_per_mtok: float
    ) -> None: ...

    def price_overrides(self, tenant_id: str) -> dict[str, PriceOverride]: ...

    # -- write path ------------------------------------------------------------------

    def ingest(self, tenant_id: str, batch: Batch, *, now: datetime) -> IngestResult:
        """Store the batch's events and apply them to derived state in one transaction.

        Idempotent on (tenant_id, event_id): events already stored count as duplicates
        and are not applied again. Returns only after commit.
        """

    # -- detector --------------------------------------------------------------------

    def prune_events(self, cutoff: datetime, batch_size: int = 5_000) -> int:
        """Delete raw events older than ``cutoff`` (derived tables are kept); returns the count."""
        ...

    def agent_states(self) -> list[AgentState]:
        """Every agent of every tenant with the facts its status depends on."""

    def apply_status(
        self, state: AgentState, decision: StatusDecision, now: datetime
    ) -> Transition | None:
        """Move an agent from ``state.status`` to ``decision.status`` if nobody else did.

        A conditional update (the row is still as read: same status, no write since):
        returns the recorded transition, or None when an ingest or another process
        changed the agent first, so a heartbeat that lands between the read and the
        update cannot be overruled by a decision made without it.
        """

    def mark_quiet_runs_stuck(self, states: Sequence[AgentState], now: datetime) -> None:
        """Agents that stay stuck: show their open runs that have gone quiet since as stuck.

        The transition into ``stuck`` marks the runs quiet at that moment; a run that was
        still moving then and went quiet later is found here, on a later pass.
        """
