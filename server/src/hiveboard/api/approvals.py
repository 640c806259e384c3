"""``GET /v1/approvals``: approvals and escalations, with how long each waited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hiveboard.api.pipeline import ApprovalOut
from hiveboard.api.read_common import Ctx, Page, ReadConn, bad_cursor, choice_list
from hiveboard.storage.read import pipeline as read
from hiveboard.storage.read.pagination import InvalidCursor

router = APIRouter(prefix="/v1", tags=["approvals"])


@router.get("/approvals", response_model=Page[ApprovalOut])
def list_approvals(
    ctx: Ctx,
    conn: ReadConn,
    kind: Annotated[str | None, Query(description="approval, escalation")] = None,
    state: Annotated[
        str | None, Query(description=f"Comma-separated: {', '.join(read.APPROVAL_STATES)}")
    ] = None,
    task_id: Annotated[str | None, Query(max_length=256)] = None,
) -> Page[ApprovalOut]:
    """Newest request first; a pending one's ``wait_ms`` is how long it has waited so far."""
    try:
        rows, next_cursor = read.list_approvals(
            conn,
            ctx.scope,
            kinds=choice_list(kind, "kind", read.APPROVAL_KINDS),
            states=choice_list(state, "state", read.APPROVAL_STATES),
            task_id=task_id,
            cursor=ctx.cursor,
            limit=ctx.limit,
            now=ctx.now,
        )
    except InvalidCursor as exc:
        raise bad_cursor(exc) from None
    return Page[ApprovalOut](
        items=[ApprovalOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )
