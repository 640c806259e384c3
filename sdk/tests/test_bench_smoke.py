"""bench/sdk_overhead.py must keep working: a quick run of our SDK prints a number in every row."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "bench" / "sdk_overhead.py"
NUMBER = re.compile(r"^\d[\d,]*(\.\d+)?$")


@pytest.mark.timeout(60)
def test_quick_benchmark_of_our_sdk_prints_every_row() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "ours"],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=REPO_ROOT,
        check=False,
    )
    assert run.returncode == 0, f"rc={run.returncode}\n{run.stdout}\n{run.stderr[-3000:]}"

    lines = run.stdout.splitlines()
    header = lines[0].split()
    assert header[:3] == ["measurement", "unit", "ours"], lines[0]
    assert set(lines[1]) <= {"-", " "}, lines[1]
    rows = lines[2 : lines.index("")]
    labels = [re.split(r"\s{2,}", row)[0] for row in rows]
    for expected in ("baseline", "task.llm_call (busy), p99", "delivered events/s", "peak RSS"):
        assert any(label.startswith(expected) for label in labels), (expected, labels)
    assert len(rows) >= 22, rows

    for row in rows:
        cells = re.split(r"\s{2,}", row.strip())
        ours = cells[2]  # measurement, unit, ours, ...
        assert NUMBER.match(ours), f"no number for ours in: {row!r}"
