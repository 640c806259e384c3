"""The server benchmarks still run: ingest, queries, soak and sqlite_ceiling in --quick.

Benchmarks are scripts, not tests, so nothing else would notice when a change to the
server or the storage layer breaks them. This runs each in its smallest mode and checks
that it printed its table; the figures themselves are not judged here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _run(script: str) -> str:
    run = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert run.returncode == 0, f"{script} --quick failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    return run.stdout


@pytest.mark.timeout(180)
def test_ingest_bench_quick() -> None:
    out = _run("ingest.py")
    assert "## bench/ingest.py" in out
    for backend in ("sqlite", "postgres"):
        row = next(line for line in out.splitlines() if line.startswith(f"| {backend} |"))
        assert "| 0 |" in row, f"non-200 answers during the {backend} run: {row}"
    assert "stored!" not in out, "acknowledged events went missing"


@pytest.mark.timeout(180)
def test_queries_bench_quick() -> None:
    out = _run("queries.py")
    assert "## bench/queries.py" in out
    assert "| timeline" in out and "server RSS" in out and "bytes per stored event" in out


@pytest.mark.timeout(180)
def test_soak_bench_quick() -> None:
    out = _run("soak.py")
    assert "## bench/soak.py" in out
    assert "| non-200 answers | 0 |" in out
    assert "largest drift from that median" in out
    assert "stored!" not in out, "acknowledged events went missing"


@pytest.mark.timeout(180)
def test_sqlite_ceiling_bench_quick() -> None:
    out = _run("sqlite_ceiling.py")
    assert "## bench/sqlite_ceiling.py" in out
    assert "| 400 |" in out and "without the 2 time indexes" in out
