"""train.py as a user runs it: fresh processes, SIGKILL and resume, Ctrl-C, an unreachable W&B
server, the default run, and two workers on loopback.

Each process gets its own home, W&B, tfds, Keras and matplotlib directories under tmp_path, and
output goes to files (a pipe left unread would block a chatty progress bar).
"""

import json
import os
import re
import signal
import socket
import time

import pytest

from eqzoo import train
from tests.layer_checks import assert_saved_kernels_bitwise_symmetric
from tests.processes import TrainProcess, isolated_environment

TIMEOUT = 240


class Process(TrainProcess):
    """`python train.py ARGS` in tmp_path, its output in files; a run that does not end fails."""

    def __init__(self, tmp_path, *args, env=None, name="train"):
        super().__init__(tmp_path, args, env or isolated_environment(tmp_path), name)

    def wait(self, timeout=TIMEOUT):
        code = super().wait(timeout)
        if code is None:
            raise AssertionError(f"train.py did not finish in {timeout} s:\n{self.err}")
        return code


def wait_for_backup(folder, process, timeout=TIMEOUT):
    """The epoch of the first complete backup (its metadata is written last, after the weights)."""
    path = folder / "backup" / "training_metadata.json"
    deadline = time.monotonic() + timeout
    while True:
        assert process.popen.poll() is None, f"train.py ended early:\n{process.err}"
        assert time.monotonic() < deadline, f"no backup in {folder} after {timeout} s"
        try:
            return json.loads(path.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.02)


def history_epochs(folder):
    lines = (folder / "history.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_default_run_trains_digits_offline_without_an_account(tmp_path):
    started = time.monotonic()
    process = Process(tmp_path)  # `python train.py`, exactly as the README says
    assert process.wait() == 0, process.err
    seconds = time.monotonic() - started
    folder, = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("symmetric_mlp_digits-digits-")
    assert {"config.json", "history.csv", "best.keras", "model.keras", "metrics.json",
            "wandb"} <= {p.name for p in folder.iterdir()}
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test/accuracy"] > 0.9, metrics
    assert metrics["epochs_completed"] == train.DEFAULTS["epochs"]
    wandb_dir = os.path.join("runs", folder.name, "wandb")
    assert f"W&B offline: sync later with `wandb sync {wandb_dir}`" in process.out
    assert "Traceback" not in process.err
    print(f"default run: test accuracy {metrics['test/accuracy']:.4f} in {seconds:.1f} s")


@pytest.mark.slow
def test_refusal_in_a_fresh_process_is_one_line(tmp_path):
    process = Process(tmp_path, "--model", "mlp_wine", "--dataset", "digits")
    assert process.wait() == 2
    assert process.err.splitlines() == [process.err.strip()], process.err
    assert process.err.startswith("train.py: error: Model 'mlp_wine' expects inputs of shape (13,)")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.backends
def test_sigkill_mid_training_then_restart_resumes_from_the_last_epoch(tmp_path):
    args = ["--set", "width=8", "--epochs", "4", "--batch-size", "4", "--run-id", "k",
            "--wandb", "offline"]
    folder = tmp_path / "runs" / "k"
    first = Process(tmp_path, *args, name="first")
    wait_for_backup(folder, first)
    first.popen.send_signal(signal.SIGKILL)
    first.wait()
    assert not (folder / "metrics.json").exists()

    second = Process(tmp_path, *args, name="second")
    assert second.wait() == 0, second.err
    assert "Resuming run" in second.out
    # The kill may land inside a backup write; the checkpoint found is a whole one.
    backed_up = int(re.search(r"Resuming from the backup of epoch (\d)", second.out).group(1))
    assert 1 <= backed_up < 4
    assert "Traceback" not in second.err and "previous checkpoint" not in second.err
    epochs_run = [line for line in second.out.splitlines() if line.startswith("Epoch ")]
    assert epochs_run[0] == f"Epoch {backed_up + 1}/4", epochs_run
    epochs = history_epochs(folder)
    assert epochs == sorted(epochs) and set(epochs) == {0, 1, 2, 3}, epochs
    assert json.loads((folder / "metrics.json").read_text())["epochs_completed"] == 4


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path):
    folder = tmp_path / "runs" / "i"
    process = Process(tmp_path, "--set", "width=8", "--epochs", "50", "--batch-size", "4",
                      "--run-id", "i", "--wandb", "offline")
    wait_for_backup(folder, process)
    process.popen.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130, process.err
    message = process.err.strip().splitlines()[-1]
    assert "interrupted" in message and f"python train.py --resume {os.path.join('runs', 'i')}" \
        in message
    assert "Traceback" not in process.err
    assert_saved_kernels_bitwise_symmetric(folder / "interrupted.keras")
    assert (folder / "backup" / "latest.weights.h5").exists(), "the backup stays for resuming"
    # The W&B run was finished with the exit code, and its offline files are complete.
    wandb_run, = (folder / "wandb").glob("offline-run-*-i")
    assert (wandb_run / "run-i.wandb").stat().st_size > 0 and (wandb_run / "files").is_dir()
    debug = (wandb_run / "logs" / "debug.log").read_text()
    assert "finishing run" in debug and "exitcode: 130" in debug

    backed_up = json.loads((folder / "backup" / "training_metadata.json").read_text())["epoch"]
    resumed = Process(tmp_path, "--resume", "runs/i", "--epochs", str(backed_up + 1),
                      name="resumed")
    assert resumed.wait() == 0, resumed.err
    assert [line for line in resumed.out.splitlines() if line.startswith("Epoch ")] == [
        f"Epoch {backed_up + 1}/{backed_up + 1}"]
    assert (folder / "metrics.json").exists()


@pytest.mark.slow
def test_unreachable_wandb_server_does_not_stop_training(tmp_path):
    env = isolated_environment(tmp_path, WANDB_MODE="online", WANDB_API_KEY="x" * 40,
                                 WANDB_BASE_URL=f"http://127.0.0.1:{free_port()}",
                                 EQZOO_WANDB_INIT_TIMEOUT="5")
    process = Process(tmp_path, "--set", "width=8", "--epochs", "1", "--run-id", "u", env=env)
    assert process.wait() == 0, process.err
    assert "train.py: warning: W&B online failed" in process.err
    assert "trying offline" in process.err
    folder = tmp_path / "runs" / "u"
    assert (folder / "metrics.json").exists()
    assert list((folder / "wandb").glob("offline-run-*-u/run-u.wandb"))


@pytest.mark.slow
def test_two_workers_on_loopback_end_with_identical_symmetric_weights(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    workers = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            env = isolated_environment(tmp_path, TF_CONFIG=tf_config, TMPDIR=str(tmp_path))
            workers.append(Process(tmp_path, "--strategy", "multiworker", "--set", "width=8",
                                   "--epochs", "2", "--run-id", "mw", "--wandb", "disabled",
                                   env=env, name=f"worker{index}"))
        codes = [worker.wait(timeout=180) for worker in workers]
    finally:
        for worker in workers:
            if worker.popen.poll() is None:
                worker.popen.kill()
                worker.popen.wait()
    assert codes == [0, 0], [worker.err[-2000:] for worker in workers]
    digests = [line for worker in workers for line in worker.out.splitlines()
               if line.startswith("Final weights sha256")]
    assert len(digests) == 2 and digests[0] == digests[1], digests
    assert digests[0].endswith("max |W - W^T| over symmetric layers: 0")
    assert "Worker 1: not the chief" in workers[1].out
    assert not list(tmp_path.glob("eqzoo-mw-worker-*")), "the worker removes its scratch folder"
    folder = tmp_path / "runs" / "mw"
    config = json.loads((folder / "config.json").read_text())
    assert config["replicas"] == 2 and config["strategy"] == "multiworker"
    assert_saved_kernels_bitwise_symmetric(folder / "model.keras")
