"""Symmetric MLP: a residual stack of SymmetricDense blocks between a projection and a head.

    h_0 = x P + p                                   (projection to the width n)
    h_{k+1} = h_k + act(norm(h_k) W_k + b_k),  W_k = W_k^T    (pre-norm residual blocks)
    y = h_K H + c                                   (task head: logits or regression outputs)

Each block's kernel is symmetric (n(n+1)/2 values instead of n^2), which ties the weight from
unit i to unit j to the one from j to i. Reference: the symmetric-weight layer of the seed
article, in the pre-norm residual form of "Identity Mappings in Deep Residual Networks"
(He et al., 2016). The unconstrained twin (`constrained=False`) uses plain Dense blocks.
"""

import math

import keras

from eqzoo.layers import SymmetricDense
from eqzoo.layers.symmetric_dense import PARAMETRIZATIONS
from eqzoo.zoo.arguments import Activation, Boolean, Choice, Integer, Name, Number, Optional, Shape
from eqzoo.zoo.registry import (
    BYTES_PER_PARAMETER,
    make_preset,
    register_architecture,
    register_presets,
    shipped_weights,
)


def _memory(config):
    """Projection, blocks (n(n+1)/2 or n^2 kernel values each) and head, biases left out."""
    width, depth = config["width"], config["depth"]
    block = width * (width + 1) // 2 if config["constrained"] else width * width
    parameters = (math.prod(config["input_shape"]) * width + depth * block
                  + width * config["num_outputs"])
    return BYTES_PER_PARAMETER * parameters


@register_architecture("symmetric_mlp", memory=_memory)
def symmetric_mlp(
    *,
    input_shape: Shape(),
    num_outputs: Integer(1),
    width: Integer(1) = 64,
    depth: Integer(1) = 2,  # at least one symmetric block: 0 would drop the constraint
    activation: Activation() = "gelu",
    residual: Boolean() = True,
    normalization: Boolean() = True,
    dropout: Number(0, 1, closed_right=False) = 0.0,
    constrained: Boolean() = True,
    parametrization: Choice(*PARAMETRIZATIONS) = "packed",
    output_activation: Optional(Activation()) = None,
    name: Name() = "symmetric_mlp",
):
    """Builds the MLP; `constrained=False` gives the unconstrained (plain Dense) twin."""
    inputs = keras.Input(tuple(input_shape), name="inputs")
    h = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    h = keras.layers.Dense(width, name="projection")(h)
    for k in range(depth):
        z = keras.layers.LayerNormalization(name=f"block{k}_norm")(h) if normalization else h
        if constrained:
            z = SymmetricDense(activation=activation, parametrization=parametrization,
                               name=f"block{k}_symmetric")(z)
        else:
            z = keras.layers.Dense(width, activation=activation, name=f"block{k}_dense")(z)
        if dropout:
            z = keras.layers.Dropout(dropout, name=f"block{k}_dropout")(z)
        h = keras.layers.Add(name=f"block{k}_residual")([h, z]) if residual else z
    outputs = keras.layers.Dense(num_outputs, activation=output_activation, name="head")(h)
    return keras.Model(inputs, outputs, name=name)


REFERENCE = "Seed article (symmetric Dense kernels); pre-norm residual MLP"
_FAMILY = {"architecture": "symmetric_mlp", "reference": REFERENCE}
_DIGITS = {"input_shape": (8, 8, 1), "num_outputs": 10, "width": 64, "depth": 2}
_MNIST = {"input_shape": (28, 28, 1), "num_outputs": 10, "width": 256, "depth": 2}
_WINE = {"input_shape": (13,), "num_outputs": 3, "width": 32, "depth": 2, "dropout": 0.1}
_DIABETES = {"input_shape": (10,), "num_outputs": 1, "width": 32, "depth": 2}

PRESETS = {
    "symmetric_mlp_digits": make_preset(
        **_FAMILY, description="Residual MLP with 2 symmetric 64x64 blocks for 8x8 digits",
        config=_DIGITS, params=9_354, task="classification", datasets=["digits"],
        constraint="symmetric", twin="mlp_digits",
        # The final weights of its train.py command, which tests/test_pretrained.py reproduces.
        weights=shipped_weights(
            preset="symmetric_mlp_digits", dataset="digits",
            sha256="5fd536eb0c9b71f537aa5c026b25e865d3d9f51b54d76c4e1f7c284216efb9da",
            test_metrics={"test/accuracy": 0.977716, "test/loss": 0.091581},
            weights_digest="93a5c2939fe943128c75aa6dcdda64f482340f9d009899dc7c4c2bc66b449739")),
    "mlp_digits": make_preset(
        **_FAMILY, description="Unconstrained twin of symmetric_mlp_digits (plain Dense blocks)",
        config={**_DIGITS, "constrained": False}, params=13_386, task="classification",
        datasets=["digits"], constraint=None, twin="symmetric_mlp_digits"),
    "symmetric_mlp_mnist": make_preset(
        **_FAMILY, description="Residual MLP with 2 symmetric 256x256 blocks for 28x28 images",
        config=_MNIST, params=270_858, task="classification",
        datasets=["mnist", "fashion_mnist"], constraint="symmetric", twin="mlp_mnist"),
    "mlp_mnist": make_preset(
        **_FAMILY, description="Unconstrained twin of symmetric_mlp_mnist (plain Dense blocks)",
        config={**_MNIST, "constrained": False}, params=336_138, task="classification",
        datasets=["mnist", "fashion_mnist"], constraint=None, twin="symmetric_mlp_mnist"),
    "symmetric_mlp_wine": make_preset(
        **_FAMILY,
        description="Small residual symmetric MLP for 13-feature tabular classification",
        config=_WINE, params=1_795, task="classification", datasets=["wine"],
        constraint="symmetric", twin="mlp_wine"),
    "mlp_wine": make_preset(
        **_FAMILY, description="Unconstrained twin of symmetric_mlp_wine (plain Dense blocks)",
        config={**_WINE, "constrained": False}, params=2_787, task="classification",
        datasets=["wine"], constraint=None, twin="symmetric_mlp_wine"),
    "symmetric_mlp_diabetes": make_preset(
        **_FAMILY,
        description="Small residual symmetric MLP regressor for the 10-feature diabetes set",
        config=_DIABETES, params=1_633, task="regression", datasets=["diabetes"],
        constraint="symmetric", twin="mlp_diabetes"),
    "mlp_diabetes": make_preset(
        **_FAMILY,
        description="Unconstrained twin of symmetric_mlp_diabetes (plain Dense blocks)",
        config={**_DIABETES, "constrained": False}, params=2_625, task="regression",
        datasets=["diabetes"], constraint=None, twin="symmetric_mlp_diabetes"),
}

register_presets(PRESETS)
