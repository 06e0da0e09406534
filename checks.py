"""What a run's settings must satisfy, checked before any set-up, each refusal one line.

Standard library only (the zoo is imported where a check needs it, once the cheap ones passed):
a bad flag is answered at once, with exit code 2, before TensorFlow is imported.

    config = {**defaults, **parse_assignments(["epochs=5"], "--set")}
    check_config(config, defaults)   # types, ranges and choices of every setting
    check_environment(config)        # run folder, backend and strategy, W&B mode, dataset options
"""

import ast
import contextlib
import json
import math
import os
import re
import sys
import tempfile

from eqzoo.distribute import BACKENDS, STRATEGY_BACKENDS, check_strategy_backend, check_tf_config
from eqzoo.fileio import LOCK_NAME, lock_holder
from eqzoo.messages import UsageError, short, unknown_keys, warn

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
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=-]{0,127}")  # W&B ids forbid / : # ? etc.
RUN_ID_EXPECTED = ("1 to 128 characters, letters, digits and _ . = - only, starting with a "
                   "letter or digit")
# What W&B itself accepts in WANDB_MODE (wandb.Settings.mode).
WANDB_ENV_MODES = ("online", "offline", "disabled", "dryrun", "run", "shared")
# datasets.load arguments that train.py passes itself: a --dataset-option must not repeat them.
LOAD_ARGUMENTS = {"name": "--dataset", "batch_size": "--batch-size", "seed": "--seed",
                  "reconstruction": "the preset's task", "data_dir": "--data-dir",
                  "download": "--download"}


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
# Settings and the environment
# ----------------------------------------------------------------------------------------------
def check_config(config, defaults):
    """Each value has its default's type (a None default takes a string) and lies in range."""
    for key, value in config.items():
        config[key] = check_value(key, value, defaults[key])


def check_value(key, value, default, where=""):
    """`value` for setting `key`, whose default is `default`: of its type (a None default takes
    a string; an int stands for a float), and in `CHOICES` or `INTEGER_RANGE`."""
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
    if config["run_id"]:  # a run still running is refused before the seconds of imports
        folder = os.path.join(config["run_dir"], config["run_id"])
        if (pid := lock_holder(folder)) is not None:
            raise run_in_use(folder, pid)
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


def run_in_use(folder, pid):
    """The refusal of a run folder another live train.py holds (`runs.lock_run_folder`)."""
    return UsageError(f"Run {folder} is in use by another train.py process (pid {pid}, which "
                      f"holds {os.path.join(folder, LOCK_NAME)}); let it finish or stop it, or "
                      "choose another --run-id.")


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


def reject_unknown(given, known, what, hint):
    names = unknown_keys(given, known)
    if names:
        raise UsageError(f"Unknown {what}: {names}. {hint}.")


# A config is three levels deep (DEFAULTS -> overrides -> a list value); far deeper is no config.
MAX_JSON_DEPTH = 32


def read_json(path, flag):
    too_deep = UsageError(f"{flag}: {path} is nested more than {MAX_JSON_DEPTH} levels deep; "
                          "a config is a JSON object of DEFAULTS keys a few levels deep, e.g. "
                          '{"epochs": 5, "overrides": {"width": 16}}.')
    try:
        with open(path) as f:
            data = json.load(f)
    except RecursionError:  # thousands of levels: the parser's own recursion gives out
        raise too_deep from None
    except (OSError, ValueError) as error:
        raise UsageError(f"{flag}: cannot read {path}: {error}") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise too_deep
    return data


def json_depth(data):
    """How many levels of lists and objects `data` nests, counted without recursion."""
    depth, level = 0, [data]
    while level:
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        depth += 1
    return depth - 1


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
        registry = sys.modules.get("eqzoo.zoo.registry")  # an unknown model needs the zoo
        if registry is not None and isinstance(error, registry.UnknownModelError):
            raise UsageError(unknown_model(error)) from None
        raise UsageError(error) from None


def unknown_model(error):
    """The zoo's unknown-name error in command-line words: close names, then --list-models."""
    close = (f"Did you mean: {', '.join(error.close)}?" if error.close
             else "No preset name is close to it.")
    return (f"Unknown model {short(error.name)}. {close} --list-models lists all {error.count} "
            "presets, with task and description.")


def check_model_memory(config):
    """Refuses a model whose training state cannot fit in memory, before building it."""
    from eqzoo import datasets, zoo  # after the cheap checks: the zoo imports Keras

    needed = zoo.estimate_memory(config["model"], **config["overrides"])
    available = datasets.pipeline.available_memory()
    if needed is not None and available is not None and needed > available:
        sizes = ", ".join(f"{key}={short(value, 30)}" for key, value in config["overrides"].items())
        raise UsageError(f"Model {config['model']!r} ({sizes or 'preset config'}) needs at least "
                         f"{needed:,} bytes ({needed / 2**30:.1f} GiB) to train, but "
                         f"{available:,} bytes ({available / 2**30:.1f} GiB) are available; "
                         "expected smaller sizes.")


def check_fit(config, preset, info, model):
    """The model built from `preset` fits dataset `info`: its task, input and output shapes."""
    from eqzoo import zoo

    name, dataset, task = config["model"], config["dataset"], preset["metadata"]["task"]
    listed = [m for m in zoo.list_models() if dataset in zoo.get_preset(m)["metadata"]["datasets"]
              and zoo.get_preset(m)["metadata"]["task"] == info.task]
    others = (f"pick a {info.task} model listed for {dataset!r}: {', '.join(listed)}" if listed
              else f"pick a model from --list-models (none lists {dataset!r} for {info.task})")
    if task != info.task:
        raise UsageError(f"Model {name!r} is a {task} model but dataset {dataset!r} is a "
                         f"{info.task} task; {others}.")
    arguments = zoo.architecture_arguments(preset["architecture"])
    expects = zoo.registry.example_input_shape(model)
    gives = info.input_shape if isinstance(info.input_shape, dict) else tuple(info.input_shape)
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
    check_output_activation(config, preset, info)


def check_output_activation(config, preset, info):
    """An output activation that cannot fit the task is refused: a softmax over one output is the
    constant 1.0, and a softmax's outputs sum to 1 (no regression target does); a classifier's
    loss takes logits, so any activation there squashes them (a warning)."""
    activation = {**preset["config"], **config["overrides"]}.get("output_activation")
    if not activation:
        return
    outputs = math.prod(info.output_shape)
    if activation in ("softmax", "log_softmax") and (outputs == 1 or info.task != "classification"):
        why = ("over one output it is the constant 1.0" if outputs == 1 else
               f"its {outputs} outputs always sum to 1, which {info.task} targets do not")
        raise UsageError(f"--set output_activation={activation} cannot fit {config['dataset']!r} "
                         f"({info.task}): {why}; leave output_activation unset (linear).")
    if info.task == "classification":
        warn(f"output_activation={activation}: the classification loss takes logits, so the "
             "activation squashes them before the loss's own softmax; usually leave it unset.")


def equivariance_spec(config, preset, model):
    """The preset's equivariance (`rep_in`, `rep_out` configs) when it describes `model`, which
    the per-epoch monitor then measures; None, with one warning, when `--set` changed the input
    or output shape it was declared for (the layers are built for the new shape: the run goes
    on, without the preset's measurement)."""
    from eqzoo.layers.equivariance import describes
    from eqzoo.layers.representations import rep_from_config

    spec = preset["metadata"].get("equivariance")
    if spec is None:
        return None
    rep_in, rep_out = rep_from_config(spec["rep_in"]), rep_from_config(spec["rep_out"])
    if describes(rep_in, rep_out, model):
        return spec
    warn(f"{config['model']}'s equivariance is declared for inputs {rep_in.shape} and outputs "
         f"{rep_out.shape}, and this model takes {model.input_shape} and gives "
         f"{model.output_shape} (--set {compact_overrides(config['overrides'])}): its "
         "equivariance error is not measured.")
    return None


def compact_overrides(overrides):
    return " --set ".join(f"{key}={json.dumps(value, separators=(',', ':'))}"
                          for key, value in overrides.items())


def compact(shape):
    """`(8, 8, 1)` -> `[8,8,1]`, which pastes into a shell without quotes."""
    return json.dumps(list(shape), separators=(",", ":"))
