"""The model registry: architectures by name, presets as data, listing by wildcard.

An architecture is a builder function `build(**config) -> keras.Model`. A preset is plain data,
written with `make_preset(...)` (keyword arguments only) at the bottom of its family's file:

    {"architecture": "symmetric_mlp",
     "config": {...constructor arguments...},
     "metadata": {"description", "params", "task", "datasets", "reference", "twin",
                  "constraint", "equivariance"?, "weights"?}}

Every architecture that has an unconstrained twin of its own spells the switch `constrained`
(`TWIN_FLAG`): `constrained=False` is the twin, whose metadata constraint is None.

`create_model(name, **overrides)` looks the preset up, applies the overrides (each must be a
constructor argument of the architecture, of the type and in the range its annotation declares,
see `zoo.arguments`) and builds the model.
"""

import copy
import fnmatch
import inspect
import os
import warnings

import keras

from eqzoo.fileio import file_sha256
from eqzoo.messages import close_matches, short, unknown_keys
from eqzoo.zoo.arguments import TWIN_FLAG, Spec, declare_renamed, rename_arguments, renamed_quietly
from eqzoo.zoo.artifacts import EXPECTED_WEIGHTS, load_trained_weights

_ARCHITECTURES = {}
_MEMORY = {}  # architecture -> memory(config): a lower bound on the bytes training it holds
_PRESETS = {}

REQUIRED_METADATA = ("description", "params", "task", "datasets", "reference", "twin", "constraint")
# What a preset's constraint is: its twin has None, and the registry test checks the claim.
CONSTRAINTS = ("symmetric", "tied", "equivariant", None)
ZOO_DIR = os.path.dirname(os.path.abspath(__file__))
# Training holds, per trainable parameter, a float32 weight, its gradient and Adam's two moments.
BYTES_PER_PARAMETER = 16


def register_architecture(name, memory=None, renamed=None):
    """Decorator: registers `build(**config)` under `name`.

    Args:
        memory: `memory(config) -> int`, a lower bound on the bytes that building and training
            the model holds (weights, gradients and optimizer state; fixed matrices), computed
            from the config alone, so that a size that cannot fit is refused before any build.
        renamed: `{old argument name: new name}`: old spellings that overrides, `--set` and the
            config.json of earlier runs may still hold; each is read as its new name with a
            FutureWarning (see `rename_arguments`).
    """

    def decorator(build):
        if name in _ARCHITECTURES:
            warnings.warn(f"Architecture '{name}' is registered twice; the later one wins.",
                          stacklevel=2)
        _ARCHITECTURES[name] = build
        _MEMORY[name] = memory
        declare_renamed(name, renamed)
        return build

    return decorator


def make_preset(*, architecture, config, description, params, task, datasets, reference, twin,
                constraint, equivariance=None, weights=None):
    """One preset as plain data: `{"architecture", "config", "metadata"}`.

    Args:
        architecture: the registered architecture that builds it.
        config: its constructor arguments (`constrained=False` for an architecture's own twin).
        description: one line, shown by `--list-models` and the model card.
        params: its parameter count (a test builds every preset and checks it).
        task: "classification", "regression" or "reconstruction": train.py's loss and metrics.
        datasets: the datasets it fits, the first one train.py's default.
        reference: the paper or source of the architecture.
        twin: the preset to compare it with: its unconstrained twin, or the constrained preset it
            is the twin of.
        constraint: one of `CONSTRAINTS`, None for an unconstrained twin.
        equivariance: `(rep_in, rep_out)` of an equivariant preset, the representations its
            inputs and outputs move by (tests and train.py measure the error against them).
        weights: `shipped_weights(...)` of a preset that ships trained weights.
    """
    metadata = {"description": description, "params": params, "task": task,
                "datasets": list(datasets), "reference": reference, "twin": twin,
                "constraint": constraint}
    if equivariance is not None:
        rep_in, rep_out = equivariance
        metadata["equivariance"] = {"rep_in": rep_in.get_config(), "rep_out": rep_out.get_config()}
    if weights is not None:
        metadata["weights"] = weights
    return {"architecture": architecture, "config": dict(config), "metadata": metadata}


def shipped_weights(*, preset, dataset, sha256, test_metrics, weights_digest, seed=0,
                    train_flags="", test_options=None):
    """The metadata of the weights file a preset ships: `zoo/weights/<preset>.weights.h5`, the
    final weights of `python train.py --model <preset> --seed <seed> --wandb disabled` (train.py's
    defaults: 20 epochs, batch 32, Adam 3e-3), which tests/test_pretrained.py reproduces.

    Args:
        preset: the preset's name.
        dataset: the dataset it was trained on (the preset's first).
        sha256: the weights file's SHA-256, checked before every load.
        test_metrics: the final test metrics of that run, rounded to 6 digits.
        weights_digest: train.py's digest of the weight values (printed as "Final weights
            sha256"): a retrain matches it.
        seed: the run's seed, which also splits the dataset.
        train_flags: train.py flags of that run beyond its defaults (e.g. a paper's optimiser
            settings: "--epochs 150 --batch-size 100 --lr 5e-4").
        test_options: dataset options that leave the test split as it is but load faster
            (e.g. fewer simulated training trajectories), for checking the metrics.
    """
    flags = f" {train_flags}" if train_flags else ""
    info = {"file": f"weights/{preset}.weights.h5", "sha256": sha256,
            "command": f"python train.py --model {preset} --seed {seed} --wandb disabled{flags}",
            "dataset": dataset, "seed": seed, "test_metrics": dict(test_metrics),
            "weights_digest": weights_digest}
    if test_options:
        info["test_options"] = dict(test_options)
    return info


def register_presets(presets):
    """Registers a dict of presets `{name: {"architecture", "config", "metadata"}}`."""
    for name, preset in presets.items():
        architecture = preset["architecture"]
        if architecture not in _ARCHITECTURES:
            raise ValueError(f"Preset '{name}' names unknown architecture '{architecture}'. "
                             f"Known: {sorted(_ARCHITECTURES)}")
        missing = [key for key in REQUIRED_METADATA if key not in preset["metadata"]]
        if missing:
            raise ValueError(f"Preset '{name}' lacks metadata {missing}.")
        if preset["metadata"]["constraint"] not in CONSTRAINTS:
            raise ValueError(f"Preset '{name}': metadata constraint must be one of {CONSTRAINTS}. "
                             f"Received: {preset['metadata']['constraint']!r}")
        check_arguments(name, preset["config"], architecture=architecture)
        _check_twin_flag(name, preset)
        if name in _PRESETS:
            warnings.warn(f"Preset '{name}' is registered twice; the later one wins.", stacklevel=2)
        _PRESETS[name] = copy.deepcopy(preset)


def _check_twin_flag(name, preset):
    """An architecture with its own twin: `constrained=False` exactly when constraint is None."""
    architecture, config = preset["architecture"], preset["config"]
    if TWIN_FLAG not in architecture_arguments(architecture):
        return
    constrained = config.get(TWIN_FLAG, _defaults(architecture).get(TWIN_FLAG))
    constraint = preset["metadata"]["constraint"]
    if bool(constrained) == (constraint is None):
        raise ValueError(f"Preset '{name}' has {TWIN_FLAG}={constrained!r} but metadata "
                         f"constraint={constraint!r}: expected constraint=None exactly for "
                         f"{TWIN_FLAG}=False, the unconstrained twin.")


def rename_run_config(run_config):
    """A train.py run's config.json (`overrides`, `preset_config`, `model_config`) with old
    argument spellings renamed, silently: for comparing an earlier run with a current one."""
    preset = _PRESETS.get(run_config.get("model"))
    if preset is None:
        return run_config
    upgraded = dict(run_config)
    for key in ("overrides", "preset_config", "model_config"):
        if isinstance(run_config.get(key), dict):
            upgraded[key] = renamed_quietly(preset["architecture"], run_config[key])
    return upgraded


def list_models(pattern="*"):
    """Preset names matching a shell-style wildcard, sorted: `list_models("tied_*")`."""
    if not isinstance(pattern, str):
        raise TypeError("Invalid value for argument `pattern` of list_models: expected a "
                        "shell-style wildcard string, e.g. 'tied_*'. Received: "
                        f"pattern={pattern!r} of type {type(pattern).__name__}")
    return sorted(name for name in _PRESETS if fnmatch.fnmatchcase(name, pattern))


def list_architectures():
    return sorted(_ARCHITECTURES)


def get_preset(name):
    """A deep copy of the preset's data: architecture, config and metadata."""
    return copy.deepcopy(_PRESETS[_check_name(name)])


def create_model(name, /, weights=None, **overrides):
    """Builds the preset `name`, with constructor arguments overridden by `overrides`.

    Args:
        name: a preset name (see `list_models()`).
        weights: None for fresh initial weights; "pretrained" to load the weights file the
            preset ships (its SHA-256 is checked first); a run folder "runs/<id>" (its
            model.keras) or a .keras file that train.py wrote for this preset; or
            "wandb:ENTITY/PROJECT/NAME:ALIAS", a model artifact train.py logged (online only).
            Trained weights must come from this preset with the same shapes.
        **overrides: constructor arguments of the preset's architecture (`name` included: the
            model's name).
    """
    preset = get_preset(name)
    overrides = check_arguments(name, overrides)
    config = {**preset["config"], **overrides}
    model = _ARCHITECTURES[preset["architecture"]](**config)
    if weights == "pretrained":
        if overrides:
            raise ValueError(f"Pretrained weights of '{name}' fit its preset config only. "
                             f"Received overrides: {sorted(overrides)}")
        model.load_weights(pretrained_weights_path(name))
    elif isinstance(weights, (str, os.PathLike)):
        load_trained_weights(model, name, weights, preset["architecture"])
    elif weights is not None:
        raise ValueError(f"Invalid value for argument `weights`: expected {EXPECTED_WEIGHTS}. "
                         f"Received: weights={weights!r}")
    return model


def example_input_shape(model):
    """The shape of one example the model takes: a tuple, or `{name: tuple}` for named inputs."""
    return keras.tree.map_structure(lambda tensor: tuple(tensor.shape[1:]), model.input)


def estimate_memory(name, /, **overrides):
    """A lower bound on the bytes that training preset `name` with `overrides` holds, from the
    architecture's declared `memory`, without building anything (None if it declares none)."""
    preset = get_preset(name)
    memory = _MEMORY.get(preset["architecture"])
    if memory is None:
        return None
    return int(memory({**_defaults(preset["architecture"]), **preset["config"],
                       **check_arguments(name, overrides)}))


def _defaults(architecture):
    parameters = inspect.signature(_ARCHITECTURES[architecture]).parameters
    return {p: parameters[p].default for p in architecture_arguments(architecture)
            if parameters[p].default is not inspect.Parameter.empty}


def pretrained_weights_path(name):
    """The verified path of the weights file that preset `name` ships."""
    info = get_preset(name)["metadata"].get("weights")
    if not info:
        raise ValueError(
            f"Preset '{name}' ships no pretrained weights. Train it with `python train.py "
            f"--model {name}` and load the run's model, or pick one that does: "
            f"{[n for n in list_models() if _PRESETS[n]['metadata'].get('weights')]}"
        )
    path = os.path.join(ZOO_DIR, info["file"])
    if not os.path.exists(path):
        raise FileNotFoundError(f"Weights file of preset '{name}' is missing: looked at {path}.")
    digest = file_sha256(path)
    if digest != info["sha256"]:
        raise ValueError(f"Weights file {path} of preset '{name}' has SHA-256 {digest}, but the "
                         f"preset records {info['sha256']}: the file is corrupt or out of date.")
    return path


def get_architecture(name):
    """The builder function registered as architecture `name`."""
    if name not in _ARCHITECTURES:
        raise ValueError(f"Unknown architecture {name!r}. Known: {sorted(_ARCHITECTURES)}")
    return _ARCHITECTURES[name]


def architecture_arguments(architecture):
    parameters = inspect.signature(_ARCHITECTURES[architecture]).parameters
    return [p for p in parameters if parameters[p].kind is inspect.Parameter.KEYWORD_ONLY
            or parameters[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]


def architecture_specs(architecture):
    """`{argument: Spec or None}`: each argument's declared type and range (None: undeclared)."""
    parameters = inspect.signature(_ARCHITECTURES[architecture]).parameters
    return {p: parameters[p].annotation if isinstance(parameters[p].annotation, Spec) else None
            for p in architecture_arguments(architecture)}


def check_arguments(name, config, architecture=None):
    """`config` checked against preset `name`'s architecture: known keys, declared types and
    ranges; returns it normalised (shapes as tuples, numbers as floats). An argument without a
    declared spec must have the type of the preset's value."""
    if architecture is None:
        preset = _PRESETS[_check_name(name)]
        architecture, preset_config = preset["architecture"], preset["config"]
    else:
        preset_config = {}
    config = rename_arguments(architecture, config, f"model '{name}'")
    _check_keys(name, architecture, config)
    specs = architecture_specs(architecture)
    checked = {}
    for key, value in config.items():
        if specs[key] is not None:
            checked[key] = specs[key].check(f"model '{name}' ({architecture})", key, value)
        else:
            checked[key] = _like_preset_value(name, key, value, preset_config.get(key))
    return checked


def _like_preset_value(name, key, value, default):
    if default is None:
        return value
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    if type(default) is float and type(value) is int:
        return float(value)
    if isinstance(value, type(default)) and isinstance(value, bool) == isinstance(default, bool):
        return value
    raise ValueError(f"Invalid value for argument `{key}` of model '{name}': it has "
                     f"{key}={default!r}, so expected {type(default).__name__}. Received: "
                     f"{key}={short(value)} ({type(value).__name__})")


def _check_keys(name, architecture, config):
    allowed = architecture_arguments(architecture)
    hint = unknown_keys(config, allowed)
    if hint:
        raise ValueError(f"Unknown config key(s) for model '{name}' (architecture "
                         f"'{architecture}'): {hint}. Valid keys: {allowed}")


class UnknownModelError(ValueError):
    """A preset name the registry does not know; `close` holds the nearest known names, so a
    command line can say the same in its own words."""

    def __init__(self, name, close, count):
        self.name, self.close, self.count = name, close, count
        suggestion = f" Did you mean: {', '.join(close)}?" if close else ""
        super().__init__(f"Unknown model '{name}'.{suggestion} See zoo.list_models() for all "
                         f"{count} presets.")


def _check_name(name):
    if name not in _PRESETS:
        close = close_matches(str(name), _PRESETS, n=5, cutoff=0.4)
        raise UnknownModelError(name, close, len(_PRESETS))
    return name
