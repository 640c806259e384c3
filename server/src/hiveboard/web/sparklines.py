"""The Fleet cards' 1 h activity sparkline, drawn server-side as a tiny inline SVG.

Why SVG from the server rather than uPlot: 200 cards would mean 200 chart instances
(and their canvases) before the page is interactive, while 200 two-element SVGs cost
a few kilobytes of markup and no script.  The SVG holds only numbers formatted here
(coordinates and counts), and it still goes through the autoescaping template, so no
agent-sent string can reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH = 120
HEIGHT = 24
PAD = 1.5
"""Room for the stroke at the top and bottom so a peak or a flat zero stays visible."""


@dataclass(frozen=True, slots=True)
class Sparkline:
    """What ``_sparkline.html`` draws: point lists in viewBox units, and the figures."""

    line: str
    area: str
    total: int
    peak: int
    last: int

    @property
    def label(self) -> str:
        """Spoken and hover text: the figures the shape stands for."""
        if not self.total:
            return "No events in the last hour"
        return (
            f"{self.total:,} events in the last hour, at most {self.peak:,} a minute, "
            f"{self.last:,} in the current minute"
        )


def sparkline(counts: Sequence[int]) -> Sparkline:
    """Scale per-minute counts (oldest first) into a ``WIDTH`` × ``HEIGHT`` box."""
    values = list(counts) or [0]
    peak = max(values)
    step = WIDTH / max(1, len(values) - 1)
    usable = HEIGHT - 2 * PAD
    points = []
    for i, value in enumerate(values):
        y = HEIGHT - PAD - (usable * value / peak if peak else 0.0)
        points.append(f"{i * step:.1f},{y:.1f}")
    line = " ".join(points)
    area = f"0,{HEIGHT} {line} {WIDTH},{HEIGHT}"
    return Sparkline(line=line, area=area, total=sum(values), peak=peak, last=values[-1])


def sparklines(per_agent: Mapping[str, Sequence[int]]) -> dict[str, Sparkline]:
    """One sparkline per agent id."""
    return {agent_id: sparkline(counts) for agent_id, counts in per_agent.items()}
