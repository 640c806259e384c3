"""``GET /v1/metrics``: throughput, success rate, durations, errors and cost over time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from hiveboard.api.read_common import INTERVALS, ApiModel, Ctx, ReadConn, window
from hiveboard.storage.read import metrics as read

router = APIRouter(prefix="/v1", tags=["metrics"])


class MetricValues(ApiModel):
    events: int
    errors: int
    tasks_started: int
    tasks_completed: int
    tasks_failed: int
    success_rate: float | None
    duration_p50_ms: float | None
    duration_p95_ms: float | None
    avg_duration_ms: float | None
    llm_calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cost_unknown_calls: int  # calls with no price, left out of cost_usd: never a silent zero


class MetricPoint(MetricValues):
    bucket: datetime


class MetricSummary(MetricValues):
    agents_by_status: dict[str, int]


class Metrics(ApiModel):
    since: datetime
    until: datetime
    interval: str
    series: list[MetricPoint]
    summary: MetricSummary


@router.get("/metrics", response_model=Metrics)
def get_metrics(
    ctx: Ctx,
    conn: ReadConn,
    interval: Annotated[str, Query(description=f"Bucket size: {', '.join(INTERVALS)}")] = "5m",
) -> Metrics:
    """Time series (every bucket, empty ones included) and a summary of the window.

    The window defaults to the last hour. With an interval of an hour or more the
    figures come from hourly rollups: the window then starts on the hour (``since``
    says where) and p50/p95 are read from a duration histogram (exact to a bucket of
    doubling width). Shorter intervals read minute rollups and exact percentiles from
    the runs that started in the window. Every filter applies, ``project`` included.
    """
    since, until, seconds = window(ctx, interval, timedelta(hours=1))
    result = read.metrics(conn, ctx.scope, since, until, seconds)
    return Metrics.model_validate({"until": until, "interval": interval, **result})
