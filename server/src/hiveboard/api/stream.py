"""``GET /v1/stream``: Server-Sent Events of new events and status transitions.

The database is the source of truth: each connection tails the ``events`` and
``agent_status_transitions`` tables by their autoincrement ids (see
``storage.read.events.Tail``), so a stream served by one HiveBoard process also carries
what other processes ingested.  The in-process broker is the doorbell: when this process
commits a matching batch, the stream polls at once instead of at the next poll interval.

Every message carries an SSE ``id`` of the form ``<event id>-<transition id>``: the
position in both tables.  A client that reconnects with ``Last-Event-ID`` (browsers do
so by themselves) resumes from there and misses nothing.  Heartbeat comments every
~15 s keep proxies from closing an idle connection and carry the position too.

On PostgreSQL an id can commit after a higher one (sequence values are taken at insert
time): the tail then watches the skipped ids for a grace period.  The position carries
the ones still missing below it (``101~1-7``: event 100 has not been read; format and
limits in ``live.position``), exact for each message: what was sent before it is not in
the list, what was not is.  A resumed stream watches them again for a new grace period,
so an event committing while the client reconnects arrives once, and nothing the client
already had is sent again.  SQLite gives ids at commit: its positions never carry gaps.

A client too slow to keep up (its broker mailbox overflows) is dropped: the stream ends
and the client resumes with ``Last-Event-ID``, now catching up from the database.
The key is checked again every heartbeat interval: revoking it ends the streams it
opened.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from hiveboard.api.auth import Principal, require_read_access
from hiveboard.api.errors import ApiError
from hiveboard.api.events import event_out
from hiveboard.api.read_common import choice_list, engine_of, query_error, split_list
from hiveboard.ingest.model import EVENT_TYPES, SEVERITIES
from hiveboard.live.broker import Broker, StreamFilter
from hiveboard.live.position import Position, encode, runs, runs_below
from hiveboard.live.position import decode as decode_position
from hiveboard.storage.read.events import EventFilter, Tail, max_event_id, max_transition_id
from hiveboard.storage.read.filters import Scope

router = APIRouter(prefix="/v1", tags=["stream"])

HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 1.0
"""Longest wait between database polls when the broker stays silent (other processes)."""
RETRY_MS = 3000
ALL_KINDS = "events,transitions"
_TYPES = ", ".join(sorted(EVENT_TYPES))
_SEVERITIES = ", ".join(sorted(SEVERITIES))


def _setting(request: Request, name: str, default: float) -> float:
    """Tests shorten the intervals through ``app.state``; production uses the defaults."""
    value = getattr(request.app.state, name, None)
    return float(value) if value is not None else default


def parse_position(value: str | None, name: str = "Last-Event-ID") -> Position | None:
    """``"12-5"`` → events after 12, transitions after 5; a bare ``"12"`` resumes events
    only. None: not given. Anything this stream cannot have sent (ids past 64 bits, on
    which the database driver would fail after the response had started; gap lists
    that do not parse back exactly) is a 400 before streaming."""
    if not value:
        return None
    try:
        return decode_position(value)
    except ValueError:
        raise query_error(
            400,
            "invalid_parameter",
            f"{name} {value!r} was not sent by this stream: reconnect without it",
            {"parameter": name},
        ) from None


def _ids(items: list[tuple[str, dict[str, Any]]], kind: str) -> deque[int]:
    return deque(int(row["id"]) for k, row in items if k == kind)


def _sse(event: str | None, data: Any, ident: str | None) -> bytes:
    lines = []
    if event:
        lines.append(f"event: {event}")
    if data is not None:
        lines.append(
            "data: " + orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        )
    if ident:
        lines.append(f"id: {ident}")
    return ("\n".join(lines) + "\n\n").encode()


def _transition_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "agent_id": row["agent_id"],
        "at": row["at"].isoformat(),
        "from_status": row["from_status"],
        "to_status": row["to_status"],
        "reason": row["reason"],
        "environment": row["environment"],
        "group": row["group_name"],
    }


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
)
async def stream(
    request: Request,
    principal: Annotated[Principal, Depends(require_read_access)],
    environment: Annotated[str | None, Query(max_length=64)] = None,
    group: Annotated[str | None, Query(max_length=128)] = None,
    project: Annotated[str | None, Query(max_length=256)] = None,
    agent: Annotated[str | None, Query(max_length=256)] = None,
    type: Annotated[str | None, Query(description=f"Comma-separated: {_TYPES}")] = None,
    severity: Annotated[str | None, Query(description=f"Comma-separated: {_SEVERITIES}")] = None,
    kind: Annotated[str | None, Query(description="Comma-separated payload kinds")] = None,
    include: Annotated[
        str, Query(description="events, transitions, or both")
    ] = "events,transitions",
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    resume: Annotated[
        str | None, Query(description="Same as the Last-Event-ID header, for clients without it")
    ] = None,
) -> StreamingResponse:
    """Live events (``event: event``) and status transitions (``event: transition``).

    Filters are those of ``/v1/events``; a project filter hides transitions (agents
    belong to no single project).  Without ``Last-Event-ID`` the stream starts now.
    """
    wanted = set(choice_list(include, "include", ("events", "transitions")) or [])
    if not wanted:
        raise query_error(
            400, "invalid_parameter", "include accepts events, transitions or both",
            {"parameter": "include"},
        )  # fmt: skip
    tenant_id = principal.tenant_id
    scope = Scope(
        tenant_id=tenant_id,
        environment=environment,
        group=group,
        project_id=project,
        agent_id=agent,
    )
    flt = EventFilter(
        event_types=choice_list(type, "type", EVENT_TYPES),
        severities=choice_list(severity, "severity", SEVERITIES),
        payload_kinds=split_list(kind),
    )
    position = parse_position(last_event_id) if last_event_id else parse_position(resume, "resume")
    engine = engine_of(request)

    def start() -> tuple[int, int]:
        with engine.connect() as conn:
            return max_event_id(conn), max_transition_id(conn)

    now_pos = await anyio.to_thread.run_sync(start)
    if position is None:
        position = Position(*now_pos)
    elif position.transitions < 0:
        position = Position(position.events, now_pos[1], position.event_gaps)
    tail = Tail(
        scope,
        flt,
        event_after=position.events,
        transition_after=position.transitions,
        want_events="events" in wanted,
        want_transitions="transitions" in wanted and project is None,
        event_gaps=position.event_gaps,
        transition_gaps=position.transition_gaps,
    )
    broker: Broker | None = getattr(request.app.state, "broker", None)
    doorbell = StreamFilter(
        environment=environment,
        group=group,
        agent_id=agent,
        event_types=frozenset(flt.event_types or ()),
    )
    heartbeat = _setting(request, "stream_heartbeat_seconds", HEARTBEAT_SECONDS)
    poll_every = _setting(request, "stream_poll_seconds", POLL_SECONDS)

    def poll() -> list[tuple[str, dict[str, Any]]]:
        with engine.connect() as conn:
            return tail.poll(conn)

    def still_allowed() -> bool:
        """A stream outlives its request: a key revoked since must stop it, as it would
        refuse the client's next request."""
        try:
            return require_read_access(request).tenant_id == tenant_id
        except ApiError:
            return False

    def position_id(
        e_pos: int, e_pending: Iterable[int], t_pos: int, t_pending: Iterable[int]
    ) -> str:
        """The SSE id after what was sent so far: the ``*_pending`` ids were read by this
        poll and not sent yet, so a client resuming from here must still get them."""
        return encode(
            e_pos,
            runs_below(e_gaps, e_pos, e_pending),
            t_pos,
            runs_below(t_gaps, t_pos, t_pending),
        )

    e_gaps = runs(tail.events.gaps)
    t_gaps = runs(tail.transitions.gaps)

    async def body() -> AsyncIterator[bytes]:
        nonlocal e_gaps, t_gaps
        sub = broker.subscribe(tenant_id, doorbell, maxsize=10_000) if broker else None
        pos = position_id(tail.position[0], (), tail.position[1], ())
        try:
            yield f"retry: {RETRY_MS}\n: connected\nid: {pos}\n\n".encode()
            last_sent = last_auth = time.monotonic()
            while True:
                if sub is not None:
                    sub.drain()
                e_pos, t_pos = tail.position
                items = await anyio.to_thread.run_sync(poll)
                new_e, new_t = tail.position
                e_gaps, t_gaps = runs(tail.events.gaps), runs(tail.transitions.gaps)
                e_pending, t_pending = _ids(items, "event"), _ids(items, "transition")
                for kind_, row in items:
                    if kind_ == "event":
                        e_pos = max(e_pos, row["id"])
                        e_pending.popleft()
                        data = event_out(row)
                        data["seq"] = data.pop("id")
                        ident = position_id(e_pos, e_pending, t_pos, t_pending)
                        yield _sse("event", data, ident)
                    else:
                        t_pos = max(t_pos, row["id"])
                        t_pending.popleft()
                        ident = position_id(new_e, (), t_pos, t_pending)
                        yield _sse("transition", _transition_out(row), ident)
                    last_sent = time.monotonic()
                pos = position_id(new_e, (), new_t, ())
                if tail.saturated:
                    continue  # a backlog (resume after a long absence): keep reading
                if sub is not None and sub.dropped:
                    yield f": too slow, dropped; reconnect to resume\nid: {pos}\n\n".encode()
                    return
                if await request.is_disconnected():
                    return
                if time.monotonic() - last_auth >= heartbeat:
                    if not await anyio.to_thread.run_sync(still_allowed):
                        yield b": credentials no longer valid\n\n"
                        return
                    last_auth = time.monotonic()
                if time.monotonic() - last_sent >= heartbeat:
                    yield f": heartbeat\nid: {pos}\n\n".encode()
                    last_sent = time.monotonic()
                wait = min(poll_every, max(0.0, heartbeat - (time.monotonic() - last_sent)))
                if sub is not None:
                    await sub.wait(timeout=wait)
                else:
                    await anyio.sleep(wait)
        finally:
            if sub is not None:
                sub.close()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
