"""``GET /v1/issues``: open and closed issues with their recurrence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hiveboard.api.pipeline import IssueOut
from hiveboard.api.read_common import Ctx, Page, ReadConn, bad_cursor, choice_list
from hiveboard.ingest.validate import ISSUE_SEVERITY
from hiveboard.storage.derived_pipeline import ISSUE_STATES
from hiveboard.storage.read import pipeline as read
from hiveboard.storage.read.pagination import InvalidCursor

router = APIRouter(prefix="/v1", tags=["issues"])


@router.get("/issues", response_model=Page[IssueOut])
def list_issues(
    ctx: Ctx,
    conn: ReadConn,
    state: Annotated[str | None, Query(description="open, resolved, dismissed")] = None,
    severity: Annotated[str | None, Query(description="critical, high, medium, low")] = None,
    category: Annotated[str | None, Query(max_length=256)] = None,
) -> Page[IssueOut]:
    """Issues, most recently seen first; the time range applies to when they were last seen."""
    try:
        rows, next_cursor = read.list_issues(
            conn,
            ctx.scope,
            states=choice_list(state, "state", tuple(ISSUE_STATES.values())),
            severities=choice_list(severity, "severity", tuple(ISSUE_SEVERITY)),
            category=category,
            cursor=ctx.cursor,
            limit=ctx.limit,
        )
    except InvalidCursor as exc:
        raise bad_cursor(exc) from None
    return Page[IssueOut](items=[IssueOut.model_validate(r) for r in rows], next_cursor=next_cursor)
