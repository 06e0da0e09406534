"""Faults of the machine and the environment: a full disk at each place a run writes, a
KERAS_BACKEND that names no backend, a config nested thousands of levels deep. Each ends in one
line; after a full disk the run folder resumes once space is freed.

A full disk is injected as `OSError(ENOSPC)` without a file name (as h5py and csv raise it) in
the middle of writing each run-folder file, at its first or second write.
"""

import csv
import errno
import json
import os
import subprocess
import sys

import keras
import pytest

from eqzoo import checkpoints, fileio, train

SMALL = ["--set", "width=8", "--epochs", "2", "--dataset-option", "train_size=128",
         "--wandb", "disabled", "--run-id", "r"]
STEPS = 128 // 32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def full_disk():
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # no file name, as libraries raise


# The file, and at which of its writes the disk is full.
SITES = {"config.json": 1, "history.csv": 2, "latest.weights.h5": 2,
         "training_metadata.json": 2, "best.keras": 1, "model.keras": 1, "metrics.json": 1}


def fill_the_disk_at(monkeypatch, site):
    writes = []
    if site == "history.csv":
        logged = keras.callbacks.CSVLogger.on_epoch_end

        def on_epoch_end(self, epoch, logs=None):
            writes.append(site)
            if len(writes) == SITES[site]:
                raise full_disk()
            logged(self, epoch, logs)

        monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", on_epoch_end)
        return
    real = fileio.write_temporary

    def write_temporary(path, write):
        if os.path.basename(path) == site:
            writes.append(path)
            if len(writes) == SITES[site]:
                def half_then_full(temporary):
                    with open(temporary, "w") as f:
                        f.write("half a file")
                    raise full_disk()

                return real(path, half_then_full)
        return real(path, write)

    monkeypatch.setattr(fileio, "write_temporary", write_temporary)
    monkeypatch.setattr(checkpoints, "write_temporary", write_temporary)


@pytest.mark.slow
@pytest.mark.parametrize("site", SITES)
def test_a_full_disk_is_one_line_naming_the_file_and_the_run_resumes(site, tmp_path, monkeypatch,
                                                                     capsys):
    runs = tmp_path / "runs"
    with monkeypatch.context() as patch:
        fill_the_disk_at(patch, site)
        code = train.main([*SMALL, "--run-dir", str(runs)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("train.py: error:")]
    assert len(errors) == 1, err
    assert f"no space left on the device while writing {runs / 'r'}" in errors[0]
    assert errors[0].split(" while writing ")[1].split(" ")[0].endswith(site)
    folder = runs / "r"
    assert not [p for p in folder.rglob("*") if p.name.startswith(fileio.TEMPORARY_PREFIX)]
    if site == "config.json":
        assert "run the same command again" in errors[0]
        code = train.main([*SMALL, "--run-dir", str(runs)])
    else:
        assert f"resume with: python train.py --resume {folder}" in errors[0]
        code = train.main(["--resume", str(folder)])
    assert code == 0, capsys.readouterr().err
    with open(folder / "history.csv", newline="") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 2 and metrics["optimizer_iterations"] == 2 * STEPS


def test_disk_full_recognises_wrapped_errors():
    assert fileio.disk_full(full_disk())
    assert fileio.disk_full(OSError("Unable to write (No space left on device)"))
    assert not fileio.disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not fileio.disk_full(ValueError("No space left on device"))


def test_a_keras_backend_that_names_no_backend_is_one_line_before_keras_is_imported(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "bogus"}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--epochs", "1"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "KERAS_BACKEND: expected tensorflow | jax | torch" in result.stderr
    assert "Received: KERAS_BACKEND='bogus'" in result.stderr
    assert not list(tmp_path.iterdir())


def deep(levels):
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [40, 100_000])
def test_a_deeply_nested_config_is_refused_in_one_line(levels, tmp_path, capsys):
    config = tmp_path / "deep.json"
    config.write_text(f'{{"overrides": {{"width": {deep(levels)}}}}}')
    assert train.main(["--config", str(config), "--run-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"--config: {config} is nested more than 32 levels deep" in err

    folder = tmp_path / "runs" / "r"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(deep(levels))
    assert train.main(["--resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--resume: {folder / 'config.json'} is nested more" in err
    assert train.main(["--compare", str(folder), "--plot", str(tmp_path / "c.png")]) == 2
    assert "Traceback" not in capsys.readouterr().err
