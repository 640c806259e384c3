"""First start on an empty database: a default tenant, an admin user and an ingest key.

The secrets are returned once for the CLI to print; only their hashes are stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from hiveboard.storage.base import Storage

DEFAULT_TENANT_ID = "default"
ADMIN_EMAIL = "admin@localhost"


@dataclass(frozen=True)
class BootstrapResult:
    tenant_id: str
    admin_email: str
    admin_password: str
    ingest_key: str

    def render(self, endpoint: str) -> str:
        """The one-time message with the credentials and the SDK lines to use them."""
        return "\n".join(
            [
                "HiveBoard first start: created a default tenant, an admin user and an ingest key.",
                "These secrets are shown ONCE and stored only as hashes; keep them now.",
                f"  dashboard user: {self.admin_email}",
                f"  password:       {self.admin_password}",
                f"  ingest key:     {self.ingest_key}",
                "",
                "Report to this server from your agent with:",
                "",
                "    import hiveloop",
                f'    hb = hiveloop.init(api_key="{self.ingest_key}", endpoint="{endpoint}")',
                '    agent = hb.agent("my-agent")',
                "",
            ]
        )


def bootstrap_if_empty(storage: Storage) -> BootstrapResult | None:
    """Create the first tenant, admin and ingest key when no tenant exists yet."""
    if not storage.is_empty():
        return None
    tenant = storage.create_tenant("Default", tenant_id=DEFAULT_TENANT_ID)
    password = secrets.token_urlsafe(12)
    storage.create_user(tenant.id, ADMIN_EMAIL, password, "owner")
    _, key = storage.create_api_key(tenant.id, "live", name="default ingest key")
    return BootstrapResult(tenant.id, ADMIN_EMAIL, password, key)
