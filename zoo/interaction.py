"""Symmetric-interaction networks: pairwise (factorization-machine) models and Hopfield networks.

Pairwise interaction model (Rendle, "Factorization Machines", ICDM 2010):

    y_k = w0_k + w_k^T x + x^T J_k x,      J_k = J_k^T   (packed, or low rank J_k = V_k V_k^T)

Only the symmetric part of J reaches `x^T J x`, so the constraint loses nothing and halves the
parameters; the unconstrained twin stores a free n x n J.

Hopfield network (Hopfield, PNAS 1982; as projected gradient descent on the energy over the box):

    x_{t+1} = clip(x_t + eta (J x_t + b), -1, 1),   J = J^T, diag(J) = 0,
    E(x) = -1/2 x^T J x - b^T x never increases along the iteration.

Its twin iterates the same rule with a free coupling matrix, for which no energy exists.
"""

import math

import keras

from eqzoo.layers.hopfield import HopfieldBlock
from eqzoo.layers.pairwise_interaction import PairwiseInteraction
from eqzoo.zoo.arguments import Activation, Boolean, Integer, Name, Number, Optional, Shape
from eqzoo.zoo.registry import BYTES_PER_PARAMETER, register_architecture, register_presets


def _pairs(n, symmetric):
    return n * (n + 1) // 2 if symmetric else n * n


def _interaction_memory(config):
    """The interaction matrix J per output: n(n+1)/2 values (n^2 untied), or rank x n factors."""
    n = math.prod(config["input_shape"])
    per_output = config["rank"] * n if config["rank"] else _pairs(n, config["symmetric"])
    return BYTES_PER_PARAMETER * config["num_outputs"] * per_output


def _hopfield_memory(config):
    """The coupling W: n(n+1)/2 values, n^2 untied."""
    return BYTES_PER_PARAMETER * _pairs(math.prod(config["input_shape"]), config["symmetric"])


@register_architecture("pairwise_interaction", memory=_interaction_memory)
def pairwise_interaction(*, input_shape: Shape(), num_outputs: Integer(1) = 1,
                         rank: Optional(Integer(1)) = None, symmetric: Boolean() = True,
                         use_linear: Boolean() = True,
                         output_activation: Optional(Activation()) = None,
                         name: Name() = "pairwise_interaction"):
    """`y = w0 + w^T x + x^T J x` per output; `symmetric=False` gives the twin."""
    inputs = keras.Input(tuple(input_shape), name="inputs")
    h = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    outputs = PairwiseInteraction(num_outputs, rank=rank, symmetric=symmetric,
                                  use_linear=use_linear, name="interaction")(h)
    if output_activation:
        outputs = keras.layers.Activation(output_activation, name="output_activation")(outputs)
    return keras.Model(inputs, outputs, name=name)


@register_architecture("hopfield_network", memory=_hopfield_memory)
def hopfield_network(*, input_shape: Shape(), steps: Integer(1) = 8,
                     step_size: Number(0, closed_left=False) = 1.0, symmetric: Boolean() = True,
                     use_bias: Boolean() = True, name: Name() = "hopfield_network"):
    """A Hopfield block over +-1 patterns: corrupted pattern in, completed pattern out."""
    inputs = keras.Input(tuple(input_shape), name="inputs")
    outputs = HopfieldBlock(steps=steps, step_size=step_size, symmetric=symmetric,
                            use_bias=use_bias, name="hopfield")(inputs)
    return keras.Model(inputs, outputs, name=name)


def _preset(architecture, description, config, params, task, datasets, twin, reference):
    return {"architecture": architecture, "config": config,
            "metadata": {"description": description, "params": params, "task": task,
                         "datasets": datasets, "reference": reference, "twin": twin,
                         "constraint": "symmetric" if config.get("symmetric", True) else None}}


_FM = "Rendle, Factorization Machines (ICDM 2010)"
_HOPFIELD = "Hopfield, Neural networks and physical systems with emergent collective computational abilities (PNAS 1982)"

PRESETS = {
    "pairwise_quadratic_form": _preset(
        "pairwise_interaction", "Packed symmetric J for y = x^T J x + noise (n=8)",
        {"input_shape": (8,)}, 45, "regression", ["quadratic_form"],
        "pairwise_quadratic_form_unconstrained", _FM),
    "pairwise_quadratic_form_unconstrained": _preset(
        "pairwise_interaction", "Twin of pairwise_quadratic_form with a free 8x8 J",
        {"input_shape": (8,), "symmetric": False}, 73, "regression", ["quadratic_form"],
        "pairwise_quadratic_form", _FM),
    "fm_quadratic_form": _preset(
        "pairwise_interaction", "Factorization machine J = V V^T, rank 4, for quadratic_form",
        {"input_shape": (8,), "rank": 4}, 41, "regression", ["quadratic_form"],
        "pairwise_quadratic_form_unconstrained", _FM),
    "pairwise_wine": _preset(
        "pairwise_interaction", "Three symmetric 13x13 interaction logits for wine",
        {"input_shape": (13,), "num_outputs": 3}, 315, "classification", ["wine"],
        "pairwise_wine_unconstrained", _FM),
    "pairwise_wine_unconstrained": _preset(
        "pairwise_interaction", "Twin of pairwise_wine with free 13x13 interaction matrices",
        {"input_shape": (13,), "num_outputs": 3, "symmetric": False}, 549, "classification",
        ["wine"], "pairwise_wine", _FM),
    "hopfield_patterns_32": _preset(
        "hopfield_network", "Symmetric zero-diagonal Hopfield coupling, 8 steps, 32 units",
        {"input_shape": (32,)}, 528, "regression", ["hopfield_patterns"],
        "hopfield_patterns_32_unconstrained", _HOPFIELD),
    "hopfield_patterns_32_unconstrained": _preset(
        "hopfield_network", "Twin of hopfield_patterns_32 with a free 32x32 coupling",
        {"input_shape": (32,), "symmetric": False}, 1_056, "regression", ["hopfield_patterns"],
        "hopfield_patterns_32", _HOPFIELD),
}

# Shipped weights: the final weights of the train.py command below (20 epochs, batch 32, Adam
# 3e-3, wine split by seed 0); tests/test_pretrained.py reproduces the test metrics.
PRESETS["pairwise_wine"]["metadata"]["weights"] = {
    "file": "weights/pairwise_wine.weights.h5",
    "sha256": "c125651f35a1ae80f2d9677091da3950842e02b1bf552ac529888a26fa46c3fd",
    "command": "python train.py --model pairwise_wine --seed 0 --wandb disabled",
    "dataset": "wine",
    "seed": 0,
    "test_metrics": {"test/accuracy": 1.0, "test/loss": 0.086961},
    # train.py's digest of the weight values (printed as "Final weights sha256"): a retrain matches.
    "weights_digest": "6f1d47a358d3e8ad81a091f61a63734a56ef190bafbe94148ea26b5f20f44c63",
}

register_presets(PRESETS)
