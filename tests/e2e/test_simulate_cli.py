"""``mcburger simulate`` as a user runs it: a real process, its table, report.json and plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 120  # seconds; a 200-order day takes well under one on a laptop


def simulate(out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mcburger", "simulate", "--out", str(out),
                           *options], capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)


def test_a_day_prints_its_table_and_writes_the_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    done = simulate(out, "--orders", "200", "--workers", "3", "--seed", "5")

    assert done.returncode == 0, done.stderr
    for row in ("Mean wait", "p90 wait", "Throughput", "Worker utilisation", "Stock hit rate",
                "Estimate MAE", "Naive MAE", "Mean wait / bound", "Wall time"):
        assert row in done.stdout, row
    report = json.loads((out / "report.json").read_text())
    assert {"parameters", "figures", "definitions", "orders", "queue_length",
            "wall_seconds"} <= report.keys()
    assert report["parameters"]["orders"] == len(report["orders"]) == 200
    figures = report["figures"]
    assert {"wait", "throughput_per_hour", "utilisation", "stock_hit_rate", "estimate",
            "lower_bound", "targets", "wall_seconds"} <= figures.keys()
    assert figures["wait"]["mean_seconds"] >= figures["lower_bound"]["mean_seconds"]
    for name in ("waits.png", "queue.png", "estimate_error.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, name


def test_compare_puts_the_flag_and_worker_counts_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    done = simulate(out, "--orders", "60", "--workers", "2", "--seed", "5", "--compare")

    assert done.returncode == 0, done.stderr
    assert "Comparison (same arrivals)" in done.stdout
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    assert [(r["workers"], r["favorites_first"]) for r in runs] == [
        (1, False), (2, False), (3, False), (1, True), (2, True), (3, True)]
    assert {r["orders"] for r in runs} == {60}
    assert (out / "report.json").exists()


def test_a_mix_that_names_an_unknown_item_is_refused(tmp_path: Path) -> None:
    mix = tmp_path / "mix.toml"
    mix.write_text('[items]\npizza = 3\n')
    done = simulate(tmp_path / "out", "--orders", "10", "--mix", str(mix))

    assert done.returncode == 2
    assert "pizza" in done.stderr
    assert not (tmp_path / "out").exists()
