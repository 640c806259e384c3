"""Filters over a fixed set of values: a typo is a 400 that names it, never "nothing".

``/v1/tasks?status=failled`` used to answer 200 with an empty list, which a dashboard or
script shows as "no failed runs". Every value must be one the server can store, and
every accepted value must still filter.
"""

from __future__ import annotations

from itertools import product

import pytest
from hiveboard.derive.status import task_run_status
from hiveboard.ingest.model import EVENT_TYPES, SEVERITIES
from hiveboard.storage.read.tasks import RUN_STATUSES
from query_seed import Api, seed_fleet

pytest_plugins = ("query_fixtures",)

BAD = [
    ("/v1/tasks", "status", "failled"),
    ("/v1/tasks", "status", "failed,stuk"),
    ("/v1/tasks", "sort", "newest"),
    ("/v1/events", "type", "task_finished"),
    ("/v1/events", "severity", "warning"),
    ("/v1/events", "severity", "error,critical"),
    ("/v1/llm-calls", "cost_source", "estimate"),
    ("/v1/llm-calls", "sort", "price"),
    ("/v1/issues", "state", "closed"),
    ("/v1/issues", "severity", "urgent"),
    ("/v1/approvals", "kind", "approvals"),
    ("/v1/approvals", "state", "waiting"),
    ("/v1/cost/timeseries", "group_by", "project"),
    ("/v1/cost/timeseries", "interval", "2h"),
    ("/v1/metrics", "interval", "2h"),
    ("/v1/agents", "sort", "status"),
    ("/v1/agents", "status", "stuck,waiting"),
]


@pytest.mark.parametrize(("path", "name", "value"), BAD)
def test_a_value_outside_the_set_is_a_400_naming_it(
    api: Api, path: str, name: str, value: str
) -> None:
    alice = api.tenant("alice")
    status, body = api.get_status(alice, path, **{name: value})
    assert status == 400, body
    bad = next(v for v in value.split(",") if v not in body["details"]["allowed"])
    assert body["error"] == "invalid_parameter"
    assert body["details"]["parameter"] == name and body["details"]["value"] == bad
    assert f"{name}={bad!r}" in body["message"]
    assert all(a in body["message"] for a in body["details"]["allowed"])


def test_stream_filters_are_checked_before_streaming(api: Api) -> None:
    alice = api.tenant("alice")
    for name, value in (("type", "hearbeat"), ("severity", "fatal"), ("include", "events,x")):
        status, body = api.get_status(alice, "/v1/stream", **{name: value})
        assert status == 400, body
        assert body["details"]["parameter"] == name
        assert body["details"]["value"] == value.split(",")[-1]


def test_every_accepted_value_still_filters(api: Api) -> None:
    alice = api.tenant("alice")
    seed_fleet(api, alice)
    failed = api.get(alice, "/v1/tasks", status="failed", since="100000d")["items"]
    assert failed and {r["status"] for r in failed} == {"failed"}
    assert api.get(alice, "/v1/tasks", status=",".join(RUN_STATUSES), since="100000d")["items"]
    events = api.get(alice, "/v1/events", type=",".join(sorted(EVENT_TYPES)))["items"]
    assert events
    assert api.get(alice, "/v1/events", severity=",".join(sorted(SEVERITIES)))["items"] == events
    for path, params in (
        ("/v1/llm-calls", {"cost_source": "reported,estimated,unknown"}),
        ("/v1/issues", {"state": "open,resolved,dismissed", "severity": "critical,low"}),
        ("/v1/approvals", {"kind": "approval,escalation", "state": "pending,received,open"}),
        ("/v1/approvals", {"state": "expired,closed"}),
    ):
        api.get(alice, path, **params)
    # Payload kinds and task types are open sets (custom kinds, user task types).
    assert api.get(alice, "/v1/events", kind="my_own_kind")["items"] == []
    assert api.get(alice, "/v1/tasks", type="anything")["items"] == []


def test_run_statuses_are_exactly_what_the_derivation_returns() -> None:
    derived = {
        task_run_status(outcome=o, pending_approvals=p, escalated=e, stuck=s)
        for o, p, e, s in product((None, "completed", "failed"), (0, 1), (False, True), (0, 1))
    }
    assert derived == set(RUN_STATUSES)


def test_openapi_lists_the_accepted_values(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()

    def description(path: str, name: str) -> str:
        params = spec["paths"][path]["get"]["parameters"]
        return str(next(p for p in params if p["name"] == name).get("description", ""))

    assert all(s in description("/v1/tasks", "status") for s in RUN_STATUSES)
    for path in ("/v1/events", "/v1/stream"):
        assert all(t in description(path, "type") for t in EVENT_TYPES)
        assert all(s in description(path, "severity") for s in SEVERITIES)
