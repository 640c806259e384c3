"""Hostile query parameters: tampered cursors and times at the edge of the calendar.

Each must be a 400 (or an ordinary answer), never a 500: a client that edits a cursor
or types a silly date has made a mistake the error body should name.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from query_seed import Api, custom, ev, seed_fleet

pytest_plugins = ("query_fixtures",)


def _decode(cursor: str) -> list[Any]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    return orjson.loads(raw)  # type: ignore[no-any-return]


def _encode(scope: str, values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([scope, values])).rstrip(b"=").decode()


LISTINGS = [
    ("/v1/events", {}),
    ("/v1/tasks", {}),
    ("/v1/tasks", {"sort": "cost", "since": "1d"}),
    ("/v1/llm-calls", {}),
    ("/v1/agents", {"sort": "attention"}),
    ("/v1/issues", {}),
    ("/v1/approvals", {}),
]

TAMPERED = [
    lambda v: ["not a time", *v[1:]],  # a string where a timestamp or number belongs
    lambda v: [{"d": "2026-01-01T00:00:00"}, *v[1:]],  # a naive time
    lambda v: [{"d": "9999-12-31T23:59:59-23:00"}, *v[1:]],  # past the calendar in UTC
    lambda v: [*v[:-1], 2**64 - 1],  # an integer no database column holds
    lambda v: [*v[:-1], True],
    lambda v: [*v[:-1], [1]],
]


@pytest.mark.parametrize(("path", "params"), LISTINGS)
def test_tampered_cursor_of_the_right_shape_is_a_400(
    api: Api, path: str, params: dict[str, str]
) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    run = {"task_id": "t", "task_run_id": "r"}
    api.ingest(
        alice,
        "w",
        [
            custom(1, "issue", "disk full", {"severity": "critical", "issue_id": "d"}),
            custom(2, "issue", "slow api", {"severity": "low", "issue_id": "s"}),
            ev("approval_requested", 3, event_id="ask-1", **run),
        ],
    )
    cursor = api.get(alice, path, limit=1, **params)["next_cursor"]
    assert cursor, f"{path} should have a second page"
    scope, values = _decode(cursor)
    for tamper in TAMPERED:
        forged = _encode(scope, tamper(values))
        status, body = api.get_status(alice, path, limit=1, cursor=forged, **params)
        assert status == 400, (path, tamper(values), body)
        assert body["error"] == "invalid_cursor" and body["details"] == {"parameter": "cursor"}


@pytest.mark.parametrize(
    "path",
    ["/v1/events", "/v1/tasks", "/v1/llm-calls", "/v1/metrics", "/v1/cost", "/v1/cost/timeseries"],
)
@pytest.mark.parametrize(
    "params",
    [
        {"since": "99999999999999d"},
        {"since": "999999999d"},
        {"until": "0001-01-01T00:30:00Z"},
        {"since": "0001-01-01T00:00:00+05:00"},
        {"since": "9999-12-31T23:00:00Z"},
        {"until": "0001-01-01T00:30:00Z", "sort": "cost"},
    ],
)
def test_times_at_the_edge_of_the_calendar_are_answered(
    api: Api, path: str, params: dict[str, str]
) -> None:
    alice = api.tenant("alice")
    if path != "/v1/llm-calls":
        params = {k: v for k, v in params.items() if k != "sort"}
    status, body = api.get_status(alice, path, **params)
    assert status in (200, 400), body
    if status == 400:
        assert body["error"] in ("invalid_parameter", "range_too_large"), body


def test_an_age_older_than_any_data_means_from_the_start(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    everything = api.get(alice, "/v1/events", limit=500)["items"]
    assert api.get(alice, "/v1/events", limit=500, since="99999999999999d")["items"] == everything
    assert api.get(alice, "/v1/events", limit=500, since="0001-01-01T00:00:00Z")["items"] == (
        everything
    )
