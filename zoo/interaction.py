"""Symmetric-interaction networks: pairwise (factorization-machine) models and Hopfield networks.

Pairwise interaction model (Rendle, "Factorization Machines", ICDM 2010):

    y_k = w0_k + w_k^T x + x^T J_k x,      J_k = J_k^T   (packed, or low rank J_k = V_k V_k^T)

Only the symmetric part of J reaches `x^T J x`, so the constraint loses nothing and halves the
parameters; the unconstrained twin (`constrained=False`) stores a free n x n J.

Hopfield network (Hopfield, PNAS 1982; as projected gradient descent on the energy over the box):

    x_{t+1} = clip(x_t + eta (J x_t + b), -1, 1),   J = J^T, diag(J) = 0,
    E(x) = -1/2 x^T J x - b^T x never increases along the iteration.

Its twin (`constrained=False`) iterates the same rule with a free coupling matrix, for which
no energy exists.
"""

import math

import keras

from eqzoo.layers.hopfield import HopfieldBlock
from eqzoo.layers.pairwise_interaction import PairwiseInteraction
from eqzoo.zoo.arguments import Activation, Boolean, Integer, Name, Number, Optional, Shape
from eqzoo.zoo.registry import (
    BYTES_PER_PARAMETER,
    make_preset,
    register_architecture,
    register_presets,
    shipped_weights,
)


def _pairs(n, symmetric):
    return n * (n + 1) // 2 if symmetric else n * n


def _interaction_memory(config):
    """The interaction matrix J per output: n(n+1)/2 values (n^2 untied), or rank x n factors."""
    n = math.prod(config["input_shape"])
    per_output = config["rank"] * n if config["rank"] else _pairs(n, config["constrained"])
    return BYTES_PER_PARAMETER * config["num_outputs"] * per_output


def _hopfield_memory(config):
    """The coupling W: n(n+1)/2 values, n^2 untied."""
    return BYTES_PER_PARAMETER * _pairs(math.prod(config["input_shape"]), config["constrained"])


@register_architecture("pairwise_interaction", memory=_interaction_memory,
                       renamed={"symmetric": "constrained"})
def pairwise_interaction(*, input_shape: Shape(), num_outputs: Integer(1) = 1,
                         rank: Optional(Integer(1)) = None, constrained: Boolean() = True,
                         use_linear: Boolean() = True,
                         output_activation: Optional(Activation()) = None,
                         name: Name() = "pairwise_interaction"):
    """`y = w0 + w^T x + x^T J x` per output; `constrained=False` gives the twin, a free J."""
    inputs = keras.Input(tuple(input_shape), name="inputs")
    h = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    outputs = PairwiseInteraction(num_outputs, rank=rank, symmetric=constrained,
                                  use_linear=use_linear, name="interaction")(h)
    if output_activation:
        outputs = keras.layers.Activation(output_activation, name="output_activation")(outputs)
    return keras.Model(inputs, outputs, name=name)


@register_architecture("hopfield_network", memory=_hopfield_memory,
                       renamed={"symmetric": "constrained"})
def hopfield_network(*, input_shape: Shape(), steps: Integer(1) = 8,
                     step_size: Number(0, closed_left=False) = 1.0,
                     constrained: Boolean() = True,
                     use_bias: Boolean() = True, name: Name() = "hopfield_network"):
    """A Hopfield block over +-1 patterns: corrupted pattern in, completed pattern out;
    `constrained=False` gives the twin, a free coupling matrix."""
    inputs = keras.Input(tuple(input_shape), name="inputs")
    outputs = HopfieldBlock(steps=steps, step_size=step_size, symmetric=constrained,
                            use_bias=use_bias, name="hopfield")(inputs)
    return keras.Model(inputs, outputs, name=name)


_FM = {"architecture": "pairwise_interaction",
       "reference": "Rendle, Factorization Machines (ICDM 2010)"}
_HOPFIELD = {"architecture": "hopfield_network", "task": "regression",
             "datasets": ["hopfield_patterns"],
             "reference": "Hopfield, Neural networks and physical systems with emergent "
                          "collective computational abilities (PNAS 1982)"}

PRESETS = {
    "pairwise_quadratic_form": make_preset(
        **_FM, description="Packed symmetric J for y = x^T J x + noise (n=8)",
        config={"input_shape": (8,)}, params=45, task="regression", datasets=["quadratic_form"],
        constraint="symmetric", twin="pairwise_quadratic_form_unconstrained"),
    "pairwise_quadratic_form_unconstrained": make_preset(
        **_FM, description="Twin of pairwise_quadratic_form with a free 8x8 J",
        config={"input_shape": (8,), "constrained": False}, params=73, task="regression",
        datasets=["quadratic_form"], constraint=None, twin="pairwise_quadratic_form"),
    "fm_quadratic_form": make_preset(
        **_FM, description="Factorization machine J = V V^T, rank 4, for quadratic_form",
        config={"input_shape": (8,), "rank": 4}, params=41, task="regression",
        datasets=["quadratic_form"], constraint="symmetric",
        twin="pairwise_quadratic_form_unconstrained"),
    "pairwise_wine": make_preset(
        **_FM, description="Three symmetric 13x13 interaction logits for wine",
        config={"input_shape": (13,), "num_outputs": 3}, params=315, task="classification",
        datasets=["wine"], constraint="symmetric", twin="pairwise_wine_unconstrained",
        # The final weights of its train.py command, which tests/test_pretrained.py reproduces.
        weights=shipped_weights(
            preset="pairwise_wine", dataset="wine",
            sha256="c125651f35a1ae80f2d9677091da3950842e02b1bf552ac529888a26fa46c3fd",
            test_metrics={"test/accuracy": 1.0, "test/loss": 0.086961},
            weights_digest="6f1d47a358d3e8ad81a091f61a63734a56ef190bafbe94148ea26b5f20f44c63")),
    "pairwise_wine_unconstrained": make_preset(
        **_FM, description="Twin of pairwise_wine with free 13x13 interaction matrices",
        config={"input_shape": (13,), "num_outputs": 3, "constrained": False}, params=549,
        task="classification", datasets=["wine"], constraint=None, twin="pairwise_wine"),
    "hopfield_patterns_32": make_preset(
        **_HOPFIELD, description="Symmetric zero-diagonal Hopfield coupling, 8 steps, 32 units",
        config={"input_shape": (32,)}, params=528, constraint="symmetric",
        twin="hopfield_patterns_32_unconstrained"),
    "hopfield_patterns_32_unconstrained": make_preset(
        **_HOPFIELD, description="Twin of hopfield_patterns_32 with a free 32x32 coupling",
        config={"input_shape": (32,), "constrained": False}, params=1_056, constraint=None,
        twin="hopfield_patterns_32"),
}

register_presets(PRESETS)
