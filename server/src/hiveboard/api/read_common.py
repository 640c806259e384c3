"""What every Query API endpoint shares: the reader's scope, paging, time ranges, errors.

Every read endpoint depends on :func:`read_scope`, which takes the tenant from the
authenticated principal, never from the request: a client cannot name another tenant,
and an id belonging to another tenant is simply not found (404), which leaks nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine

from hiveboard.api.auth import Principal, require_read_access
from hiveboard.api.errors import ApiError
from hiveboard.storage.read.filters import Scope
from hiveboard.storage.read.pagination import DEFAULT_LIMIT, MAX_LIMIT, InvalidCursor

T = TypeVar("T")

_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Times are clamped to this span, which holds every event, so that the windows built
from them (``until - 1h``, whole hours, buckets) never step off the calendar."""


class ApiModel(BaseModel):
    """Response models read plain rows and dataclasses alike."""

    model_config = ConfigDict(from_attributes=True)


class Page(ApiModel, Generic[T]):
    """One page of a listing; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = Field(
        None, description="Opaque; absent on the last page. Stable while new rows arrive."
    )


def query_error(status: int, code: str, message: str, details: Any = None) -> ApiError:
    """An error answered with ``{"error": code, "message": …, "details": …}``."""
    return ApiError(status, code, message, details)


def not_found(what: str, ident: str) -> ApiError:
    """404 for an id this tenant does not have (whether or not another tenant has it)."""
    return query_error(404, "not_found", f"no {what} {ident!r} in this tenant", {what: ident})


def bad_cursor(exc: InvalidCursor) -> ApiError:
    return query_error(400, "invalid_cursor", str(exc), {"parameter": "cursor"})


def now_of(request: Request) -> datetime:
    """The request's clock: ``app.state.clock`` when a test injects one, else UTC now."""
    clock = getattr(request.app.state, "clock", None)
    return clock() if callable(clock) else datetime.now(UTC)


def engine_of(request: Request) -> Engine:
    """The database engine of the app's storage."""
    return request.app.state.storage.engine  # type: ignore[no-any-return]


def read_conn(request: Request) -> Iterator[Connection]:
    """A read connection for the duration of the request."""
    with engine_of(request).connect() as conn:
        yield conn


ReadConn = Annotated[Connection, Depends(read_conn)]


def parse_time(value: str | None, name: str, now: datetime) -> datetime | None:
    """ISO 8601 (naive means UTC) or a relative age such as ``15m``, ``1h``, ``7d``.

    Clamped to [EARLIEST, LATEST]: ``since=100000d`` means "from the start".
    """
    if value is None or value == "":
        return None
    try:
        rel = _RELATIVE.match(value.strip())
        if rel:
            seconds = int(rel.group(1)) * _UNITS[rel.group(2)]
            if seconds >= (now - EARLIEST).total_seconds():
                return EARLIEST
            return now - timedelta(seconds=seconds)
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        return min(max(parsed, EARLIEST), LATEST)
    except (ValueError, OverflowError):
        # OverflowError: an offset that moves a time off the calendar once in UTC.
        raise query_error(
            400,
            "invalid_parameter",
            f"{name}={value!r} is not a time: use ISO 8601 (2026-03-01T09:00:00Z) "
            "or a relative age such as 15m, 1h, 7d",
            {"parameter": name},
        ) from None


def split_list(value: str | None) -> list[str] | None:
    """``a,b`` → ``["a", "b"]`` for multi-valued filters; None when not filtering."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def check_choice(value: str, name: str, allowed: Collection[str]) -> str:
    """``value`` if it is one of ``allowed``, else 400 naming the parameter, the value and
    the accepted values: a typo must not read as "nothing matches"."""
    if value not in allowed:
        accepted = list(allowed) if isinstance(allowed, Sequence) else sorted(allowed)
        raise query_error(
            400,
            "invalid_parameter",
            f"{name}={value!r} is not accepted: use one of {', '.join(accepted)}",
            {"parameter": name, "value": value, "allowed": accepted},
        )
    return value


def choice_list(value: str | None, name: str, allowed: Collection[str]) -> list[str] | None:
    """:func:`split_list` for a filter over a fixed set, each item checked by
    :func:`check_choice`: ``status=failed,failled`` is a 400, not a silent half-filter."""
    items = split_list(value)
    for item in items or ():
        check_choice(item, name, allowed)
    return items


@dataclass(frozen=True)
class ReadContext:
    """The caller's tenant, the shared filters, the page request and the request's clock."""

    scope: Scope
    cursor: str | None
    limit: int
    now: datetime

    @property
    def tenant_id(self) -> str:
        return self.scope.tenant_id


def read_context(
    request: Request,
    principal: Annotated[Principal, Depends(require_read_access)],
    since: Annotated[
        str | None, Query(description="Start of the time range: ISO 8601 or an age (1h, 7d)")
    ] = None,
    until: Annotated[str | None, Query(description="End of the time range (exclusive)")] = None,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    group: Annotated[str | None, Query(max_length=128)] = None,
    project: Annotated[str | None, Query(max_length=256, description="Project slug")] = None,
    agent: Annotated[str | None, Query(max_length=256, description="Agent id")] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ReadContext:
    """Parse the filters every listing accepts, scoped to the caller's tenant."""
    now = now_of(request)
    start = parse_time(since, "since", now)
    end = parse_time(until, "until", now)
    if start is not None and end is not None and start >= end:
        raise query_error(
            400, "invalid_parameter", "since must be before until", {"parameter": "since"}
        )
    scope = Scope(
        tenant_id=principal.tenant_id,
        since=start,
        until=end,
        environment=environment,
        group=group,
        project_id=project,
        agent_id=agent,
    )
    return ReadContext(scope=scope, cursor=cursor, limit=limit, now=now)


Ctx = Annotated[ReadContext, Depends(read_context)]

INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "1d": 86400}
MAX_POINTS = 1500


def window(ctx: ReadContext, interval: str, default: timedelta) -> tuple[datetime, datetime, int]:
    """The bounded window and bucket size for a time series (default: the last ``default``)."""
    check_choice(interval, "interval", tuple(INTERVALS))
    until = ctx.scope.until or ctx.now
    since = ctx.scope.since or until - default
    seconds = INTERVALS[interval]
    if (until - since).total_seconds() / seconds > MAX_POINTS:
        raise query_error(
            400,
            "range_too_large",
            f"{int((until - since).total_seconds() // seconds)} buckets of {interval} requested; "
            f"at most {MAX_POINTS}: narrow since/until or use a larger interval",
            {"parameter": "interval", "max_points": MAX_POINTS},
        )
    return since, until, seconds
