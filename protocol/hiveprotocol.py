"""The ingest wire format as code: load the one schema and validate bodies against it.

Both the SDK and the server suites import this (after putting ``protocol/`` on sys.path) so
that "what a body may look like" is defined in exactly one place, events.schema.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

PROTOCOL_DIR = Path(__file__).resolve().parent
SCHEMA_PATH = PROTOCOL_DIR / "events.schema.json"
EXAMPLES_DIR = PROTOCOL_DIR / "examples"
INVALID_EXAMPLES_DIR = EXAMPLES_DIR / "invalid"

_MAX_MESSAGE = 300


@cache
def load_schema() -> dict[str, Any]:
    """The parsed schema (cached: it never changes during a run)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _location(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "<body>"


def _describe(error: jsonschema.ValidationError) -> str:
    """A message naming the field and the limit, without dumping a 500-event instance."""
    limit = error.validator_value
    instance = error.instance
    if error.validator in ("maxItems", "minItems") and isinstance(instance, list):
        word = "most" if error.validator == "maxItems" else "least"
        return f"expected at {word} {limit} items, got {len(instance)}"
    if error.validator in ("maxLength", "minLength") and isinstance(instance, str):
        word = "most" if error.validator == "maxLength" else "least"
        return f"expected at {word} {limit} characters, got {len(instance)}"
    message = str(error.message)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return message


def validate_body(body: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` naming the offending field if ``body`` is invalid."""
    error = best_match(_validator().iter_errors(body))
    if error is None:
        return
    raise jsonschema.ValidationError(
        f"{_location(error)}: {_describe(error)}",
        validator=error.validator,
        path=error.absolute_path,
        schema_path=error.absolute_schema_path,
        instance=error.instance,
        validator_value=error.validator_value,
    )


def _iter_dir(directory: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(directory.glob("*.json")):
        yield path.stem, json.loads(path.read_text(encoding="utf-8"))


def iter_examples() -> Iterator[tuple[str, dict[str, Any]]]:
    """Golden bodies that every conforming server must accept: ``(name, body)``."""
    return _iter_dir(EXAMPLES_DIR)


def iter_invalid_examples() -> Iterator[tuple[str, dict[str, Any]]]:
    """Bodies that must be rejected, each named for the reason: ``(name, body)``."""
    return _iter_dir(INVALID_EXAMPLES_DIR)
