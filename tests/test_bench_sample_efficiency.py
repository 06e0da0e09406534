"""benchmarks/bench_sample_efficiency.py: the --quick smoke run writes runs, a table and a plot
elsewhere than the measured results, and regenerating the committed report loses no text."""

import json
import math
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))
import bench_sample_efficiency as bench


def test_epochs_follow_the_step_budget():
    assert bench.epochs_for(50, steps=300, min_epochs=15, max_epochs=60) == 60  # 2 batches
    assert bench.epochs_for(320, steps=300, min_epochs=15, max_epochs=60) == 30  # 10 batches
    assert bench.epochs_for(5000, steps=300, min_epochs=15, max_epochs=60) == 15


@pytest.mark.slow
def test_quick_run_writes_runs_table_and_plot_never_into_the_results(tmp_path, monkeypatch):
    committed = {name: os.path.getmtime(os.path.join(bench.RESULTS, name))
                 for name in os.listdir(bench.RESULTS)}
    monkeypatch.setattr(bench, "quick_output", lambda: str(tmp_path))
    assert bench.main(["--quick"]) == 0  # no --output: a temporary folder, as the README runs it
    assert {name: os.path.getmtime(os.path.join(bench.RESULTS, name))
            for name in os.listdir(bench.RESULTS)} == committed
    with open(tmp_path / bench.RUNS_FILE) as f:
        runs = [json.loads(line) for line in f]
    models = bench.TASKS["quadratic_form"][3]
    assert [r["model"] for r in runs] == models
    assert all(r["train_size"] == 50 and math.isfinite(r["test/loss"]) for r in runs)
    table = (tmp_path / "sample_efficiency.md").read_text()
    assert all(f"| `{m}` |" in table for m in models) and "n=50" in table
    assert (tmp_path / "sample_efficiency_quadratic_form.png").stat().st_size > 1000
    # A rerun finds every run done and only rewrites the report.
    assert bench.main(["--quick", "--output", str(tmp_path)]) == 0
    assert len((tmp_path / bench.RUNS_FILE).read_text().splitlines()) == len(models)


def test_quick_run_refuses_to_write_into_the_measured_results(capsys):
    with pytest.raises(SystemExit) as done:
        bench.main(["--quick", "--output", bench.RESULTS])
    assert done.value.code == 2 and "--quick never writes into" in capsys.readouterr().err


@pytest.mark.slow
def test_regenerating_the_committed_report_loses_no_text(tmp_path):
    for name in (bench.RUNS_FILE, bench.NOTES_FILE):
        shutil.copy(os.path.join(bench.RESULTS, name), tmp_path)
    assert bench.main(["--report", "--output", str(tmp_path)]) == 0
    with open(os.path.join(bench.RESULTS, "sample_efficiency.md")) as f:
        committed = f.read()
    assert (tmp_path / "sample_efficiency.md").read_text() == committed
    assert "## How these numbers were made" in committed
