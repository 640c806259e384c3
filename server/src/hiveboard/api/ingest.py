"""``POST /v1/ingest``: authenticate, bound, validate, store durably, then answer.

The answer is sent only after the storage transaction has committed, so a 200/207 means
the accepted events survive a crash that happens right after the response.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hiveboard.api.auth import Principal, require_ingest_key
from hiveboard.api.errors import ApiError, json_response
from hiveboard.ingest.body import BatchError, parse_body
from hiveboard.ingest.model import Event
from hiveboard.ingest.ratelimit import RateLimiter
from hiveboard.ingest.validate import validate_batch
from hiveboard.storage.base import IngestResult, Storage

logger = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])

_BODY_SCHEMA = {
    "type": "object",
    "required": ["envelope", "events"],
    "properties": {
        "envelope": {
            "type": "object",
            "required": ["agent_id"],
            "properties": {"agent_id": {"type": "string", "maxLength": 256}},
        },
        "events": {"type": "array", "minItems": 1, "maxItems": 500, "items": {"type": "object"}},
    },
}


@router.post(
    "/v1/ingest",
    summary="Ingest a batch of events (wire-format.md)",
    responses={
        207: {"description": "Some events were rejected; see errors"},
        400: {"description": "Malformed batch"},
        401: {"description": "Missing, unknown or revoked key"},
        403: {"description": "Read-only key"},
        413: {"description": "Body over the limit"},
        429: {"description": "Rate limited; see Retry-After"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BODY_SCHEMA}},
        }
    },
)
async def ingest(
    request: Request, principal: Annotated[Principal, Depends(require_ingest_key)]
) -> Response:
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.check(principal.key_id or principal.tenant_id)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests for this key (limit {limiter.rate:g}/s); retry later",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    limit: int = request.app.state.settings.max_body_bytes
    raw = await _read_body(request, limit)
    notes: list[str] = []  # what parsing had to repair (lone surrogates), for the answer
    try:
        batch = validate_batch(parse_body(raw, notes), may_hold_nul=b"\\u0000" in raw)
    except BatchError as exc:
        raise ApiError(400, exc.code, exc.message, exc.details) from None
    if notes:
        batch.warnings[:0] = notes

    storage: Storage = request.app.state.storage
    now = datetime.now(UTC)
    submit = getattr(storage, "ingest_future", None)
    if submit is not None:  # the group writer answers after its commit; no thread parked
        result = await asyncio.wrap_future(submit(principal.tenant_id, batch, now=now))
    else:
        result = await run_in_threadpool(storage.ingest, principal.tenant_id, batch, now=now)
    _publish(request, principal.tenant_id, result)
    body = {
        "accepted": len(batch.events),
        "rejected": len(batch.errors),
        "duplicates": result.duplicates,
        "errors": [e.as_dict() for e in batch.errors],
        "warnings": batch.warnings,
    }
    return json_response(body, 207 if batch.errors else 200)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"request body exceeds {limit} bytes (after decompression); send smaller batches",
        {"limit_bytes": limit},
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes (decompressed), refusing early when the client says more."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise ApiError(400, "unsupported_encoding", "Content-Encoding must be gzip or identity")
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(raw, limit + 1)
    except (zlib.error, gzip.BadGzipFile):
        raise ApiError(400, "invalid_gzip", "body is not valid gzip data") from None
    if len(out) > limit:
        raise _too_large(limit)
    return out


def event_message(ev: Event) -> dict[str, Any]:
    """The live-stream message for one stored event (flat filters + nested event)."""
    env = ev.envelope
    return {
        "type": "event",
        "agent_id": ev.agent_id,
        "environment": env.environment,
        "group": env.group,
        "project_id": ev.project_id,
        "event_type": ev.event_type,
        "event": {
            "event_id": ev.event_id,
            "timestamp": ev.ts.isoformat(),
            "event_type": ev.event_type,
            "severity": ev.severity,
            "agent_id": ev.agent_id,
            "project_id": ev.project_id,
            "task_id": ev.task_id,
            "task_run_id": ev.task_run_id,
            "action_id": ev.action_id,
            "payload_kind": ev.payload_kind,
            "summary": ev.summary,
        },
    }


def _publish(request: Request, tenant_id: str, result: IngestResult) -> None:
    """Ring the live streams of this tenant, if it has any in this process.

    Building one message per stored event costs about a third of a request's CPU outside
    storage, so a tenant nobody watches (the common case under load) is skipped.
    """
    broker = getattr(request.app.state, "broker", None)
    if broker is None or not broker.subscriber_count(tenant_id):
        return
    try:
        for ev in result.stored:
            broker.publish(tenant_id, event_message(ev))
        for transition in result.transitions:
            broker.publish(tenant_id, transition.message())
    except Exception:  # live delivery is best effort; the data is already committed
        logger.warning("publishing to live clients failed", exc_info=True)
