"""The shared training loop: any zoo preset on any compatible dataset, with a run folder and W&B.

    python train.py                              # symmetric_mlp_digits on digits, under a minute
    python train.py --model mlp_digits --seed 1  # its unconstrained twin
    python train.py --model symmetric_mlp_wine --set width=16 --epochs 50 --wandb-group twins
    python train.py --resume runs/<id>           # continue a killed or interrupted run
    python train.py --compare runs/*             # side by side, plus a PNG of validation curves

Read top to bottom: DEFAULTS; the command line; the resolved config (DEFAULTS, preset, --config
file, flags, --set); the model and the dataset, looked up by name and checked to fit; W&B; one
`fit` with Keras callbacks; the final evaluation and files. No model has a branch of its own: the
preset's task chooses loss and metrics.
"""

import argparse
import ast
import contextlib
import copy
import csv
import datetime
import difflib
import hashlib
import io
import json
import logging
import math
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

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


with _native_stderr_muted():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # later C++ logs do obey it
    import tensorflow as tf

import keras
import numpy as np
import wandb
from wandb.integration.keras import WandbMetricsLogger

from eqzoo import datasets
from eqzoo import zoo
from eqzoo.layers.inspection import symmetry_residuals

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
MINIMUM = {"epochs": 1, "batch_size": 1, "early_stopping": 0, "seed": 0}
# A run's backup means nothing under other values of these, so resuming keeps them.
MUST_MATCH_ON_RESUME = ("model", "dataset", "dataset_options", "overrides", "batch_size",
                        "learning_rate", "optimizer", "lr_schedule", "seed")
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=-]{0,127}")  # W&B ids forbid / : # ? etc.
WANDB_INIT_TIMEOUT = float(os.environ.get("EQZOO_WANDB_INIT_TIMEOUT", 20))
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

# The task decides loss and metrics. Classification heads output logits.
TASK_LOSS_AND_METRICS = {
    "classification": (lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       ["accuracy"]),
    "regression": (keras.losses.MeanSquaredError, ["mae"]),
    "reconstruction": (keras.losses.MeanSquaredError, ["mae"]),
}
OPTIMIZERS = {
    "adam": lambda learning_rate: keras.optimizers.Adam(learning_rate),
    "adamw": lambda learning_rate: keras.optimizers.AdamW(learning_rate),
    "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9),
}


class UsageError(Exception):
    """A bad flag, value, name or combination: one line and exit code 2, before any training."""


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
    what.add_argument("--dataset", help="a dataset, see --list-datasets (default: the first one "
                      "the preset lists)")
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
    instead.add_argument("--compare", nargs="+", metavar="RUN_FOLDER",
                         help="print runs side by side and plot their validation curves")
    instead.add_argument("--plot", metavar="PNG", help="where --compare puts its plot "
                         "(default: compare.png beside the first run folder)")
    return p


def parse_assignments(items, flag):
    """`["width=16", "input_shape=[64]"]` -> `{"width": 16, "input_shape": [64]}`."""
    parsed = {}
    for item in items or []:
        key, equals, text = item.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"{flag} expects KEY=VALUE. Received: {item!r}")
        parsed[key.strip()] = parse_value(text)
    return parsed


def parse_value(text):
    for parse in (json.loads, ast.literal_eval):
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
        saved = read_json(os.path.join(folder, "config.json"), "--resume")
        config.update({key: saved[key] for key in DEFAULTS if key in saved})
        run_dir, config["run_id"] = os.path.split(folder)
        config["run_dir"] = run_dir or "."
    if "config" in given:
        from_file = read_json(given["config"], "--config")
        reject_unknown(from_file, DEFAULTS, f"key(s) in {given['config']}",
                       "Its keys are DEFAULTS' (see --help); preset values go under \"overrides\"")
        config.update(from_file)
    config.update({key: given[key] for key in DEFAULTS if key in given})
    config["overrides"] = {**config["overrides"],
                           **parse_assignments(given.get("set_items"), "--set")}
    config["dataset_options"] = {**config["dataset_options"], **parse_assignments(
        given.get("dataset_option_items"), "--dataset-option")}
    check_config(config)

    preset = zoo.get_preset(config["model"])  # an unknown name lists the closest ones
    if config["dataset"] is None:
        if not preset["metadata"]["datasets"]:
            raise UsageError(f"Model {config['model']!r} lists no dataset: pass --dataset NAME.")
        config["dataset"] = preset["metadata"]["datasets"][0]
    config["overrides"] = {key: check_override(config["model"], key, value, preset["config"])
                           for key, value in config["overrides"].items()}
    return config, preset


def check_config(config):
    """Each value has its default's type (a None default takes a string) and lies in range."""
    for key, value in config.items():
        default = DEFAULTS[key]
        expected = str if default is None else type(default)
        if expected is float and type(value) is int:
            config[key] = value = float(value)
        ok = (value is None and default is None) or (
            isinstance(value, expected) and isinstance(value, bool) == isinstance(default, bool))
        if ok and key in CHOICES:
            ok, expected = value in CHOICES[key], " | ".join(CHOICES[key])
        elif ok and key in MINIMUM:
            ok, expected = value >= MINIMUM[key], f"an integer >= {MINIMUM[key]}"
        elif ok and key == "learning_rate":
            ok, expected = 0 < value < math.inf, "a positive number"
        elif ok and key == "wandb_tags":
            ok, expected = all(isinstance(tag, str) for tag in value), "a list of strings"
        elif ok and key == "run_id" and value is not None:
            ok, expected = RUN_ID_PATTERN.fullmatch(value), "letters, digits and _ . = - only"
        if not ok:
            expected = getattr(expected, "__name__", expected)
            raise UsageError(f"Invalid value for `{key}`: expected {expected}. "
                             f"Received: {key}={value!r}")


def check_override(model, key, value, preset_config):
    """A `--set` value takes the type of the preset's value. Keys the preset leaves at the
    architecture's default, unknown keys included, are checked by `zoo.create_model`."""
    default = preset_config.get(key)
    if default is None:
        return value
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    if type(default) is float and type(value) is int:
        return float(value)
    if isinstance(value, type(default)) and isinstance(value, bool) == isinstance(default, bool):
        return value
    raise UsageError(f"Invalid value for --set {key}: model {model!r} has {key}={default!r}, so "
                     f"expected {type(default).__name__}. Received: {key}={value!r} "
                     f"({type(value).__name__})")


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
    if backend not in STRATEGY_BACKENDS[strategy]:
        instead = {"tensorflow": "mirrored", "jax": "data_parallel"}.get(backend)
        hint = f"use --strategy {instead}" if instead else "use --strategy default"
        raise UsageError(f"--strategy {strategy} runs on the {' or '.join(STRATEGY_BACKENDS[strategy])} "
                         f"backend only, and this run uses {backend}: {hint}, or pass "
                         f"--backend {STRATEGY_BACKENDS[strategy][0]}.")


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
        return MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """Works around Keras 3's `fit` across workers (keras-team/keras#20585): it reduces a whole
    `(x, y)` batch in one call, and scalar logs along `axis=0`. Reduce tensor by tensor, and
    scalars as their mean over replicas."""

    def reduce(self, reduce_op, value, axis):
        def reduce_one(v):
            scalar = len(getattr(self.experimental_local_results(v)[0], "shape", ())) == 0
            return super(MultiWorkerMirroredStrategy, self).reduce(
                reduce_op, v, axis=None if scalar else axis)

        return tf.nest.map_structure(reduce_one, value)


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


class WandbEpochLogger(WandbMetricsLogger):
    """W&B's Keras logger, with the names train/*, val/*, symmetry/*, time/* against the epoch."""

    def __init__(self):
        super().__init__(log_freq="epoch")
        for prefix in ("train", "val", "test", "symmetry", "time"):
            wandb.define_metric(f"{prefix}/*", step_metric="epoch")

    def on_epoch_end(self, epoch, logs=None):
        logs = {wandb_name(key): value for key, value in (logs or {}).items()}
        logs["epoch"] = epoch + 1
        learning_rate = self._get_lr()
        if learning_rate is not None:
            logs["train/learning_rate"] = learning_rate
        wandb_call("log", wandb.log, logs)


class SymmetryAndTime(keras.callbacks.Callback):
    """Adds `symmetry/<layer>` = max |W - W^T| (must stay 0) and the epoch's seconds to the logs
    that history.csv, the progress bar and W&B receive."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["time/epoch_seconds"] = time.perf_counter() - self.started
            residuals = symmetry_residuals(self.model)
            logs.update({f"symmetry/{name}": value for name, value in residuals.items()})


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------
def main(argv=None):
    try:
        return train(argv)
    except UsageError as error:
        print(f"train.py: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except KeyboardInterrupt:
        print("train.py: interrupted before training started.", file=sys.stderr)
        return EXIT_INTERRUPTED


def train(argv):
    args = build_parser().parse_args(argv)
    # tensorflow-datasets warns through absl about what the refusals below say in one line.
    logging.getLogger("absl").setLevel(logging.ERROR)
    if "list_models" in args:
        for name in zoo.list_models(args.list_models):
            metadata = zoo.get_preset(name)["metadata"]
            print(f"{name:40s} {metadata['task']:15s} {metadata['description']}")
        return 0
    if "list_datasets" in args:
        for name in datasets.list_datasets(args.list_datasets):
            source, description = datasets.describe(name)
            print(f"{name:20s} {source:20s} {description}")
        print("Any tensorflow-datasets set also loads as tfds:<name> (prepared, or --download).")
        return 0
    if "compare" in args:
        return compare(args.compare, vars(args).get("plot"))

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
    print_config(config)
    run = start_wandb(config, folder) if chief else None

    # One fit.
    history_path = os.path.join(folder, "history.csv")
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        SymmetryAndTime(),
        keras.callbacks.CSVLogger(history_path, append=True),
        # After the history row: a kill between the two repeats an epoch rather than losing one.
        keras.callbacks.BackupAndRestore(os.path.join(folder, "backup"), double_checkpoint=True),
        keras.callbacks.ModelCheckpoint(
            os.path.join(folder, "best.keras"), monitor="val_loss", save_best_only=True,
            initial_value_threshold=best_val_loss(history_path)),
    ]
    if config["early_stopping"]:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config["early_stopping"], restore_best_weights=True))
    if run is not None:
        try:
            callbacks.append(WandbEpochLogger())
        except Exception as error:
            warn(f"W&B's Keras logger failed ({first_line(error)}); training goes on without it.")
    started = time.perf_counter()
    try:
        history = model.fit(splits["train"], validation_data=splits["val"],
                            epochs=config["epochs"], callbacks=callbacks,
                            shuffle=False)  # the pipeline shuffles, anew each epoch
    except KeyboardInterrupt:
        model.save(os.path.join(folder, "interrupted.keras"))
        if run is not None:
            wandb_call("finish", run.finish, exit_code=EXIT_INTERRUPTED)
        print(f"\ntrain.py: interrupted; the model is in {folder}/interrupted.keras. "
              f"Resume with: python train.py --resume {folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        if run is not None:
            wandb_call("finish", run.finish, exit_code=EXIT_FAILED)
        best = f"; the best model so far is {folder}/best.keras" if len(losses) > 1 else ""
        print(f"train.py: error: the training loss became {losses[-1]} in epoch {len(losses)} "
              f"and TerminateOnNaN stopped the run; try a lower --learning-rate (it was "
              f"{config['learning_rate']:g}){best}.", file=sys.stderr)
        return EXIT_FAILED

    # Final evaluation and files.
    metrics = {}
    for name, split in splits.items():
        values = model.evaluate(split, verbose=0, return_dict=True)
        metrics.update({f"{name}/{key}": float(value) for key, value in values.items()})
    residuals = symmetry_residuals(model)
    summary = {
        **metrics,
        **{f"symmetry/{name}": value for name, value in residuals.items()},
        "epochs_completed": len(read_history(history_path)),
        "fit_seconds": time.perf_counter() - started,
        "weights_sha256": weights_digest(model),
    }
    model.save(os.path.join(folder, "model.keras"))
    write_json(os.path.join(folder, "metrics.json"), summary)
    if run is not None:  # the test split is evaluated once, at the end, never to choose epochs
        tests = {key: value for key, value in metrics.items() if key.startswith("test/")}
        wandb_call("log", run.log, {"epoch": summary["epochs_completed"], **tests})
        wandb_call("summary", run.summary.update, summary)
        wandb_call("finish", run.finish, exit_code=0)
    print("Final: " + "  ".join(f"{key} {value:.4g}" for key, value in metrics.items()))
    symmetry = (f"max |W - W^T| over symmetric layers: {max(residuals.values()):g}" if residuals
                else "no layer claims symmetric matrices")
    print(f"Final weights sha256 {summary['weights_sha256']}; {symmetry}")
    if chief:
        print(f"Run folder: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def default_run_id(config):
    if os.environ.get("WANDB_SWEEP_ID") and os.environ.get("WANDB_RUN_ID"):
        return os.environ["WANDB_RUN_ID"]  # a W&B sweep agent chose it
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    dataset = re.sub(r"[^A-Za-z0-9_.-]", "_", config["dataset"])
    return f"{config['model']}-{dataset}-{stamp}-{secrets.token_hex(2)}"


def prepare_run_folder(folder, config):
    """A new folder, or an unfinished run of the same config, which BackupAndRestore resumes."""
    saved_path = os.path.join(folder, "config.json")
    if os.path.exists(os.path.join(folder, "metrics.json")):
        raise UsageError(f"Run {folder} already finished (it has metrics.json); "
                         "choose another --run-id.")
    if os.path.exists(saved_path):
        saved = read_json(saved_path, "--run-id")
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


def read_history(path):
    """The rows of a history.csv, one per epoch: an epoch repeated after a kill keeps its last."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        rows = {int(row["epoch"]): row for row in csv.DictReader(f) if row.get("epoch")}
    return [rows[epoch] for epoch in sorted(rows)]


def best_val_loss(history_path):
    """The best val_loss already in a resumed run, so that best.keras only ever improves."""
    values = [float(row["val_loss"]) for row in read_history(history_path) if row.get("val_loss")]
    return min(values, default=None)


def weights_digest(model):
    """SHA-256 of every weight's bytes: equal on all workers of a synchronous run."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")


def warn(message):
    print(f"train.py: warning: {message}", file=sys.stderr)


def first_line(error):
    return (str(error).strip() or type(error).__name__).splitlines()[0]


# ----------------------------------------------------------------------------------------------
# Comparing runs from their folders, offline: config differences, final metrics, val curves
# ----------------------------------------------------------------------------------------------
def compare(paths, plot_path=None):
    runs = [path for path in paths if os.path.isfile(os.path.join(path, "config.json"))]
    if not runs:
        raise UsageError(f"--compare found no run folder (a folder with config.json) in {paths}")
    for path in sorted(set(paths) - set(runs)):
        if os.path.isdir(path):
            warn(f"skipping {path}: not a run folder (no config.json)")
    names = [os.path.basename(os.path.normpath(run)) for run in runs]
    configs = [flatten(read_json(os.path.join(run, "config.json"), "--compare")) for run in runs]
    finals = [read_json(os.path.join(run, "metrics.json"), "--compare")
              if os.path.exists(os.path.join(run, "metrics.json")) else {} for run in runs]
    histories = [read_history(os.path.join(run, "history.csv")) for run in runs]

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
    for axis, curve in zip(axes[0], curves):
        for name, history in zip(names, histories):
            points = [(int(row["epoch"]) + 1, float(row[curve])) for row in history
                      if row.get(curve)]
            if points:
                axis.plot(*zip(*points), marker=".", label=name)
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
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
