"""A run folder: config.json, metrics.json and history.csv, as train.py writes and reads them.

Standard library only, so reading a run's results needs no TensorFlow. A file that cannot be used
raises `BrokenRunFile`, whose message names the file and says what to do.

    config, metrics, history = read_run("runs/<id>")  # metrics is {} while the run is unfinished
    losses = [float(row["val_loss"]) for row in read_history("runs/<id>/history.csv")]
"""

import csv
import datetime
import json
import math
import os
import re
import secrets
import subprocess

from eqzoo.checks import read_json
from eqzoo.fileio import write_json
from eqzoo.messages import UsageError, first_line

# A run's backup means nothing under other values of these, so resuming keeps them.
MUST_MATCH_ON_RESUME = ("model", "dataset", "dataset_options", "overrides", "batch_size",
                        "learning_rate", "optimizer", "lr_schedule", "seed")


class BrokenRunFile(Exception):
    """A run-folder file that cannot be used; the message names it and says what to do."""


def read_run(path):
    """A run folder's config, final metrics ({} while unfinished) and history rows; a broken
    file raises `BrokenRunFile` naming it."""
    loaded = {}
    for name in ("config.json", "metrics.json"):
        file = os.path.join(path, name)
        if name == "metrics.json" and not os.path.exists(file):
            loaded[name] = {}
            continue
        try:
            with open(file) as f:
                loaded[name] = json.load(f)
        except (OSError, ValueError) as error:
            raise BrokenRunFile(f"{file} is not readable JSON ({first_line(error)}); restore or "
                                "delete that file") from None
        if not isinstance(loaded[name], dict):
            raise BrokenRunFile(f"{file} holds a {type(loaded[name]).__name__}, expected a JSON "
                                "object; restore or delete that file")
    history = read_history(os.path.join(path, "history.csv"))
    return loaded["config.json"], loaded["metrics.json"], history


# ----------------------------------------------------------------------------------------------
# history.csv (Keras' CSVLogger, appended to by every resume)
# ----------------------------------------------------------------------------------------------
def parse_history(path):
    """`(rows, problems)`: one row per epoch (a repeated epoch keeps its last row), and one
    `"line N: ..."` per line that is not a history row."""
    if not os.path.exists(path):
        return [], []
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    if not lines:
        return [], []
    header, problems, rows = lines[0], [], {}
    if not header or header[0] != "epoch":
        return [], [f"line 1 is not a header starting with 'epoch' ({_echo(lines[0])})"]
    for number, cells in enumerate(lines[1:], start=2):
        if not cells:
            continue
        try:
            if len(cells) != len(header):
                raise ValueError(f"{len(cells)} fields, the header has {len(header)}")
            epoch = int(cells[0])
            if epoch < 0:
                raise ValueError("negative epoch")
            for cell in cells[1:]:
                if cell:
                    float(cell)
        except ValueError as error:
            problems.append(f"line {number} is not a history row ({_echo(cells)}: {error})")
            continue
        rows[epoch] = dict(zip(header, cells, strict=True))
    return [rows[epoch] for epoch in sorted(rows)], problems


def _echo(cells):
    text = ",".join(cells)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def read_history(path):
    """The rows of a history.csv, one per epoch; raises `BrokenRunFile` on a line that is not."""
    rows, problems = parse_history(path)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BrokenRunFile(f"{path}: {problems[0]}{more}; fix or delete that line (resuming "
                            "the run drops it).")
    return rows


# ----------------------------------------------------------------------------------------------
# Starting a run folder
# ----------------------------------------------------------------------------------------------
def default_run_id(config):
    if os.environ.get("WANDB_SWEEP_ID") and os.environ.get("WANDB_RUN_ID"):
        return os.environ["WANDB_RUN_ID"]  # a W&B sweep agent chose it
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    prefix, colon, path = config["dataset"].partition(":")  # csv:/long/path/x.csv -> csv_x.csv
    dataset = f"{prefix}_{os.path.basename(os.path.normpath(path))}" if colon else prefix
    dataset = re.sub(r"[^A-Za-z0-9_.-]", "_", dataset)
    return f"{config['model']}-{dataset}-{stamp}-{secrets.token_hex(2)}"


def prepare_run_folder(folder, config):
    """A new folder, or an unfinished run of the same config, which BackupAndRestore resumes."""
    saved_path = os.path.join(folder, "config.json")
    if os.path.exists(os.path.join(folder, "metrics.json")):
        raise UsageError(f"Run {folder} already finished (it has metrics.json); "
                         "choose another --run-id.")
    if os.path.exists(saved_path):
        # A run from before an argument was renamed (tied -> constrained) resumes as the same run.
        from eqzoo import zoo  # the renames live beside the architectures

        saved = zoo.rename_run_config(read_json(saved_path, "--run-id"))
        changed = [key for key in MUST_MATCH_ON_RESUME if saved.get(key) != config[key]]
        if changed:
            what = "; ".join(f"{key}: {saved.get(key)!r} -> {config[key]!r}" for key in changed)
            raise UsageError(f"Run {folder} exists with different {', '.join(changed)} ({what}); "
                             "resume it unchanged with --resume, or choose another --run-id.")
        print(f"Resuming run {folder}")
    os.makedirs(folder, exist_ok=True)
    write_json(saved_path, config)


def record_config(config, preset, info, model, replicas):
    """Adds to the resolved config what the run folder and W&B record beside it: the task, the
    preset's config and metadata, the dataset's info, the parameter counts, the versions and the
    git state. Needs the training stack, which the caller has imported."""
    import platform

    import keras
    import numpy as np
    import wandb

    from eqzoo.distribute import import_tensorflow

    tf = import_tensorflow()
    config.update(
        task=preset["metadata"]["task"],
        preset_config=preset["config"],
        model_config={**preset["config"], **config["overrides"]},
        preset_metadata={k: v for k, v in preset["metadata"].items() if k != "weights"},
        dataset_info=info.to_dict(),
        parameters={"total": model.count_params(),
                    "trainable": sum(math.prod(w.shape) for w in model.trainable_weights)},
        replicas=replicas,
        backend=keras.backend.backend(),
        versions={"python": platform.python_version(), "tensorflow": tf.__version__,
                  "keras": keras.__version__, "numpy": np.__version__, "wandb": wandb.__version__},
        git=git_state(),
    )


def print_config(config):
    print("Resolved config:")
    for key, value in config.items():
        print(f"  {key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")


def git_state():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                 cwd=here, capture_output=True, text=True, timeout=10,
                                 check=True).stdout
        return {"commit": commit, "dirty": bool(changes.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def best_val_loss(history_path):
    """The best val_loss already in a resumed run, so that best.keras only ever improves."""
    values = [float(row["val_loss"]) for row in read_history(history_path) if row.get("val_loss")]
    return min((value for value in values if math.isfinite(value)), default=None)
