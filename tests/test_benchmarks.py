"""The benchmark scripts run and print their tables (tiny settings: this checks they work,
not how fast anything is; the speed goals are measured by running them in full)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def table_rows(output: str, first_cell: str) -> list[list[str]]:
    """The cells of the markdown rows whose first cell starts with ``first_cell``."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith(first_cell):
            rows.append(cells)
    return rows


def test_train_gpt_prints_the_table_with_a_finite_loss():
    out = run("train_gpt.py", "--preset", "ci", "--steps", "25", "--variants", "eager",
              "--threads", "1", "--repeats", "2")  # fmt: skip
    (row,) = table_rows(out, "lmcourse, eager")
    ms = re.match(r"([\d.]+) \(([\d.]+)-([\d.]+)\)", row[1])  # the median run and the range
    assert ms, row
    median, fastest, slowest = map(float, ms.groups())
    assert 0 < fastest <= median <= slowest
    assert 0 < float(row[4]) < 10  # validation loss in nats, finite
    assert not table_rows(out, "nanoGPT")  # its figures are for the cpu preset only


def test_sampling_prints_both_tables():
    out = run("sampling.py", "--new-tokens", "8", "16", "--repeats", "1", "--threads", "1")
    generation, contexts = out.split("| context L")  # the two tables, in this order
    rows = table_rows(generation, "")[2:]  # below the header and its rule
    assert [r[0] for r in rows] == ["8", "16"]
    for row in rows:
        assert float(row[1].replace(",", "")) > 0 and float(row[2].replace(",", "")) > 0
        assert re.fullmatch(r"[\d.]+x \([\d.]+x\)", row[3]), row
    lengths = [r[0] for r in table_rows(contexts, "")[1:]]  # the shipped model's context is 128
    assert lengths == ["8", "16", "32", "64", "128"]


def test_data_benchmark_runs():
    out = run("data.py")
    assert out.count("|") > 20


@pytest.mark.parametrize("script, args", [("notebooks.py", ["00"])])
def test_notebook_benchmark_runs_one_notebook(script, args):
    out = run(script, *args)
    (row,) = table_rows(out, "00_")
    assert float(row[1]) > 0 and float(row[2]) > 0 and row[3] == "yes"
