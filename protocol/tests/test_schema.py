"""The golden examples pin down what the schema means; if either drifts, these fail."""

from __future__ import annotations

from typing import Any

import hiveprotocol
import jsonschema
import pytest

VALID = dict(hiveprotocol.iter_examples())
INVALID = dict(hiveprotocol.iter_invalid_examples())
EVENT_TYPES = hiveprotocol.load_schema()["$defs"]["eventType"]["enum"]
KINDS = hiveprotocol.load_schema()["$defs"]["wellKnownKind"]["enum"]


def test_schema_is_valid_draft_2020_12() -> None:
    schema = hiveprotocol.load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert len(EVENT_TYPES) == 13


@pytest.mark.parametrize("name", sorted(VALID))
def test_golden_example_validates(name: str) -> None:
    hiveprotocol.validate_body(VALID[name])


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_example_is_rejected(name: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        hiveprotocol.validate_body(INVALID[name])


def _all_events() -> list[dict[str, Any]]:
    return [event for body in VALID.values() for event in body["events"]]


def test_examples_cover_every_event_type_and_kind() -> None:
    events = _all_events()
    assert {e["event_type"] for e in events} >= set(EVENT_TYPES)
    kinds = {(e.get("payload") or {}).get("kind") for e in events if e["event_type"] == "custom"}
    assert kinds >= set(KINDS)
    assert any(len(body["events"]) >= 20 for body in VALID.values()), "no full-story batch"


def test_error_messages_name_the_field_and_limit() -> None:
    with pytest.raises(jsonschema.ValidationError, match=r"^events: expected at most 500 items"):
        hiveprotocol.validate_body(INVALID["too_many_events_501"])
    with pytest.raises(jsonschema.ValidationError, match=r"envelope/agent_id: .*at most 256"):
        hiveprotocol.validate_body(INVALID["agent_id_too_long"])
    with pytest.raises(jsonschema.ValidationError, match=r"payload/data: 'model' is a required"):
        hiveprotocol.validate_body(INVALID["llm_call_without_model"])


@pytest.mark.parametrize("field", ["agent_type", "agent_version", "framework", "runtime"])
def test_envelope_metadata_limits_match_the_server(field: str) -> None:
    """HiveBoard stores these in 256-character columns and accepts up to that; the
    schema must neither refuse what the server keeps nor allow what it rejects."""
    body = {"envelope": {"agent_id": "a", field: "x" * 256}, "events": _all_events()[:1]}
    hiveprotocol.validate_body(body)
    body["envelope"][field] = "x" * 257
    with pytest.raises(jsonschema.ValidationError, match=rf"envelope/{field}: .*at most 256"):
        hiveprotocol.validate_body(body)
