"""The user documentation names everything a user can configure, run or call.

Fails when a ``HIVEBOARD_*`` setting, a ``hiveboard`` command, or a public HiveLoop
function or method is added without being documented, so the docs cannot silently fall
behind the code. Names are read from the code itself: the settings object, the Typer
app, ``hiveloop.__all__`` and the public methods of the client, agent, task and action.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import hiveloop
import pytest
import typer.main
from hiveboard.cli import app
from hiveboard.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVER_DOC = ROOT / "docs" / "server.md"
SDK_DOC = ROOT / "docs" / "sdk-guide.md"

# Public by name but plumbing: called by HiveLoop's own sender, decorator and heartbeat
# code, not by users (sdk/README.md does not list them either). A new entry here is a
# deliberate decision; anything else public must be documented.
INTERNAL = {
    "Agent": {"envelope_json"},
    "Task": {"wire_fields"},
    "Action": {"begin", "end", "activate", "deactivate", "base_payload"},
}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _commands(group: typer.Typer, prefix: str = "") -> list[str]:
    """Every command path of the CLI, e.g. ``serve``, ``keys create``."""
    click_group = typer.main.get_command(group)
    found: list[str] = []

    def walk(command: object, path: str) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, f"{path} {name}".strip())
        else:
            found.append(path)

    walk(click_group, prefix)
    return sorted(found)


def _public_members(cls: type) -> list[str]:
    """Public methods and properties (data attributes set in ``__init__`` are not API calls)."""
    internal = INTERNAL.get(cls.__name__, set())
    return sorted(
        name
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_")
        and name not in internal
        and (inspect.isfunction(value) or isinstance(value, property))
    )


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_server_guide(field: str) -> None:
    variable = f"HIVEBOARD_{field.upper()}"
    assert f"`{variable}`" in _text(SERVER_DOC), f"{variable} is not documented in docs/server.md"


def test_server_guide_names_no_setting_that_does_not_exist() -> None:
    documented = set(re.findall(r"HIVEBOARD_[A-Z_]+[A-Z]", _text(SERVER_DOC)))
    real = {f"HIVEBOARD_{f.upper()}" for f in Settings.model_fields}
    assert documented <= real, f"docs/server.md names unknown settings: {documented - real}"


@pytest.mark.parametrize("command", _commands(app))
def test_every_cli_command_is_in_the_server_guide(command: str) -> None:
    assert f"`hiveboard {command}" in _text(SERVER_DOC), f"`hiveboard {command}` is undocumented"


def test_cli_has_the_commands_the_guide_relies_on() -> None:
    assert {"serve", "migrate", "keys create", "keys list", "keys revoke"} <= set(_commands(app))


@pytest.mark.parametrize("name", sorted(set(hiveloop.__all__) - {"__version__"}))
def test_every_exported_name_is_in_the_sdk_guide(name: str) -> None:
    text = _text(SDK_DOC)
    assert f"hiveloop.{name}" in text, f"hiveloop.{name} is not documented in docs/sdk-guide.md"


def test_version_is_in_the_sdk_guide() -> None:
    assert "hiveloop.__version__" in _text(SDK_DOC)


OWNERS = {"HiveBoard": "hb", "Agent": "agent", "Task": "task", "Action": "action"}


@pytest.mark.parametrize(
    ("cls", "member"),
    [
        (cls, member)
        for cls in (hiveloop.HiveBoard, hiveloop.Agent, hiveloop.Task, hiveloop.Action)
        for member in _public_members(cls)
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_every_public_method_is_in_the_sdk_guide(cls: type, member: str) -> None:
    """Documented as ``hb.agent``, ``agent.todo``, ``task.retry``, ``action.set_payload``…"""
    spelled = f"{OWNERS[cls.__name__]}.{member}"
    assert spelled in _text(SDK_DOC), f"{spelled} is not documented in docs/sdk-guide.md"


def test_docs_are_linked_from_the_readmes() -> None:
    index = _text(ROOT / "docs" / "README.md")
    readme = _text(ROOT / "README.md")
    for page in ("sdk-guide.md", "server.md"):
        assert page in index, f"docs/README.md does not link {page}"
        assert f"docs/{page}" in readme, f"README.md does not link docs/{page}"


def test_revocation_delay_is_the_real_one() -> None:
    """A key revoked from the CLI keeps working on a running server for the key cache's
    lifetime (another process's cache): the guide and the help must say so, not "at once"."""
    from hiveboard.storage.sql import KEY_CACHE_SECONDS

    row = next(line for line in _text(SERVER_DOC).splitlines() if "`hiveboard keys revoke" in line)
    help_text = typer.main.get_command(app).commands["keys"].commands["revoke"].help or ""  # type: ignore[attr-defined]
    for text in (row, help_text):
        assert f"within {KEY_CACHE_SECONDS:g} seconds" in text and "at once" not in text, text
