"""``GET /v1/events``: raw events with filters, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hiveboard.api.read_common import (
    ApiModel,
    Ctx,
    Page,
    ReadConn,
    bad_cursor,
    choice_list,
    split_list,
)
from hiveboard.ingest.model import EVENT_TYPES, SEVERITIES
from hiveboard.storage.read import events as read
from hiveboard.storage.read.pagination import InvalidCursor

router = APIRouter(prefix="/v1", tags=["events"])


class EventOut(ApiModel):
    """A stored event with its envelope fields copied on, as the SDK sent it."""

    event_id: str
    timestamp: datetime
    received_at: datetime
    event_type: str
    severity: str
    agent_id: str
    agent_type: str | None
    environment: str
    group: str
    project_id: str | None
    task_id: str | None
    task_type: str | None
    task_run_id: str | None
    correlation_id: str | None
    action_id: str | None
    parent_action_id: str | None
    status: str | None
    duration_ms: int | None
    parent_event_id: str | None
    payload_kind: str | None
    summary: str | None
    payload: dict[str, Any] | None


def event_out(row: dict[str, Any]) -> dict[str, Any]:
    """Stored column names → API field names (shared with the live stream)."""
    row = dict(row)
    row["timestamp"] = row.pop("ts")
    row["group"] = row.pop("group_name")
    return row


@router.get("/events", response_model=Page[EventOut])
def list_events(
    ctx: Ctx,
    conn: ReadConn,
    type: Annotated[
        str | None, Query(description=f"Comma-separated: {', '.join(sorted(EVENT_TYPES))}")
    ] = None,
    severity: Annotated[
        str | None, Query(description=f"Comma-separated: {', '.join(sorted(SEVERITIES))}")
    ] = None,
    kind: Annotated[
        str | None, Query(description="Comma-separated payload kinds (any: custom kinds too)")
    ] = None,
    task_id: Annotated[str | None, Query(max_length=256)] = None,
    task_run_id: Annotated[str | None, Query(max_length=256)] = None,
) -> Page[EventOut]:
    """Raw events filtered by type, severity, payload kind, task and the shared filters."""
    flt = read.EventFilter(
        event_types=choice_list(type, "type", EVENT_TYPES),
        severities=choice_list(severity, "severity", SEVERITIES),
        payload_kinds=split_list(kind),
        task_id=task_id,
        task_run_id=task_run_id,
    )
    try:
        rows, next_cursor = read.list_events(
            conn, ctx.scope, flt, cursor=ctx.cursor, limit=ctx.limit
        )
    except InvalidCursor as exc:
        raise bad_cursor(exc) from None
    return Page[EventOut](
        items=[EventOut.model_validate(event_out(r)) for r in rows], next_cursor=next_cursor
    )
