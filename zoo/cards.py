"""Model cards: what a preset is, what it costs against its twin, and what it ships, in Markdown.

    from eqzoo import zoo
    print(zoo.model_card("deepsets_set_sum"))       # or: python train.py --card deepsets_set_sum

Every number on a card is measured on a freshly built model (seed 0) or read from the preset's
data, and rounded, so the catalogue of all cards, zoo/CARDS.md, is the same on every machine
(`python -m eqzoo.zoo.catalogue` writes it, see zoo/catalogue.py).
"""

import inspect
import math
import sys

import keras

from eqzoo.layers.dense_transpose import DenseTranspose
from eqzoo.layers.equivariance import equivariance_error
from eqzoo.layers.inspection import symmetric_matrices
from eqzoo.layers.representations import rep_from_config
from eqzoo.zoo import registry

FIELDS = ("what it is", "task", "architecture", "arguments", "constraint", "symmetry group",
          "trainable parameters", "optimizer state (Adam)", "datasets", "reference",
          "shipped weights", "equivariance error")
EQUIVARIANCE_SAMPLES, SEED, ROUND_OFF = 8, 0, 1e-5
# Closed-form orders: enumerating S_n's n! elements only to count them would be slow.
ORDERS = {"SymmetricGroup": math.factorial, "CyclicGroup": lambda n: n,
          "DihedralGroup": lambda n: 2 * n, "TrivialGroup": lambda n: 1}


def model_card(name, sizes=None):
    """The Markdown card of preset `name` (see `list_models()`).

    Builds the preset (and its twin) after seeding Keras' global random state with 0, so the
    measured equivariance error is the same on every call. `sizes` caches each measured model's
    (parameters, Adam slots) by name across cards.
    """
    return _card(name, {} if sizes is None else sizes)


def _card(name, sizes):
    preset = registry.get_preset(name)
    metadata, architecture = preset["metadata"], preset["architecture"]
    keras.utils.set_random_seed(SEED)
    model = registry.create_model(name)
    build = registry.get_architecture(architecture)
    module = sys.modules[build.__module__]
    family = (module.__doc__ or "").strip().splitlines()[0]
    twin = metadata["twin"]
    own, other = _sizes(name, sizes, model), _sizes(twin, sizes)
    rows = {
        "what it is": _sentence(metadata["description"]),
        "task": metadata["task"],
        "architecture": f"`{architecture}` in `zoo/{module.__name__.rsplit('.', 1)[-1]}.py`: "
                        f"{family}",
        "arguments": _arguments(architecture, preset["config"]),
        "constraint": _constraint(metadata, model),
        "symmetry group": _symmetry_group(metadata),
        "trainable parameters": f"{own[0]:,} against {other[0]:,} for its twin `{twin}` "
                                f"({own[0] / other[0]:.2f}x)",
        "optimizer state (Adam)": f"{own[1]:,} slot values, {own[1] * 4 / 1024:.1f} KiB in "
                                  f"float32, against {other[1]:,} ({other[1] * 4 / 1024:.1f} KiB)"
                                  f" for `{twin}`",
        "datasets": ", ".join(f"`{d}`" for d in metadata["datasets"])
                    + f" (`python train.py --model {name} --dataset {metadata['datasets'][0]}`)"
                    if metadata["datasets"] else "none listed: pass one with --dataset",
        "reference": metadata["reference"],
        "shipped weights": _weights(name, metadata),
        "equivariance error": _equivariance(metadata, model),
    }
    table = "\n".join(f"| {field} | {_cell(rows[field])} |" for field in FIELDS)
    return f"## {name}\n\n| field | value |\n|---|---|\n{table}"


def _sizes(name, sizes, model=None):
    """(trainable parameters, Adam slot values), measured by building Adam on the model."""
    if name not in sizes:
        model = model or registry.create_model(name)
        optimizer = keras.optimizers.Adam()
        before = {id(v) for v in optimizer.variables}  # the step count and learning rate
        optimizer.build(model.trainable_variables)
        slots = sum(math.prod(v.shape) for v in optimizer.variables if id(v) not in before)
        sizes[name] = (sum(math.prod(w.shape) for w in model.trainable_weights), slots)
    return sizes[name]


def _arguments(architecture, config):
    given = ", ".join(f"`{key}={_value(value)}`" for key, value in config.items())
    parameters = inspect.signature(registry.get_architecture(architecture)).parameters
    defaults = {key: p.default for key, p in parameters.items() if p.default is not p.empty}
    rest = ", ".join(f"`{key}={_value(value)}`" for key, value in defaults.items()
                     if key not in config)
    return f"{given or 'none'}; architecture defaults: {rest or 'none'}"


def _constraint(metadata, model):
    constraint = metadata["constraint"]
    symmetric = ", ".join(f"`{name}`" for name in sorted(symmetric_matrices(model)))
    exactly = f"`W = W^T` exactly in {symmetric}" if symmetric else ""
    if constraint == "symmetric":
        return f"symmetric: {exactly}"
    if constraint == "tied":
        ties = [f"`{layer.name}` = `{layer.source.name}`^T"
                for layer in model._flatten_layers(include_self=False)
                if isinstance(layer, DenseTranspose)]
        also = f"; also {exactly}" if symmetric else ""
        return f"tied: each decoder kernel is its encoder's, transposed ({', '.join(ties)}){also}"
    if constraint == "equivariant":
        return "equivariant: `f(rho_in(g) x) = rho_out(g) f(x)` for every g in the group"
    return f"none: the unconstrained twin of `{metadata['twin']}`"


def _symmetry_group(metadata):
    spec = metadata.get("equivariance")
    if spec is None:
        if metadata["constraint"] is None:
            return "none: an unconstrained model declares no symmetry"
        return (f"none: the {metadata['constraint']} constraint acts on the weights, not on the "
                "inputs and outputs")
    rep_in, rep_out = rep_from_config(spec["rep_in"]), rep_from_config(spec["rep_out"])
    order = None if getattr(rep_in.group, "is_continuous", False) else _order(rep_in.group)
    if order is not None:
        size = f"order {order:,}"
    elif getattr(rep_in.group, "lie_algebra", ()):
        size = "continuous"
    else:  # the point clouds' E(n) x S_n
        size = ("continuous (sampled: Haar-random orthogonal matrices of both determinants, "
                "translations, permutations)")
    return (f"{rep_in.group!r}, {size}; acting on inputs by `{rep_in!r}` and on outputs by "
            f"`{rep_out!r}`")


def _order(group):
    """The number of elements, or None for a continuous group (whose `.order` raises)."""
    if getattr(group, "lie_algebra", ()):
        return None
    n = getattr(group, "n", None)
    return ORDERS[type(group).__name__](n) if type(group).__name__ in ORDERS else group.order


def _weights(name, metadata):
    info = metadata.get("weights")
    if not info:
        return (f"none; train with `python train.py --model {name}` and load the run with "
                f"`zoo.create_model('{name}', weights='runs/<id>')`")
    reached = ", ".join(f"{key} {value:.4g}" for key, value in info["test_metrics"].items())
    return (f"`zoo/{info['file']}`, SHA-256 `{info['sha256']}`; reproduces {reached} on "
            f"`{info['dataset']}` (split seed {info['seed']}); retrain: `{info['command']}`, then "
            "save the run's weights into the file (README, Pretrained weights); "
            f"load: `zoo.create_model('{name}', weights='pretrained')`")


def _equivariance(metadata, model):
    spec = metadata.get("equivariance")
    if spec is None:
        why = ("an unconstrained twin" if metadata["constraint"] is None
               else f"a {metadata['constraint']} model")
        return f"does not apply: {why} declares no group acting on its inputs and outputs"
    rep_in, rep_out = rep_from_config(spec["rep_in"]), rep_from_config(spec["rep_out"])
    error = equivariance_error(model, rep_in.group, rep_in, rep_out,
                               n_samples=EQUIVARIANCE_SAMPLES, seed=SEED)
    return (f"{_bound(error)}: max `|f(rho_in(g) x) - rho_out(g) f(x)|` over the generators and "
            f"{EQUIVARIANCE_SAMPLES} sampled elements, on a fresh model (seed {SEED})")


def _bound(error):
    """Round-off differs between machines in its digits, not in being below 1e-5."""
    if error == 0:
        return "0 (exact)"
    return "below 1e-05 (float32 round-off)" if error < ROUND_OFF else f"{error:.2g}"


def _value(value):
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


def _sentence(text):
    return text if text.endswith(".") else f"{text}."


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")
