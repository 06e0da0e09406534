"""One writer per run folder: a second train.py with the same --run-id, or a --resume of a run
still running, refuses in one line naming the holder's pid, and the first goes on untouched. The
lock is the OS's (`fcntl.flock` on runs/<id>/.lock): a killed holder's lock is released with it.
"""

import csv
import json
import os
import signal
import time

import pytest

from eqzoo import fileio
from tests.processes import isolated_environment
from tests.test_train_processes import Process

ARGS = ["--set", "width=8", "--dataset-option", "train_size=128", "--wandb", "disabled",
        "--run-id", "x"]


def wait_until(predicate, process, timeout=240):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.popen.poll() is None, process.err
        assert time.monotonic() < deadline, process.err
        time.sleep(0.1)


def epochs(folder):
    with open(folder / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def assert_refused_naming(process, pid, folder):
    assert process.wait() == 2, process.err
    lines = process.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in process.err, process.err
    assert f"Run {os.path.join('runs', 'x')} is in use by another train.py process (pid {pid}" \
        in lines[0]
    assert f"{folder.name}/.lock" in lines[0]


@pytest.mark.slow
def test_a_second_process_on_a_running_run_refuses_and_the_first_goes_on(tmp_path):
    env = isolated_environment(tmp_path)
    folder = tmp_path / "runs" / "x"
    first = Process(tmp_path, *ARGS, "--epochs", "6", env=env, name="first")
    wait_until(lambda: (folder / "history.csv").exists(), first)
    assert (folder / ".lock").read_text().strip() == str(first.popen.pid)
    assert fileio.lock_holder(str(folder)) == str(first.popen.pid)
    same_id = Process(tmp_path, *ARGS, "--epochs", "6", env=env, name="same-id")
    assert_refused_naming(same_id, first.popen.pid, folder)
    resume = Process(tmp_path, "--resume", os.path.join("runs", "x"), env=env, name="resume")
    assert_refused_naming(resume, first.popen.pid, folder)
    assert first.wait() == 0, first.err
    assert epochs(folder) == list(range(6))
    assert json.loads((folder / "metrics.json").read_text())["epochs_completed"] == 6
    assert fileio.lock_holder(str(folder)) is None


@pytest.mark.slow
def test_a_killed_holders_lock_is_stale_and_the_run_resumes(tmp_path):
    env = isolated_environment(tmp_path)
    folder = tmp_path / "runs" / "x"
    first = Process(tmp_path, *ARGS, "--epochs", "3", env=env, name="first")
    wait_until(lambda: (folder / "backup" / "training_metadata.json").exists(), first)
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait()
    assert (folder / ".lock").read_text().strip() == str(first.popen.pid)  # left behind
    assert fileio.lock_holder(str(folder)) is None  # but released by the OS
    resume = Process(tmp_path, "--resume", os.path.join("runs", "x"), env=env, name="resume")
    assert resume.wait() == 0, resume.err
    assert epochs(folder) == [0, 1, 2]


def test_the_lock_is_exclusive_between_open_files_and_released_on_close(tmp_path):
    held = fileio.lock_folder(str(tmp_path))
    with pytest.raises(fileio.FolderLocked) as locked:
        fileio.lock_folder(str(tmp_path))
    assert locked.value.pid == str(os.getpid())
    assert fileio.lock_holder(str(tmp_path)) == str(os.getpid())
    held.close()
    assert fileio.lock_holder(str(tmp_path)) is None
    fileio.lock_folder(str(tmp_path)).close()
