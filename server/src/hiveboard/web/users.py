"""Dashboard users beyond what ``Storage`` offers: look up, list, change role, disable.

``Storage`` creates and verifies users (argon2 hashes live there); the dashboard also
needs to read a user by id on every request and to manage roles from the Settings page.
These are small statements on the same ``users`` table, kept here so the storage
protocol does not grow screens' needs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from hiveboard.storage.tables import users


def get_user(engine: Engine, user_id: str) -> dict[str, Any] | None:
    """An enabled user by id (one primary-key lookup), or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(users.c.id, users.c.tenant_id, users.c.email, users.c.role).where(
                users.c.id == user_id, users.c.disabled_at.is_(None)
            )
        ).first()
    return dict(row._mapping) if row is not None else None


def list_users(engine: Engine, tenant_id: str) -> list[dict[str, Any]]:
    """Every user of the tenant, enabled first, then by email."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(users.c.id, users.c.email, users.c.role, users.c.created_at, users.c.disabled_at)
            .where(users.c.tenant_id == tenant_id)
            .order_by(users.c.disabled_at.is_not(None), users.c.email)
        ).all()
    return [dict(r._mapping) for r in rows]


def owner_count(engine: Engine, tenant_id: str) -> int:
    """Enabled owners: the last one may not be demoted or disabled (no lock-out)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    users.c.tenant_id == tenant_id,
                    users.c.role == "owner",
                    users.c.disabled_at.is_(None),
                )
            ).scalar_one()
        )


def set_role(engine: Engine, tenant_id: str, user_id: str, role: str) -> bool:
    """Change a user's role within the tenant; False when no such user."""
    with engine.begin() as conn:
        result = conn.execute(
            users.update()
            .where(users.c.tenant_id == tenant_id, users.c.id == user_id)
            .values(role=role)
        )
    return result.rowcount > 0


def disable_user(engine: Engine, tenant_id: str, user_id: str) -> bool:
    """Disable a user (kept for the record; their sessions stop working at once)."""
    with engine.begin() as conn:
        result = conn.execute(
            users.update()
            .where(
                users.c.tenant_id == tenant_id,
                users.c.id == user_id,
                users.c.disabled_at.is_(None),
            )
            .values(disabled_at=datetime.now(UTC))
        )
    return result.rowcount > 0
