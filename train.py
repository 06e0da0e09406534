"""The shared training loop: any zoo preset on any compatible dataset, with a run folder and W&B.

    python train.py                              # symmetric_mlp_digits on digits, under a minute
    python train.py --model mlp_digits --seed 1  # its unconstrained twin
    python train.py --model symmetric_mlp_wine --set width=16 --epochs 50 --wandb-group twins
    python train.py --resume runs/<id>           # continue a killed or interrupted run
    python train.py --compare runs/*             # side by side, plus a PNG of validation curves

Read top to bottom: DEFAULTS; the command line; the resolved config (DEFAULTS, preset, --config
file, flags, --set); the model and the dataset, looked up by name and checked to fit; W&B; one
`fit` with Keras callbacks; the final evaluation and files. No model has a branch of its own: the
preset's task chooses loss and metrics. The command line, the run folder and the environment are
checked before TensorFlow is imported, so a usage error answers at once with exit code 2.
"""

import argparse
import ast
import contextlib
import copy
import datetime
import difflib
import io
import json
import logging
import math
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from eqzoo.runs import BrokenRunFile, read_history, read_run

BACKENDS = ("tensorflow", "jax", "torch")


def backend_from_argv(argv):
    """The value of `--backend X` or `--backend=X` in `argv`, or None."""
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.partition("=")[2]
    return None


# Keras reads KERAS_BACKEND once, when it is first imported: --backend must act before that.
if backend_from_argv(sys.argv[1:]) in BACKENDS and "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = backend_from_argv(sys.argv[1:])


@contextlib.contextmanager
def _native_stderr_muted():
    """TensorFlow's C++ start-up logs (oneDNN, CUDA probing) go straight to file descriptor 2,
    whatever TF_CPP_MIN_LOG_LEVEL says, and would bury a one-line error. Python errors show."""
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# ----------------------------------------------------------------------------------------------
# Defaults: every training setting in one place; the preset supplies the model's own config.
# ----------------------------------------------------------------------------------------------
DEFAULTS = {
    "model": "symmetric_mlp_digits",
    "dataset": None,  # None: the first dataset the preset lists (digits for the default model)
    "dataset_options": {},  # source-specific, e.g. {"num_examples": 256} for synthetic sets
    "overrides": {},  # preset config values (--set key=value), type-checked against the preset
    "epochs": 20,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "optimizer": "adam",  # adam | adamw | sgd (momentum 0.9)
    "lr_schedule": "constant",  # constant | cosine (to 0 at the last step)
    "early_stopping": 0,  # patience in epochs on val_loss, best weights restored; 0 = off
    "seed": 0,
    "run_dir": "runs",
    "run_id": None,  # None: "<model>-<dataset>-<YYYYmmdd-HHMMSS>-<4 hex>"
    "strategy": "default",  # default | mirrored | multiworker (TF_CONFIG) | data_parallel (JAX)
    "data_dir": None,  # tensorflow-datasets data directory
    "download": False,  # let tensorflow-datasets download a set that is not prepared
    "wandb_mode": "auto",  # auto | online | offline | disabled
    "wandb_project": "eqzoo",
    "wandb_entity": None,
    "wandb_group": None,
    "wandb_tags": [],
}
CHOICES = {
    "optimizer": ("adam", "adamw", "sgd"),
    "lr_schedule": ("constant", "cosine"),
    "strategy": ("default", "mirrored", "multiworker", "data_parallel"),
    "wandb_mode": ("auto", "online", "offline", "disabled"),
}
INT32_MAX = 2**31 - 1
# Integer settings: [minimum, maximum]. NumPy's legacy seeding (keras.utils.set_random_seed)
# takes seeds below 2**32; tf.data counts epochs and batch sizes in int64, far beyond these.
INTEGER_RANGE = {"epochs": (1, INT32_MAX), "batch_size": (1, INT32_MAX),
                 "early_stopping": (0, INT32_MAX), "seed": (0, 2**32 - 1)}
# A run's backup means nothing under other values of these, so resuming keeps them.
MUST_MATCH_ON_RESUME = ("model", "dataset", "dataset_options", "overrides", "batch_size",
                        "learning_rate", "optimizer", "lr_schedule", "seed")
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=-]{0,127}")  # W&B ids forbid / : # ? etc.
RUN_ID_EXPECTED = ("1 to 128 characters, letters, digits and _ . = - only, starting with a "
                   "letter or digit")
# What W&B itself accepts in WANDB_MODE (wandb.Settings.mode).
WANDB_ENV_MODES = ("online", "offline", "disabled", "dryrun", "run", "shared")
# datasets.load arguments that train.py passes itself: a --dataset-option must not repeat them.
LOAD_ARGUMENTS = {"name": "--dataset", "batch_size": "--batch-size", "seed": "--seed",
                  "reconstruction": "the preset's task", "data_dir": "--data-dir",
                  "download": "--download"}
WANDB_INIT_TIMEOUT = float(os.environ.get("EQZOO_WANDB_INIT_TIMEOUT", 20))
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


# ----------------------------------------------------------------------------------------------
# The training stack: NumPy, TensorFlow, Keras, W&B and the zoo (which imports Keras) take seconds
# to import, so they come in once the command line has been checked and there is work to do.
# ----------------------------------------------------------------------------------------------
TRAINING_STACK = ("np", "tf", "keras", "wandb", "WandbMetricsLogger", "datasets", "zoo",
                  "symmetry_residuals", "EquivarianceMonitor", "log_model_artifacts",
                  "checkpoints")


def import_training_stack():
    """Imports NumPy, TensorFlow, Keras, W&B, the datasets and the zoo into this module."""
    global np, tf, keras, wandb, WandbMetricsLogger, datasets, zoo, symmetry_residuals
    global EquivarianceMonitor, log_model_artifacts, weights_digest, checkpoints
    global TASK_LOSS_AND_METRICS, OPTIMIZERS
    if "OPTIMIZERS" in globals():
        return
    import numpy as np

    with _native_stderr_muted():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # later C++ logs do obey it
        import tensorflow as tf
    import keras
    import wandb
    from wandb.integration.keras import WandbMetricsLogger

    from eqzoo import checkpoints, datasets, zoo
    from eqzoo.layers.equivariance_monitor import EquivarianceMonitor
    from eqzoo.layers.inspection import symmetry_residuals
    from eqzoo.zoo.artifacts import log_model_artifacts, weights_digest

    # tensorflow-datasets warns through absl about what the refusals say in one line.
    logging.getLogger("absl").setLevel(logging.ERROR)
    # Last: its names mark the stack as imported. The task decides loss and metrics.
    from eqzoo.zoo.tasks import OPTIMIZERS, TASK_LOSS_AND_METRICS


def __getattr__(name):
    """`train.wandb`, `train.checkpoints`: the stack, imported on first use (tests patch it)."""
    if name in TRAINING_STACK:
        import_training_stack()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UsageError(Exception):
    """A bad flag, value, name or combination: one line and exit code 2, before any training."""


class Interrupted(Exception):
    """Raised where a run can stop cleanly after a Ctrl-C (see `Interrupts`)."""


class Interrupts:
    """SIGINT for one run. Until `defer` (no run folder yet, nothing to save) a SIGINT raises
    KeyboardInterrupt at once. After it, the first SIGINT only sets a flag that `check` turns
    into `Interrupted` between batches and between the final steps: no library in between can
    swallow it, and no file is cut in half. A second SIGINT raises KeyboardInterrupt at once."""

    def __init__(self):
        self.count, self.folder, self.deferred, self.previous = 0, None, False, None

    def install(self):
        with contextlib.suppress(ValueError):  # not the main thread: Python's default stays
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def uninstall(self):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def defer(self, folder):
        if self.count:  # a Ctrl-C during set-up that some library caught and ignored
            raise KeyboardInterrupt
        self.deferred, self.folder = True, folder

    def _handle(self, signum, frame):
        self.count += 1
        if not self.deferred or self.count > 1:
            raise KeyboardInterrupt
        # os.write, not print: the handler may run in the middle of a print to stderr.
        try:
            fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):  # a notebook's or a test's stderr object
            fd = 2
        os.write(fd, b"\ntrain.py: Ctrl-C: stopping at the next batch and "
                 b"saving (press it again to stop at once).\n")

    def check(self):
        if self.count:
            raise Interrupted


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def build_parser():
    d = DEFAULTS
    p = _Parser(
        prog="train.py", description=__doc__.split("\n\n")[0], allow_abbrev=False,
        argument_default=argparse.SUPPRESS,  # a flag overrides only when given
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Overrides apply in order: DEFAULTS, preset, --config FILE, flags, --set.\n"
               "A run folder runs/<id>/ holds config.json, history.csv, best.keras, model.keras,\n"
               "metrics.json, backup/ while training and wandb/ (offline runs: `wandb sync "
               "runs/<id>/wandb`).")
    what = p.add_argument_group("what to train")
    what.add_argument("--model", help=f"a preset, see --list-models (default: {d['model']})")
    what.add_argument("--dataset", help="a dataset, see --list-datasets, or csv:PATH, npz:PATH, "
                      "images:DIR (default: the first one the preset lists)")
    what.add_argument("--set", dest="set_items", action="append", metavar="KEY=VALUE",
                      help="override a preset config value, e.g. --set width=16 --set "
                      "input_shape=[64]; JSON or a Python literal, type-checked; repeatable")
    what.add_argument("--dataset-option", dest="dataset_option_items", action="append",
                      metavar="KEY=VALUE",
                      help="a dataset option, e.g. num_examples=256; repeatable")
    what.add_argument("--config", metavar="FILE",
                      help="a JSON file of DEFAULTS keys, applied before the flags")
    what.add_argument("--data-dir", dest="data_dir", help="tensorflow-datasets data directory")
    what.add_argument("--download", action="store_true",
                      help="let tensorflow-datasets download a set that is not prepared")
    how = p.add_argument_group("how to train")
    how.add_argument("--epochs", type=int, help=f"(default: {d['epochs']})")
    how.add_argument("--batch-size", dest="batch_size", type=int,
                     help=f"(default: {d['batch_size']})")
    how.add_argument("--learning-rate", "--lr", dest="learning_rate", type=float,
                     help=f"(default: {d['learning_rate']})")
    how.add_argument("--optimizer", help=f"{' | '.join(CHOICES['optimizer'])} "
                     f"(default: {d['optimizer']})")
    how.add_argument("--lr-schedule", dest="lr_schedule",
                     help=f"{' | '.join(CHOICES['lr_schedule'])} (default: {d['lr_schedule']})")
    how.add_argument("--early-stopping", dest="early_stopping", type=int, metavar="PATIENCE",
                     help="stop after PATIENCE epochs without a better val_loss (default: 0, off)")
    how.add_argument("--seed", type=int, help=f"(default: {d['seed']})")
    how.add_argument("--strategy", help="default | mirrored (all local devices) | multiworker "
                     "(MultiWorkerMirroredStrategy configured by TF_CONFIG), both TensorFlow | "
                     "data_parallel (keras.distribution.DataParallel over local devices, JAX)")
    how.add_argument("--backend", help=f"the Keras backend: {' | '.join(BACKENDS)} (default: "
                     "KERAS_BACKEND, else tensorflow); set before Keras is imported")
    run = p.add_argument_group("run folder and W&B")
    run.add_argument("--run-dir", dest="run_dir",
                     help=f"where run folders go (default: {d['run_dir']})")
    run.add_argument("--run-id", dest="run_id", help="the run's id, also its W&B id; the id of an "
                     "unfinished run resumes it (default: generated)")
    run.add_argument("--resume", metavar="RUN_FOLDER",
                     help="resume an unfinished run with its saved config")
    run.add_argument("--wandb", dest="wandb_mode", help="auto (WANDB_MODE if set, else online "
                     "when logged in, else offline) | online | offline | disabled (default: auto)")
    run.add_argument("--wandb-project", dest="wandb_project",
                     help=f"(default: {d['wandb_project']})")
    run.add_argument("--wandb-entity", dest="wandb_entity")
    run.add_argument("--wandb-group", dest="wandb_group", help="a group to compare runs in W&B")
    run.add_argument("--wandb-tags", dest="wandb_tags", metavar="TAG,TAG",
                     type=lambda text: [tag for tag in text.split(",") if tag])
    instead = p.add_argument_group("instead of training")
    instead.add_argument("--list-models", nargs="?", const="*", metavar="PATTERN",
                         help="list the presets (matching a wildcard) and exit")
    instead.add_argument("--list-datasets", nargs="?", const="*", metavar="PATTERN",
                         help="list the datasets (matching a wildcard) and exit")
    instead.add_argument("--card", metavar="NAME",
                         help="print the preset's model card (Markdown) and exit")
    instead.add_argument("--compare", nargs="+", metavar="RUN_FOLDER",
                         help="print runs side by side and plot their validation curves")
    instead.add_argument("--plot", metavar="PNG", help="where --compare puts its plot "
                         "(default: compare.png beside the first run folder)")
    instead.add_argument("--export", metavar="RUN_FOLDER", help="export a finished run's model "
                         "for serving and verify it on the run's validation split (see --format)")
    instead.add_argument("--format", dest="export_format", metavar="FORMAT",
                         help=f"what --export writes: {' | '.join(EXPORT_FORMATS)}")
    instead.add_argument("--export-dir", dest="export_dir", metavar="DIR",
                         help="where --export writes (default: RUN_FOLDER/export/FORMAT)")
    return p


def parse_assignments(items, flag):
    """`["width=16", "input_shape=[64]"]` -> `{"width": 16, "input_shape": [64]}`."""
    parsed = {}
    for item in items or []:
        key, equals, text = item.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"{flag} expects KEY=VALUE. Received: {short(item)}")
        parsed[key.strip()] = parse_value(text)
    return parsed


def parse_value(text):
    for parse in (json.loads, ast.literal_eval, float):  # float: nan, inf, 1e999 too
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    return text  # a bare word such as relu


# ----------------------------------------------------------------------------------------------
# Config: DEFAULTS -> preset -> --config file -> flags -> --set, each value checked
# ----------------------------------------------------------------------------------------------
def resolve_config(args):
    config = copy.deepcopy(DEFAULTS)
    given = vars(args)
    if "resume" in given:
        folder = os.path.normpath(given["resume"])
        saved = read_config_file(os.path.join(folder, "config.json"), "--resume")
        config.update({key: check_value(key, saved[key], f" in {folder}/config.json")
                       for key in DEFAULTS if key in saved})
        run_dir, config["run_id"] = os.path.split(folder)
        config["run_dir"] = run_dir or "."
    if "config" in given:
        from_file = read_config_file(given["config"], "--config")
        reject_unknown(from_file, DEFAULTS, f"key(s) in {given['config']}",
                       "Its keys are DEFAULTS' (see --help); preset values go under \"overrides\"")
        config.update({key: check_value(key, value, f" in {given['config']}")
                       for key, value in from_file.items()})
    config.update({key: given[key] for key in DEFAULTS if key in given})
    config["overrides"] = {**config["overrides"],
                           **parse_assignments(given.get("set_items"), "--set")}
    config["dataset_options"] = {**config["dataset_options"], **parse_assignments(
        given.get("dataset_option_items"), "--dataset-option")}
    check_config(config)
    check_environment(config)

    import_training_stack()  # the command line is sound: now the zoo and the data
    preset = zoo.get_preset(config["model"])  # an unknown name lists the closest ones
    if config["dataset"] is None:
        if not preset["metadata"]["datasets"]:
            raise UsageError(f"Model {config['model']!r} lists no dataset: pass --dataset NAME.")
        config["dataset"] = preset["metadata"]["datasets"][0]
    try:  # every argument's declared type and range (zoo/arguments.py), set by the preset or not
        config["overrides"] = zoo.registry.check_arguments(config["model"], config["overrides"])
    except ValueError as error:
        raise UsageError(f"--set: {error}") from None
    check_model_memory(config)
    return config, preset


def check_config(config):
    """Each value has its default's type (a None default takes a string) and lies in range."""
    for key, value in config.items():
        config[key] = check_value(key, value)


def check_value(key, value, where=""):
    default = DEFAULTS[key]
    expected = str if default is None else type(default)
    if expected is float and type(value) is int:
        value = float(value)
    ok = (value is None and default is None) or (
        isinstance(value, expected) and isinstance(value, bool) == isinstance(default, bool))
    if ok and key in CHOICES:
        ok, expected = value in CHOICES[key], " | ".join(CHOICES[key])
    elif ok and key in INTEGER_RANGE:
        low, high = INTEGER_RANGE[key]
        ok, expected = low <= value <= high, f"an integer in [{low}, {high}]"
    elif ok and key == "learning_rate":
        ok, expected = 0 < value < math.inf, "a positive finite number"
    elif ok and key == "wandb_tags":
        ok, expected = all(isinstance(tag, str) for tag in value), "a list of strings"
    elif ok and key == "run_id" and value is not None:
        ok, expected = RUN_ID_PATTERN.fullmatch(value), RUN_ID_EXPECTED
    if not ok:
        expected = {dict: "a JSON object", list: "a list", int: "an integer", float: "a number",
                    str: "a string", bool: "true or false"}.get(expected, expected)
        expected = getattr(expected, "__name__", expected)
        raise UsageError(f"Invalid value for `{key}`{where}: expected {expected}. "
                         f"Received: {key}={short(value)}")
    return value


def check_environment(config):
    """What the run needs from outside train.py, checked before any import or file: a run folder
    it can write, TF_CONFIG for multiworker, a WANDB_MODE that W&B knows, and dataset options
    that are finite and do not repeat train.py's own flags."""
    check_run_dir(config)
    # The backend Keras has, or will take from KERAS_BACKEND (which --backend sets) on import.
    backend = (sys.modules["keras"].backend.backend() if "keras" in sys.modules
               else os.environ.get("KERAS_BACKEND", "tensorflow"))
    if config["strategy"] in STRATEGY_BACKENDS and backend in BACKENDS:
        check_strategy_backend(config["strategy"], backend)
    check_tf_config(config["strategy"])
    env_mode = os.environ.get("WANDB_MODE")
    # W&B reads WANDB_MODE whatever mode it is given, and fails on a value it does not know.
    if config["wandb_mode"] != "disabled" and env_mode is not None and (
            env_mode not in WANDB_ENV_MODES):
        raise UsageError(f"WANDB_MODE={short(env_mode)} is not a mode W&B knows: expected one of "
                         f"{', '.join(WANDB_ENV_MODES)} (lower case); set it to one, unset it, "
                         "or pass --wandb disabled.")
    for key, value in config["dataset_options"].items():
        if key in LOAD_ARGUMENTS:
            raise UsageError(f"--dataset-option {key} repeats a setting train.py passes itself; "
                             f"set it with {LOAD_ARGUMENTS[key]}. Received: {key}={short(value)}")
        if not all_finite(value):
            raise UsageError(f"Invalid value for dataset option `{key}`: expected finite numbers. "
                             f"Received: {key}={short(value)}")


def all_finite(value):
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(all_finite(v) for v in value)
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    return True


def check_run_dir(config):
    """The run folder, or its nearest existing parent, must be a folder this process can write
    in: a file, a read-only or unwritable path is refused before any set-up. Writes nothing."""
    run_dir = config["run_dir"]
    path = os.path.abspath(os.path.join(run_dir, config["run_id"] or ""))
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise UsageError(f"Invalid run folder: {path} is a file, not a folder. Received: "
                         f"--run-dir {short(run_dir)}; expected a folder to create runs in.")
    try:  # os.access says yes to root on a read-only file system: try it instead
        handle, probe = tempfile.mkstemp(prefix=".eqzoo-write-check-", dir=path)
    except OSError as error:
        raise UsageError(f"Invalid run folder: cannot write in {path} ({error.strerror}). "
                         f"Received: --run-dir {short(run_dir)}; expected a writable folder.") \
            from None
    os.close(handle)
    os.remove(probe)


def check_tf_config(strategy):
    """`--strategy multiworker` needs TF_CONFIG naming the cluster and this process's task."""
    text = os.environ.get("TF_CONFIG")
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": '
               '{"type": "worker", "index": 0}}\'')
    if strategy != "multiworker":
        if text:
            warn(f"TF_CONFIG is set, but --strategy is {strategy}: this process trains alone "
                 "(pass --strategy multiworker to join the cluster).")
        return
    if not text:
        raise UsageError(f"--strategy multiworker needs TF_CONFIG, the cluster and this "
                         f"worker's task as JSON, e.g. {example}. Received: TF_CONFIG unset.")
    try:
        tf_config = json.loads(text)
    except ValueError as error:
        raise UsageError(f"TF_CONFIG is not JSON ({error}); expected e.g. {example}. Received: "
                         f"TF_CONFIG={short(text)}") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    task = tf_config.get("task") if isinstance(tf_config, dict) else None
    ok = (isinstance(cluster, dict) and cluster and isinstance(task, dict)
          and all(isinstance(hosts, list) and hosts and all(
              isinstance(host, str) and re.fullmatch(r"[^\s:]+:\d+", host) for host in hosts)
              for hosts in cluster.values())
          and task.get("type") in cluster and isinstance(task.get("index"), int)
          and not isinstance(task.get("index"), bool)
          and 0 <= task["index"] < len(cluster[task["type"]]))
    if not ok:
        raise UsageError(f"Malformed TF_CONFIG: expected a \"cluster\" of task types to lists of "
                         f"host:port and this process's \"task\" (a type in the cluster and an "
                         f"index in its list), e.g. {example}. Received: TF_CONFIG={short(text)}")


def check_model_memory(config):
    """Refuses a model whose training state cannot fit in memory, before building it."""
    needed = zoo.registry.estimate_memory(config["model"], **config["overrides"])
    available = datasets.pipeline.available_memory()
    if needed is not None and available is not None and needed > available:
        sizes = ", ".join(f"{key}={short(value, 30)}" for key, value in config["overrides"].items())
        raise UsageError(f"Model {config['model']!r} ({sizes or 'preset config'}) needs at least "
                         f"{needed:,} bytes ({needed / 2**30:.1f} GiB) to train, but "
                         f"{available:,} bytes ({available / 2**30:.1f} GiB) are available; "
                         "expected smaller sizes.")


def reject_unknown(given, known, what, hint):
    unknown = sorted(set(given) - set(known))
    if unknown:
        close = {key: difflib.get_close_matches(key, list(known), n=1) for key in unknown}
        names = ", ".join(f"{key!r} (did you mean {match[0]!r}?)" if match else repr(key)
                          for key, match in close.items())
        raise UsageError(f"Unknown {what}: {names}. {hint}.")


def read_json(path, flag):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"{flag}: cannot read {path}: {error}") from None


def read_config_file(path, flag):
    """A JSON object of DEFAULTS keys; any other JSON value is refused by what it is."""
    data = read_json(path, flag)
    if not isinstance(data, dict):
        kind = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(data), "a number")
        raise UsageError(f"{flag}: {path} must hold a JSON object of DEFAULTS keys, e.g. "
                         f"{{\"epochs\": 5, \"overrides\": {{\"width\": 16}}}}. Received: {kind}, "
                         f"{short(data)}")
    return data


@contextlib.contextmanager
def setup_errors():
    """What zoo/ and datasets/ reject while setting up (names, values, shapes, missing data) is
    the user's to fix: one line, exit code 2."""
    try:
        yield
    except UsageError:
        raise
    except (ValueError, TypeError, KeyError, OSError, ImportError) as error:
        raise UsageError(error) from None


# ----------------------------------------------------------------------------------------------
# Joining a model and a dataset: refuse what does not fit, before any training
# ----------------------------------------------------------------------------------------------
def check_fit(config, preset, info, model):
    name, dataset, task = config["model"], config["dataset"], preset["metadata"]["task"]
    listed = [m for m in zoo.list_models() if dataset in zoo.get_preset(m)["metadata"]["datasets"]
              and zoo.get_preset(m)["metadata"]["task"] == info.task]
    others = (f"pick a {info.task} model listed for {dataset!r}: {', '.join(listed)}" if listed
              else f"pick a model from --list-models (none lists {dataset!r} for {info.task})")
    if task != info.task:
        raise UsageError(f"Model {name!r} is a {task} model but dataset {dataset!r} is a "
                         f"{info.task} task; {others}.")
    arguments = zoo.registry.architecture_arguments(preset["architecture"])
    expects, gives = tuple(model.input_shape[1:]), tuple(info.input_shape)
    if expects != gives:
        fix = f"pass --set input_shape={compact(gives)}, or " if "input_shape" in arguments else ""
        raise UsageError(f"Model {name!r} expects inputs of shape {expects} but dataset "
                         f"{dataset!r} gives {gives}: {fix}{others}.")
    outputs, needs = tuple(model.output_shape[1:]), tuple(info.output_shape)
    if outputs != needs:
        can_set = "num_outputs" in arguments and len(needs) == 1
        fix = f"pass --set num_outputs={needs[0]}, or " if can_set else ""
        classes = f" ({info.num_classes} classes)" if info.num_classes else ""
        raise UsageError(f"Model {name!r} outputs shape {outputs} but dataset {dataset!r} needs "
                         f"{needs}{classes}: {fix}{others}.")


def compact(shape):
    """`(8, 8, 1)` -> `[8,8,1]`, which pastes into a shell without quotes."""
    return json.dumps(list(shape), separators=(",", ":"))


# Which --strategy runs on which backend; the others are refused before anything is loaded.
STRATEGY_BACKENDS = {"default": BACKENDS, "mirrored": ("tensorflow",),
                     "multiworker": ("tensorflow",), "data_parallel": ("jax",)}


def check_backend(args, strategy):
    backend = keras.backend.backend()
    requested = vars(args).get("backend")
    if requested is not None and requested not in BACKENDS:
        raise UsageError(f"Invalid value for `backend`: expected {' | '.join(BACKENDS)}. "
                         f"Received: backend={requested!r}")
    if requested is not None and requested != backend:
        raise UsageError(f"--backend {requested} came after Keras was imported with the {backend} "
                         f"backend; run train.py as a script, or set KERAS_BACKEND={requested}.")
    check_strategy_backend(strategy, backend)


def check_strategy_backend(strategy, backend):
    if backend not in STRATEGY_BACKENDS[strategy]:
        instead = {"tensorflow": "mirrored", "jax": "data_parallel"}.get(backend)
        hint = f"use --strategy {instead}" if instead else "use --strategy default"
        backends = STRATEGY_BACKENDS[strategy]
        raise UsageError(f"--strategy {strategy} runs on the {' or '.join(backends)} backend "
                         f"only, and this run uses {backend}: {hint}, or pass --backend "
                         f"{backends[0]}.")


def even_batches(splits, info, batch_size, replicas):
    """DataParallel splits every batch evenly over the devices: drop each split's uneven tail."""
    if batch_size % replicas:
        raise UsageError(f"--strategy data_parallel splits each batch over {replicas} devices, so "
                         f"--batch-size must be a multiple of {replicas}. Received: "
                         f"batch_size={batch_size}")
    sizes = {"train": info.train_size, "val": info.validation_size, "test": info.test_size}
    for name, size in sizes.items():
        if size % batch_size % replicas:
            warn(f"data_parallel: the last {size % batch_size} of {size} {name} examples are left "
                 f"out (a batch must split evenly over {replicas} devices).")
    even = {}
    for name, split in splits.items():
        drop = sizes[name] % batch_size % replicas > 0
        batches = sizes[name] // batch_size + (sizes[name] % batch_size > 0 and not drop)
        even[name] = split.rebatch(batch_size, drop_remainder=drop).apply(
            tf.data.experimental.assert_cardinality(batches))  # rebatch forgets the count
    return even


class KerasDistribution:
    """`keras.distribution` (JAX) in the shape of a tf.distribute strategy: a scope, replicas."""

    def __init__(self, distribution=None, replicas=1):
        self.num_replicas_in_sync = replicas
        if distribution is not None:
            keras.distribution.set_distribution(distribution)

    def scope(self):
        return contextlib.nullcontext()


def make_strategy(name):
    if name == "data_parallel":
        devices = keras.distribution.list_devices()
        return KerasDistribution(keras.distribution.DataParallel(devices=devices), len(devices))
    if keras.backend.backend() != "tensorflow":
        return KerasDistribution()
    if name == "mirrored":
        # Without a GPU, MirroredStrategy() would take CPU:0 alone; mirror over every CPU device.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multiworker":
        return multiworker_mirrored_strategy()
    return tf.distribute.get_strategy()


def multiworker_mirrored_strategy():
    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """Works around Keras 3's `fit` across workers (keras-team/keras#20585): it reduces a
        whole `(x, y)` batch in one call, and scalar logs along `axis=0`. Reduce tensor by
        tensor, and scalars as their mean over replicas."""

        def reduce(self, reduce_op, value, axis):
            def reduce_one(v):
                scalar = len(getattr(self.experimental_local_results(v)[0], "shape", ())) == 0
                return super(MultiWorkerMirroredStrategy, self).reduce(
                    reduce_op, v, axis=None if scalar else axis)

            return tf.nest.map_structure(reduce_one, value)

    return MultiWorkerMirroredStrategy()


def is_chief(strategy):
    """The one worker that writes the run folder and W&B: TF_CONFIG's chief, else worker 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type or resolver.task_type == "chief":
        return True
    return (resolver.task_type == "worker" and resolver.task_id == 0
            and "chief" not in resolver.cluster_spec().as_dict())


# ----------------------------------------------------------------------------------------------
# W&B: online when logged in, else offline; a failure downgrades and never stops training
# ----------------------------------------------------------------------------------------------
def wandb_logged_in():
    if os.environ.get("WANDB_API_KEY"):
        return True
    with contextlib.redirect_stderr(io.StringIO()):  # wandb.api warns that it is deprecated
        try:
            return bool(wandb.api.api_key)
        except Exception:
            return False


def start_wandb(config, folder):
    mode = config["wandb_mode"]
    if mode == "auto":
        env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
        mode = {"dryrun": "offline", "run": "online"}.get(env_mode, env_mode) or (
            "online" if wandb_logged_in() else "offline")
        if mode not in CHOICES["wandb_mode"]:
            warn(f"W&B: ignoring WANDB_MODE={env_mode!r} (expected online, offline or "
                 "disabled); offline.")
            mode = "offline"
    elif mode == "online" and not wandb_logged_in():
        warn("W&B: online was asked for, but no API key is configured (`wandb login`); offline.")
        mode = "offline"
    if mode == "disabled":
        return None
    for attempt in dict.fromkeys([mode, "offline"]):
        try:
            run = wandb.init(
                project=config["wandb_project"], entity=config["wandb_entity"],
                group=config["wandb_group"], tags=config["wandb_tags"] or None,
                id=config["run_id"], resume="allow", dir=folder, config=config, mode=attempt,
                settings=wandb.Settings(init_timeout=WANDB_INIT_TIMEOUT, silent=True))
        except Exception as error:  # no network, a server error, a timeout, a bad entity...
            then = "trying offline" if attempt == "online" else "continuing without W&B"
            warn(f"W&B {attempt} failed ({first_line(error)}); {then}.")
            with contextlib.suppress(Exception):
                wandb.teardown()  # the failed run would keep its id busy
            continue
        if attempt == "offline":
            print(f"W&B offline: sync later with `wandb sync {os.path.join(folder, 'wandb')}`")
        else:
            print(f"W&B: {getattr(run, 'url', None) or 'online'}")
        return run
    return None


def wandb_call(what, function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except Exception as error:
        warn(f"W&B {what} failed ({first_line(error)}); training goes on.")


def wandb_name(key):
    """Keras log names to W&B's: loss -> train/loss, val_loss -> val/loss; a/b stays."""
    if "/" in key:
        return key
    return f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"


# The two callbacks subclass Keras and W&B classes, so they are defined once those are imported.
def wandb_epoch_logger():
    class WandbEpochLogger(WandbMetricsLogger):
        """W&B's Keras logger, with the names train/*, val/*, symmetry/*, equivariance/*,
        time/* against the epoch."""

        def __init__(self):
            super().__init__(log_freq="epoch")
            for prefix in ("train", "val", "test", "symmetry", "equivariance", "time"):
                wandb.define_metric(f"{prefix}/*", step_metric="epoch")

        def on_epoch_end(self, epoch, logs=None):
            logs = {wandb_name(key): value for key, value in (logs or {}).items()}
            logs["epoch"] = epoch + 1
            learning_rate = self._get_lr()
            if learning_rate is not None:
                logs["train/learning_rate"] = learning_rate
            wandb_call("log", wandb.log, logs)

    return WandbEpochLogger()


def symmetry_and_time():
    class SymmetryAndTime(keras.callbacks.Callback):
        """Adds `symmetry/<layer>` = max |W - W^T| (must stay 0) and the epoch's seconds to the
        logs that history.csv, the progress bar and W&B receive."""

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["time/epoch_seconds"] = time.perf_counter() - self.started
                residuals = symmetry_residuals(self.model)
                logs.update({f"symmetry/{name}": value for name, value in residuals.items()})

    return SymmetryAndTime()


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------
def main(argv=None):
    interrupts = Interrupts().install()
    try:
        args = build_parser().parse_args(argv)
        answered = instead_of_training(args)
        return train(args, interrupts) if answered is None else answered
    except (UsageError, BrokenRunFile) as error:
        print(f"train.py: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except (KeyboardInterrupt, Interrupted):
        if interrupts.folder is None:
            print("train.py: interrupted before training started.", file=sys.stderr)
        else:  # a second Ctrl-C: every file written so far is whole, the backup included
            print(f"\ntrain.py: interrupted at once. Resume with: python train.py --resume "
                  f"{interrupts.folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        interrupts.uninstall()


INSTEAD_OF_TRAINING = ("list_models", "list_datasets", "compare", "card", "export",
                       "export_format", "export_dir")


def instead_of_training(args):
    """What the command line asks instead of training, answered with its exit code: listing,
    --compare, --card, --export (the first given, in that order); None when it asks to train."""
    if not set(INSTEAD_OF_TRAINING) & set(vars(args)):
        return None
    import_training_stack()  # the registries live beside the models and pipelines they build
    if "list_models" in args:
        for name in zoo.list_models(args.list_models):
            metadata = zoo.get_preset(name)["metadata"]
            print(f"{name:40s} {metadata['task']:15s} {metadata['description']}")
        return 0
    if "list_datasets" in args:
        for name in datasets.list_datasets(args.list_datasets):
            source, description = datasets.describe(name)
            print(f"{name:20s} {source:20s} {description}")
        print("Any tensorflow-datasets set also loads as tfds:<name> (prepared, or --download); "
              "your own data as csv:PATH, npz:PATH or images:DIR (see README, Datasets).")
        return 0
    if "compare" in args:
        return compare(args.compare, vars(args).get("plot"))
    if "card" in args:
        with setup_errors():
            print(zoo.model_card(args.card))
        return 0
    if "export" in args or "export_format" in args or "export_dir" in args:
        return export_run(vars(args).get("export"), vars(args).get("export_format"),
                          vars(args).get("export_dir"))


def train(args, interrupts):
    """One run of the parsed command line: config, model and data, W&B, fit, the run folder."""
    with setup_errors():
        config, preset = resolve_config(args)
    check_backend(args, config["strategy"])
    task = preset["metadata"]["task"]
    keras.utils.set_random_seed(config["seed"])
    # Multi-worker collectives must be set up before TensorFlow runs any op, data loading too.
    strategy = make_strategy(config["strategy"])

    # Data and model, by name.
    with setup_errors():
        train_split, val_split, test_split, info = datasets.load(
            config["dataset"], batch_size=config["batch_size"], seed=config["seed"],
            reconstruction=task == "reconstruction", data_dir=config["data_dir"],
            download=config["download"], **config["dataset_options"])
    splits = {"train": train_split, "val": val_split, "test": test_split}
    if config["strategy"] == "multiworker":
        # Sets in memory have no files to shard by: shard by example, without the warning.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        splits = {name: split.with_options(options) for name, split in splits.items()}
    if config["strategy"] == "data_parallel":
        splits = even_batches(splits, info, config["batch_size"], strategy.num_replicas_in_sync)
    with strategy.scope():
        with setup_errors():
            model = zoo.create_model(config["model"], **config["overrides"])
            check_fit(config, preset, info, model)
        learning_rate = config["learning_rate"]
        if config["lr_schedule"] == "cosine":
            steps = config["epochs"] * math.ceil(info.train_size / config["batch_size"])
            learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
        make_loss, metrics = TASK_LOSS_AND_METRICS[task]
        model.compile(optimizer=OPTIMIZERS[config["optimizer"]](learning_rate), loss=make_loss(),
                      metrics=metrics)

    # The resolved config, as the run folder and W&B record it.
    config["run_id"] = config["run_id"] or default_run_id(config)
    config.update(
        task=task,
        preset_config=preset["config"],
        model_config={**preset["config"], **config["overrides"]},
        preset_metadata={k: v for k, v in preset["metadata"].items() if k != "weights"},
        dataset_info=info.to_dict(),
        parameters={"total": model.count_params(),
                    "trainable": sum(math.prod(w.shape) for w in model.trainable_weights)},
        replicas=strategy.num_replicas_in_sync,
        backend=keras.backend.backend(),
        versions={"python": platform.python_version(), "tensorflow": tf.__version__,
                  "keras": keras.__version__, "numpy": np.__version__, "wandb": wandb.__version__},
        git=git_state(),
    )
    config = json.loads(json.dumps(config))  # tuples become lists: saved as printed
    chief = is_chief(strategy)
    if chief:
        folder = os.path.join(config["run_dir"], config["run_id"])
        prepare_run_folder(folder, config)
    else:  # every worker saves (saving may need them all), the others into scratch space
        folder = tempfile.mkdtemp(prefix=f"eqzoo-{config['run_id']}-worker-")
        print(f"Worker {strategy.cluster_resolver.task_id}: not the chief, writing to {folder}")
    # From here on a Ctrl-C stops at the next batch or step, saves, and says how to resume.
    interrupts.defer(folder if chief else None)
    print_config(config)
    # An equivariant preset's error is measured each epoch on the first validation batch.
    spec = preset["metadata"].get("equivariance")
    monitor = spec and EquivarianceMonitor(spec["rep_in"], spec["rep_out"],
                                           next(iter(splits["val"]))[0])
    run = None
    try:
        run = start_wandb(config, folder) if chief else None
        return fit_evaluate_save(config, model, splits, monitor, folder, chief, run, strategy,
                                 interrupts)
    except Interrupted:
        return stop_interrupted(model, folder, run, interrupts)


def fit_evaluate_save(config, model, splits, monitor, folder, chief, run, strategy, interrupts):
    """One `fit` resumed from the run's backup, the final evaluation and files. Every file is
    written atomically; the backup stays until metrics.json, which marks the run finished.
    `monitor` measures an equivariant preset's equivariance error each epoch (None otherwise)."""
    history_path = os.path.join(folder, "history.csv")
    backup = checkpoints.Backup(os.path.join(folder, "backup"), note=warn)
    checkpoints.repair_history(history_path, note=warn)
    with strategy.scope():
        resumed = backup.restore(model)
    fitted = bool(resumed) and resumed.get("finished") == config["epochs"]
    if resumed:
        print(f"Resuming from the backup of epoch {resumed['epoch']}"
              + (" (training had finished: evaluating)" if fitted else ""))
    interrupts.check()
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        symmetry_and_time(),
        *([monitor] if monitor else []),
        keras.callbacks.CSVLogger(history_path, append=True),
        # After the history row: a kill between the two repeats an epoch rather than losing one.
        backup,
        checkpoints.BestModelCheckpoint(os.path.join(folder, "best.keras"),
                                        initial_value_threshold=best_val_loss(history_path)),
    ]
    if config["early_stopping"]:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config["early_stopping"], restore_best_weights=True))
    if run is not None:
        try:
            callbacks.append(wandb_epoch_logger())
        except Exception as error:
            warn(f"W&B's Keras logger failed ({first_line(error)}); training goes on without it.")
    # Last: an epoch that ends is backed up, checkpointed if best and logged to W&B before a
    # Ctrl-C stops the run.
    callbacks.append(checkpoints.StopOnInterrupt(interrupts))
    started = time.perf_counter()
    losses = []
    if not fitted:
        history = model.fit(splits["train"], validation_data=splits["val"],
                            epochs=config["epochs"], callbacks=callbacks,
                            shuffle=False)  # the pipeline shuffles, anew each epoch
        losses = history.history.get("loss", [])
    if (losses and not np.isfinite(losses[-1])) or not checkpoints.weights_finite(model):
        return stop_non_finite(config, losses, folder, run)
    interrupts.check()
    backup.mark_finished(config["epochs"])  # a kill from here on resumes at the evaluation

    # Final evaluation and files.
    metrics = {}
    for name, split in splits.items():
        values = model.evaluate(split, verbose=0, return_dict=True,
                                callbacks=[checkpoints.StopOnInterrupt(interrupts)])
        metrics.update({f"{name}/{key}": float(value) for key, value in values.items()})
    residuals = symmetry_residuals(model)
    summary = {
        **metrics,
        **{f"symmetry/{name}": value for name, value in residuals.items()},
        **(monitor.measure() if monitor else {}),
        "epochs_completed": len(read_history(history_path)),
        "optimizer_iterations": checkpoints.optimizer_iterations(model),
        "fit_seconds": time.perf_counter() - started,
        "weights_sha256": weights_digest(model),
    }
    interrupts.check()
    checkpoints.save_model(model, os.path.join(folder, "model.keras"))
    interrupts.check()
    write_json(os.path.join(folder, "metrics.json"), summary)  # the run is finished
    backup.remove()
    if run is not None:  # the test split is evaluated once, at the end, never to choose epochs
        tests = {key: value for key, value in metrics.items() if key.startswith("test/")}
        wandb_call("log", run.log, {"epoch": summary["epochs_completed"], **tests})
        wandb_call("summary", run.summary.update, summary)
        wandb_call("model artifacts", log_model_artifacts, run, config, summary, folder,
                   read_history(history_path))
        wandb_call("finish", run.finish, exit_code=0)
    print("Final: " + "  ".join(f"{key} {value:.4g}" for key, value in metrics.items()))
    symmetry = (f"max |W - W^T| over symmetric layers: {max(residuals.values()):g}" if residuals
                else "no layer claims symmetric matrices")
    print(f"Final weights sha256 {summary['weights_sha256']}; {symmetry}")
    if chief:
        print(f"Run folder: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    if interrupts.count:
        print("train.py: interrupted after the run had finished; its folder is complete.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def stop_non_finite(config, losses, folder, run):
    """A NaN or inf stop: nothing non-finite is saved (best.keras holds the best finite epoch,
    if any), no metrics.json, and W&B's summary says why the run stopped."""
    best = os.path.join(folder, "best.keras")
    epoch = len(losses) if losses else "?"
    if run is not None:
        wandb_call("summary", run.summary.update,
                   {"stopped": "non-finite loss or weights", "stopped_epoch": epoch})
        wandb_call("finish", run.finish, exit_code=EXIT_FAILED)
    kept = (f"the best finite model so far is {best}" if os.path.exists(best)
            else "no epoch ended with finite weights, so no model was saved")
    loss = losses[-1] if losses else "non-finite"
    print(f"train.py: error: the training loss became {loss} in epoch {epoch} and "
          f"TerminateOnNaN stopped the run; try a lower --learning-rate (it was "
          f"{config['learning_rate']:g}); {kept}.", file=sys.stderr)
    return EXIT_FAILED


def stop_interrupted(model, folder, run, interrupts):
    """After a Ctrl-C: the current weights as interrupted.keras (if finite), W&B finished with
    exit code 130, and the resume command; the last epoch's backup is what a resume uses."""
    saved = ""
    if model.optimizer is not None and model.optimizer.built and \
            checkpoints.weights_finite(model):
        path = os.path.join(folder, "interrupted.keras")
        checkpoints.save_model(model, path)
        saved = f"; the model is in {path}"
    if run is not None:
        wandb_call("finish", run.finish, exit_code=EXIT_INTERRUPTED)
    print(f"\ntrain.py: interrupted{saved}. Resume with: python train.py --resume {folder}",
          file=sys.stderr)
    return EXIT_INTERRUPTED


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
        saved = zoo.registry.rename_run_config(read_json(saved_path, "--run-id"))
        changed = [key for key in MUST_MATCH_ON_RESUME if saved.get(key) != config[key]]
        if changed:
            what = "; ".join(f"{key}: {saved.get(key)!r} -> {config[key]!r}" for key in changed)
            raise UsageError(f"Run {folder} exists with different {', '.join(changed)} ({what}); "
                             "resume it unchanged with --resume, or choose another --run-id.")
        print(f"Resuming run {folder}")
    os.makedirs(folder, exist_ok=True)
    write_json(saved_path, config)


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


def write_json(path, data):
    checkpoints.write_json(path, data)  # atomically: a kill leaves the old file or the new


def short(value, limit=60):
    """`repr(value)`, cut to `limit` characters: a huge value is echoed as a prefix."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def one_line(error, longest=200):
    """The message on one line; a word longer than `longest` (a huge value echoed by a library,
    such as an unknown model name) is cut to a prefix."""
    words = str(error).split()
    return " ".join(word if len(word) <= longest else f"{word[:60]}... ({len(word)} characters)"
                    for word in words)


def warn(message):
    print(f"train.py: warning: {message}", file=sys.stderr)


def first_line(error):
    return (str(error).strip() or type(error).__name__).splitlines()[0]


# ----------------------------------------------------------------------------------------------
# Exporting a finished run for serving, verified against it on its own validation split
# ----------------------------------------------------------------------------------------------
EXPORT_FORMATS = {"keras": "model.keras", "saved_model": "saved_model", "tflite": "model.tflite"}
EXPORT_EXAMPLES = 256  # validation examples the artifact is compared on


def export_run(folder, export_format, export_dir=None):
    """Exports a run's model.keras with `zoo.export_model`, checked on the run's own validation
    split (same dataset, options and seed); a mismatch is exit code 1, a bad request 2."""
    if folder is None:
        raise UsageError("--format and --export-dir go with --export RUN_FOLDER.")
    if export_format not in EXPORT_FORMATS:
        given = "none" if export_format is None else f"--format {export_format}"
        raise UsageError(f"--export needs --format {' | '.join(EXPORT_FORMATS)}. "
                         f"Received: {given}")
    config = read_json(os.path.join(folder, "config.json"), "--export")
    missing = [key for key in ("model", "dataset", "dataset_options", "seed", "task", "data_dir")
               if key not in config]
    model_path = os.path.join(folder, "model.keras")
    if missing or not os.path.isfile(model_path):
        lacks = f"config.json lacks {missing}" if missing else "it has no model.keras"
        raise UsageError(f"--export: {folder} is not a finished train.py run ({lacks}).")
    with setup_errors():
        model = keras.saving.load_model(model_path, compile=False)
        _, val_split, _, _ = datasets.load(
            config["dataset"], batch_size=EXPORT_EXAMPLES, seed=config["seed"],
            reconstruction=config["task"] == "reconstruction", data_dir=config["data_dir"],
            **config["dataset_options"])
        inputs = next(iter(val_split))[0].numpy()
        path = os.path.join(export_dir or os.path.join(folder, "export", export_format),
                            EXPORT_FORMATS[export_format])
        try:
            zoo.export_model(model, path, export_format, validation_inputs=inputs,
                             preset=config["model"], metadata={
                                 "run": os.path.abspath(folder), "dataset": config["dataset"],
                                 "inputs": f"the first {len(inputs)} of its validation split"})
        except zoo.ExportVerificationError as error:
            print(f"train.py: error: {' '.join(str(error).split())}", file=sys.stderr)
            return EXIT_FAILED
    return 0


# ----------------------------------------------------------------------------------------------
# Comparing runs from their folders, offline: config differences, final metrics, val curves
# ----------------------------------------------------------------------------------------------
def compare(paths, plot_path=None):
    runs, configs, finals, histories, skipped = [], [], [], [], []
    for path in paths:
        if not os.path.isfile(os.path.join(path, "config.json")):
            if os.path.isdir(path):
                skipped.append(f"skipping {path}: not a run folder (no config.json)")
            continue
        try:
            config, final, history = read_run(path)
        except BrokenRunFile as error:
            skipped.append(f"skipping {path}: {' '.join(str(error).split())}")
            continue
        runs.append(path)
        configs.append(flatten(zoo.registry.rename_run_config(config)))  # old spellings too
        finals.append(final)
        histories.append(history)
    if not runs:
        broken = [message for message in skipped if "not a run folder" not in message]
        raise UsageError(f"--compare found no run folder (a folder with config.json) in {paths}"
                         if not broken else f"--compare found no readable run: {broken[0]}")
    for message in skipped:
        warn(message)
    names = [os.path.basename(os.path.normpath(run)) for run in runs]

    keys = sorted({key for config in configs for key in config} - {"run_id", "run_dir"})
    differing = [key for key in keys
                 if len({json.dumps(config.get(key), sort_keys=True) for config in configs}) > 1]
    metric_keys = sorted({key for final in finals for key, value in final.items()
                          if "/" in key and isinstance(value, float)})
    rows = [("run", names)]
    rows += [(key, [config.get(key, "-") for config in configs]) for key in differing]
    rows += [("epochs done", [len(history) for history in histories])]
    rows += [(key, [final.get(key, "-") for final in finals]) for key in metric_keys]
    print_table(rows, config_rows=len(differing))

    import matplotlib  # only comparing draws

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = sorted({key for history in histories for row in history for key in row
                     if key.startswith("val_")}) or ["val_loss"]
    figure, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4), squeeze=False)
    for axis, curve in zip(axes[0], curves, strict=True):
        for name, history in zip(names, histories, strict=True):
            points = [(int(row["epoch"]) + 1, float(row[curve])) for row in history
                      if row.get(curve)]
            if points:
                axis.plot(*zip(*points, strict=True), marker=".", label=name)
        axis.set(title=curve, xlabel="epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle("Validation curves")
    figure.tight_layout()
    plot_path = plot_path or os.path.join(os.path.dirname(os.path.normpath(runs[0])),
                                          "compare.png")
    figure.savefig(plot_path, dpi=100)
    plt.close(figure)
    print(f"Validation curves: {plot_path}")
    return 0


def flatten(config, prefix=""):
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`, so nested differences show one by one."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def print_table(rows, config_rows):
    def text(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return json.dumps(value) if isinstance(value, (list, dict)) else str(value)

    cells = [[key] + [text(value)[:40] for value in values] for key, values in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for i, row in enumerate(cells):
        if i == 1:
            print("-- config differences" if config_rows else "-- same config apart from the id")
        if i == 1 + config_rows:
            print("-- final metrics")
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


if __name__ == "__main__":
    sys.exit(main())
