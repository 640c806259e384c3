"""Worker for ``bench/sdk_overhead.py`` driving the OpenTelemetry Python SDK.

Mapping onto the hiveloop calls: ``task.llm_call`` -> one span with the call's
attributes, ``agent.task`` -> one span (current while it runs), an ``@agent.track``
no-op -> a ``@tracer.start_as_current_span`` no-op (a child span), ``queue_snapshot``
-> one span with the queue's attributes. Spans go through a ``BatchSpanProcessor``
to an OTLP/HTTP-like exporter that POSTs OTLP-JSON-shaped bodies with ``requests``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

import requests
from common import (
    BATCH_SIZE,
    BIG_QUEUE,
    PARKED_INTERVAL,
    Driver,
    LogCounter,
    Op,
    memory_mb,
    one_shot,
    parse_args,
    serve,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.version import __version__ as OTEL_VERSION

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)  # like the OTLP exporter's backoff
EXPORT_DEADLINE = 30.0


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _span_json(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    encoded: dict[str, Any] = {
        "traceId": format(context.trace_id, "032x"),
        "spanId": format(context.span_id, "016x"),
        "name": span.name,
        "kind": 1,
        "startTimeUnixNano": str(span.start_time),
        "endTimeUnixNano": str(span.end_time),
        "attributes": [{"key": k, "value": _value(v)} for k, v in (span.attributes or {}).items()],
        "status": {"code": span.status.status_code.value},
    }
    if span.parent is not None:
        encoded["parentSpanId"] = format(span.parent.span_id, "016x")
    return encoded


class JsonHttpExporter(SpanExporter):
    """POST ``{"resourceSpans": ...}`` (OTLP/JSON layout) on a keep-alive session."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._session = requests.Session()
        self._session.headers["Content-Type"] = "application/json"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        resource = spans[0].resource.attributes if spans else {}
        body = json.dumps(
            {
                "resourceSpans": [
                    {
                        "resource": {
                            "attributes": [
                                {"key": k, "value": _value(v)} for k, v in resource.items()
                            ]
                        },
                        "scopeSpans": [
                            {"scope": {"name": "bench"}, "spans": [_span_json(s) for s in spans]}
                        ],
                    }
                ]
            },
            separators=(",", ":"),
        ).encode()
        deadline = time.monotonic() + EXPORT_DEADLINE
        for delay in (*RETRY_DELAYS, None):
            try:
                response = self._session.post(self._url, data=body, timeout=10)
                if response.status_code < 300:
                    return SpanExportResult.SUCCESS
            except requests.RequestException:
                pass
            if delay is None or time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._session.close()


def _tracer(endpoint: str, max_queue_size: int, batch_size: int) -> tuple[Any, Any]:
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
    processor = BatchSpanProcessor(
        JsonHttpExporter(endpoint + "/v1/traces"),
        max_queue_size=max_queue_size,
        schedule_delay_millis=PARKED_INTERVAL * 1000,
        max_export_batch_size=batch_size,
    )
    provider.add_span_processor(processor)
    return provider, provider.get_tracer("bench")


LLM_ATTRIBUTES = {
    "llm.name": "score",
    "llm.model": "claude-sonnet-4",
    "llm.tokens_in": 1800,
    "llm.tokens_out": 250,
    "llm.cost": 0.004,
}


class OtelDriver(Driver):
    def __init__(self, sink: str, name: str) -> None:
        super().__init__(sink, name)
        self.provider, self.tracer = _tracer(self.endpoint, BIG_QUEUE, BATCH_SIZE)

    def versions(self) -> dict[str, str]:
        return {"opentelemetry-sdk": OTEL_VERSION}

    def nudge(self, timeout: float) -> None:
        self.provider.force_flush(int(timeout * 1000))

    def burst(self, events: int) -> int:
        tracer = self.tracer
        with tracer.start_as_current_span("task", attributes={"task_id": "bench-burst"}):
            for _ in range(events - 1):
                tracer.start_span("llm score", attributes=dict(LLM_ATTRIBUTES)).end()
        return events

    def ops(self) -> dict[str, tuple[Op, int]]:
        tracer = self.tracer
        pc = time.perf_counter_ns

        def llm_call(n: int, out: list[int]) -> int:
            with tracer.start_as_current_span("task", attributes={"task_id": "bench-llm"}):
                for _ in range(n):
                    t0 = pc()
                    tracer.start_span(
                        "llm score",
                        attributes={
                            "llm.name": "score",
                            "llm.model": "claude-sonnet-4",
                            "llm.tokens_in": 1800,
                            "llm.tokens_out": 250,
                            "llm.cost": 0.004,
                        },
                    ).end()
                    out.append(pc() - t0)
            return n + 1

        def task(n: int, out: list[int]) -> int:
            for _ in range(n):
                t0 = pc()
                with tracer.start_as_current_span("task", attributes={"task_id": "bench-task"}):
                    pass
                out.append(pc() - t0)
            return n

        @tracer.start_as_current_span("noop")
        def noop() -> None:
            return None

        def track(n: int, out: list[int]) -> int:
            with tracer.start_as_current_span("task", attributes={"task_id": "bench-track"}):
                for _ in range(n):
                    t0 = pc()
                    noop()
                    out.append(pc() - t0)
            return n + 1

        def queue_snapshot(n: int, out: list[int]) -> int:
            for _ in range(n):
                t0 = pc()
                tracer.start_span(
                    "queue_snapshot", attributes={"queue.depth": 3, "queue.oldest_age_seconds": 12}
                ).end()
                out.append(pc() - t0)
            return n

        return {
            "llm_call": (llm_call, 1),
            "task": (task, 1),
            "track": (track, 1),
            "queue_snapshot": (queue_snapshot, 1),
        }


def rss(dead: str, events: int) -> None:
    provider, tracer = _tracer(dead, BIG_QUEUE, BATCH_SIZE)
    before = memory_mb()
    with tracer.start_as_current_span("task", attributes={"task_id": "bench-rss"}):
        for _ in range(events - 1):
            tracer.start_span("llm score", attributes=dict(LLM_ATTRIBUTES)).end()
    time.sleep(0.5)
    after = memory_mb()
    queued = len(provider._active_span_processor._span_processors[0]._batch_processor._queue)
    one_shot({"before": before["rss"], "peak": after["peak"], "queued": queued})


def drops(dead: str, dropped: int) -> None:
    """Log lines from OpenTelemetry while spans fall off a full queue (for comparison)."""
    capacity = 100
    _, tracer = _tracer(dead, capacity, capacity)
    counter = LogCounter()
    logging.getLogger("opentelemetry").addHandler(counter)
    t0 = time.perf_counter()
    for _ in range(capacity + dropped):
        tracer.start_span("llm score", attributes=dict(LLM_ATTRIBUTES)).end()
    elapsed = time.perf_counter() - t0
    one_shot(
        {
            "lines": counter.count,
            "dropped": None,  # the first full batch may leave for the (dead) exporter
            "first": counter.first,
            "us_per_call": elapsed / (capacity + dropped) * 1e6,
        }
    )


def main() -> None:
    args = parse_args()
    if args.mode == "serve":
        serve(OtelDriver(args.sink, args.name))
    elif args.mode == "rss":
        rss(args.dead, args.events)
    else:
        drops(args.dead, args.events)


if __name__ == "__main__":
    sys.exit(main())
