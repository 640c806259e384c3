"""init(): defaults, validation, environment variables, the singleton, reset."""

from __future__ import annotations

import logging
import threading
from typing import Any

import hiveloop
import pytest
from hiveloop import HiveLoopError
from recorder import IngestRecorder


def test_defaults_match_the_documented_table() -> None:
    hb = hiveloop.init(api_key="hb_live_x")
    config = hb.config
    assert config.environment == "production"
    assert config.group == "default"
    assert config.endpoint == "https://api.hiveboard.io"
    assert config.flush_interval == 5.0
    assert config.batch_size == 100
    assert config.max_queue_size == 10_000
    assert config.debug is False


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"api_key": "live_123"}, "api_key"),
        ({"api_key": ""}, "api_key"),
        ({"api_key": "hb_x", "flush_interval": 0}, "flush_interval"),
        ({"api_key": "hb_x", "flush_interval": -1.5}, "flush_interval"),
        ({"api_key": "hb_x", "batch_size": 0}, "batch_size"),
        ({"api_key": "hb_x", "batch_size": 2.5}, "batch_size"),
        ({"api_key": "hb_x", "max_queue_size": 0}, "max_queue_size"),
        ({"api_key": "hb_x", "endpoint": "ftp://example"}, "endpoint"),
        ({"api_key": "hb_x", "environment": ""}, "environment"),
        ({"api_key": "hb_x", "environment": "e" * 65}, "environment"),
        ({"api_key": "hb_x", "group": "g" * 129}, "group"),
        ({"api_key": "hb_x", "debug": "yes"}, "debug"),
    ],
)
def test_invalid_arguments_raise_naming_the_argument(arguments: dict, named: str) -> None:
    with pytest.raises(HiveLoopError, match=named):
        hiveloop.init(**arguments)


def test_environment_and_group_at_their_limits_are_delivered(
    recorder: IngestRecorder, validate_body: Any
) -> None:
    hb = hiveloop.init(api_key="hb_x", endpoint=recorder.url, environment="e" * 64, group="g" * 128)
    hb.agent("at-the-limit", heartbeat_interval=0)
    assert hb.flush(5)
    body = recorder.bodies()[0]
    validate_body(body)
    assert (body["envelope"]["environment"], body["envelope"]["group"]) == ("e" * 64, "g" * 128)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"version": 2}, "version"),
        ({"version": "v" * 257}, "version"),
        ({"type": "t" * 257}, "type"),
        ({"framework": 1.0}, "framework"),
    ],
)
def test_agent_metadata_the_server_would_refuse_raises(arguments: dict, named: str) -> None:
    hb = hiveloop.init(api_key="hb_x")
    with pytest.raises(HiveLoopError, match=named):
        hb.agent("refused", heartbeat_interval=0, **arguments)
    assert hb.get_agent("refused") is None


def test_missing_api_key_says_how_to_provide_one() -> None:
    with pytest.raises(HiveLoopError, match="HIVELOOP_API_KEY"):
        hiveloop.init()


def test_batch_size_is_capped_at_500() -> None:
    assert hiveloop.init(api_key="hb_x", batch_size=5_000).config.batch_size == 500


def test_environment_variables_fill_what_the_call_leaves_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HIVELOOP_API_KEY", "hb_live_from_env")
    monkeypatch.setenv("HIVELOOP_ENDPOINT", "http://127.0.0.1:9/")
    monkeypatch.setenv("HIVELOOP_ENVIRONMENT", "staging")
    config = hiveloop.init().config
    assert config.api_key == "hb_live_from_env"
    assert config.endpoint == "http://127.0.0.1:9"
    assert config.environment == "staging"


def test_explicit_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIVELOOP_API_KEY", "hb_live_from_env")
    monkeypatch.setenv("HIVELOOP_ENVIRONMENT", "staging")
    config = hiveloop.init(api_key="hb_live_explicit", environment="prod-eu").config
    assert (config.api_key, config.environment) == ("hb_live_explicit", "prod-eu")


def test_second_init_returns_the_running_client_and_names_ignored_arguments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = hiveloop.init(api_key="hb_x", environment="production")
    with caplog.at_level(logging.WARNING, logger="hiveloop"):
        second = hiveloop.init(api_key="hb_x", environment="staging", batch_size=7)
    assert second is first
    assert "batch_size, environment" in caplog.text
    assert "reset()" in caplog.text


def test_reset_allows_a_fresh_init() -> None:
    first = hiveloop.init(api_key="hb_x")
    hiveloop.reset()
    assert hiveloop.get_client() is None
    second = hiveloop.init(api_key="hb_y", environment="staging")
    assert second is not first
    assert second.config.environment == "staging"


def test_init_after_shutdown_starts_a_new_client() -> None:
    first = hiveloop.init(api_key="hb_x")
    assert hiveloop.shutdown() is True
    assert hiveloop.init(api_key="hb_x") is not first


def test_key_is_never_shown_whole() -> None:
    config = hiveloop.init(api_key="hb_live_supersecretvalue").config
    assert "supersecretvalue" not in repr(config)
    with pytest.raises(HiveLoopError) as raised:
        hiveloop.reset()
        hiveloop.init(api_key="sk_live_supersecretvalue")
    assert "supersecretvalue" not in str(raised.value)


def test_module_functions_are_safe_before_init() -> None:
    assert hiveloop.flush() is True
    assert hiveloop.shutdown() is True
    hiveloop.reset()


def test_importing_and_initialising_start_no_threads_until_needed() -> None:
    before = {t.name for t in threading.enumerate()}
    hiveloop.init(api_key="hb_x")
    started = {t.name for t in threading.enumerate()} - before
    assert not any(name.startswith("hiveloop") for name in started)


def test_debug_logs_each_batch(recorder: IngestRecorder, caplog: pytest.LogCaptureFixture) -> None:
    hb = hiveloop.init(api_key="hb_x", endpoint=recorder.url, debug=True)
    with caplog.at_level(logging.DEBUG, logger="hiveloop"):
        hb.agent("debugged", heartbeat_interval=0)
        assert hb.flush(5)
    assert "batch of 1 events" in caplog.text


def test_public_names_of_the_released_sdk_still_exist() -> None:
    for name in ("init", "shutdown", "reset", "flush", "HiveBoard", "Agent", "Task"):
        assert hasattr(hiveloop, name)
    for name in ("HiveLoopError", "SDK_VERSION", "tool_payload"):
        assert name in hiveloop.__all__
    from hiveloop.contrib.log_handler import HiveBoardLogHandler

    assert issubclass(HiveBoardLogHandler, logging.Handler)
    assert hiveloop.SDK_VERSION.startswith("hiveloop-")
