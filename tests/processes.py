"""train.py in a fresh process, as a user runs it, kept apart from the caller's accounts and caches.

What the process tests (tests/test_train_processes.py) and the fault-injection benchmark
(benchmarks/bench_faults.py) share: an environment whose home, W&B, tensorflow-datasets, Keras
and matplotlib folders lie under a scratch folder, with no W&B login to read; and `TrainProcess`,
one `python train.py ARGS` with its output in files (a pipe left unread would block a chatty
progress bar); with `checkpoint_delay`, every backup write of that process pauses at each of its
steps (`checkpoints.Backup._pause`, patched in the child), widening the window in which a signal
lands inside one.

    process = TrainProcess(scratch, ["--epochs", "1"], isolated_environment(scratch))
    code = process.wait(timeout=240)  # None when it had not ended and was killed
    print(process.out, process.err)
"""

import os
import subprocess
import sys
import time

TRAIN_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "train.py")
# `python -c SLOW_BACKUP DELAY train.py ARGS`: train.py as a script, each backup-write step slowed.
# --backend is applied first, as train.py does, since importing checkpoints imports Keras.
SLOW_BACKUP = """
import os, runpy, sys, time
delay, sys.argv = float(sys.argv[1]), sys.argv[2:]
from eqzoo.distribute import BACKENDS, backend_from_argv
if backend_from_argv(sys.argv[1:]) in BACKENDS:
    os.environ["KERAS_BACKEND"] = backend_from_argv(sys.argv[1:])
from eqzoo import checkpoints
checkpoints.Backup._pause = lambda self: time.sleep(delay)
runpy.run_path(sys.argv[0], run_name="__main__")
"""
# The variables of the folders a run writes outside its run folder.
SCRATCH_FOLDERS = {"HOME": "home", "WANDB_DIR": "wandb", "WANDB_CACHE_DIR": "wandb-cache",
                   "WANDB_CONFIG_DIR": "wandb-config", "WANDB_DATA_DIR": "wandb-data",
                   "TFDS_DATA_DIR": "tfds", "KERAS_HOME": "keras", "MPLCONFIGDIR": "matplotlib"}


def isolated_environment(scratch, **extra):
    """The caller's environment without its W&B, TensorFlow and eqzoo settings, every folder of
    `SCRATCH_FOLDERS` created under `scratch/env/`, W&B silent; then `extra` on top."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("WANDB_", "TF_", "EQZOO_")) and key != "NETRC"}
    for variable, folder in SCRATCH_FOLDERS.items():
        env[variable] = os.path.join(scratch, "env", folder)
        os.makedirs(env[variable], exist_ok=True)
    env["NETRC"] = os.path.join(scratch, "env", "no-netrc")  # never read a real W&B login
    env["WANDB_SILENT"] = "true"
    env.update(extra)
    return env


class TrainProcess:
    """`python train.py ARGS` started in `folder` with `env`; its output goes to
    `folder/NAME.out` and `folder/NAME.err`. `checkpoint_delay`: seconds each step of a backup
    write pauses (None: not slowed)."""

    def __init__(self, folder, args, env, name="train", checkpoint_delay=None):
        self.out_path = os.path.join(folder, f"{name}.out")
        self.err_path = os.path.join(folder, f"{name}.err")
        slowed = [] if checkpoint_delay is None else ["-c", SLOW_BACKUP, str(checkpoint_delay)]
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.popen = subprocess.Popen([sys.executable, *slowed, TRAIN_SCRIPT, *args],
                                          cwd=folder, env=env, stdout=out, stderr=err)
        self.started = time.monotonic()

    def wait(self, timeout):
        """The exit code; None when the process had not ended after `timeout` seconds (it is then
        killed and reaped)."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            return None

    @property
    def out(self):
        return _read(self.out_path)

    @property
    def err(self):
        return _read(self.err_path)


def _read(path):
    with open(path, errors="replace") as f:
        return f.read()
