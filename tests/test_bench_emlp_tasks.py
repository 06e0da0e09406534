"""benchmarks/bench_emlp_tasks.py: the EMLP authors' protocol, the workers' share of the grid, one
tiny run of the real loop, and a report regenerated from the committed runs that loses no row."""

import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))
import bench_emlp_tasks as bench


def test_epochs_are_the_papers_budget():
    # data_efficiency.py of the EMLP authors: min(int(30 * 30000 / n), 1000) epochs.
    assert [bench.epochs_for(n) for n in (30, 100, 300, 1000, 3000)] == [1000] * 3 + [900, 300]


def test_two_workers_share_the_grid_once_each_with_as_many_emlp_runs(tmp_path, monkeypatch):
    ran = {0: [], 1: []}
    for worker in (0, 1):
        monkeypatch.setattr(bench, "run_one", lambda model, task, size, seed, w=worker: (
            ran[w].append((task, model, size, seed)) or {"test_mse": 0.0, "best_epoch": 1,
                                                         "epochs": 1, "seconds_per_epoch": 0.0}))
        bench.run_all(list(bench.TASKS), [30, 100], [0, 1], str(tmp_path / str(worker)), worker, 2)
    grid = {(t, m, n, s) for t in bench.TASKS for m in bench.TASKS[t] for n in (30, 100)
            for s in (0, 1)}
    assert sorted(ran[0] + ran[1]) == sorted(grid)
    assert [sum(m.startswith("emlp_") for _, m, _, _ in ran[w]) for w in (0, 1)] == [6, 6]


def test_one_run_reports_raw_mse_and_keeps_the_best_validation_weights(monkeypatch):
    monkeypatch.setattr(bench, "epochs_for", lambda n: 3)
    monkeypatch.setattr(bench, "VALIDATE_EVERY", 2)
    row = bench.run_one("mlp_o5_synthetic", "o5_synthetic", 30, 0)
    assert row["protocol"] == bench.PROTOCOL and row["train_size"] == 30
    assert row["batch_size"] == 30 and row["best_epoch"] in (2, 3)  # every 2nd epoch and the last
    _, _, scaling = bench.emlp_tasks.split("o5_synthetic", 0, train_size=30, **bench.OPTIONS)
    assert abs(row["test_mse"] - row["test_mse_standardised"] * scaling.target_scale ** 2) < 1e-9


def test_report_regenerates_from_the_committed_runs(tmp_path):
    for name in os.listdir(bench.RESULTS):
        if name.startswith("emlp_tasks"):
            shutil.copy(os.path.join(bench.RESULTS, name), tmp_path / name)
    committed = (tmp_path / "emlp_tasks.md").read_text()
    bench.report(str(tmp_path))
    assert (tmp_path / "emlp_tasks.md").read_text() == committed
