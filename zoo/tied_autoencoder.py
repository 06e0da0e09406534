"""Tied autoencoder: the decoder reuses the encoder's kernels, transposed.

    encoder: h_1 = act(x W_1 + a_1), ..., z = act(h_{K-1} W_K + a_K)
             [optional bottleneck: z <- act(z S + s), S = S^T]
    decoder: h_{K-1}' = act(z W_K^T + c_K), ..., x' = h_1' W_1^T + c_1

One kernel per encoder/decoder pair (about half the parameters of the untied twin), each trained
by both halves through one variable; the tie survives `.keras` save and load (see
`layers.DenseTranspose`). The optional bottleneck is a `SymmetricDense` map of the code.
Reference: Vincent et al., "Stacked Denoising Autoencoders" (JMLR 2010), which ties
`W' = W^T`; the untied twin (`constrained=False`) gives the decoder its own Dense kernels.
"""

import itertools
import math

import keras

from eqzoo.layers import SymmetricDense
from eqzoo.layers.dense_transpose import DenseTranspose
from eqzoo.zoo.arguments import Activation, Boolean, Name, Optional, Shape, Sizes
from eqzoo.zoo.registry import (
    BYTES_PER_PARAMETER,
    make_preset,
    register_architecture,
    register_presets,
    shipped_weights,
)


def _memory(config):
    """Encoder kernels (shared with the decoder when tied) and the bottleneck's, without biases."""
    widths = [math.prod(config["input_shape"]), *config["hidden"]]
    kernels = sum(a * b for a, b in itertools.pairwise(widths))
    parameters = kernels if config["constrained"] else 2 * kernels
    if config["symmetric_bottleneck"]:
        parameters += widths[-1] * (widths[-1] + 1) // 2
    return BYTES_PER_PARAMETER * parameters


@register_architecture("tied_autoencoder", memory=_memory, renamed={"tied": "constrained"})
def tied_autoencoder(*, input_shape: Shape(), hidden: Sizes() = (32, 16),
                     activation: Activation() = "relu", constrained: Boolean() = True,
                     symmetric_bottleneck: Boolean() = False,
                     output_activation: Optional(Activation()) = None,
                     name: Name() = "tied_autoencoder"):
    """Builds the autoencoder; `constrained=False` gives the untied twin (decoders with kernels
    of their own; a symmetric bottleneck stays symmetric)."""
    input_shape = tuple(input_shape)
    size = math.prod(input_shape)
    inputs = keras.Input(input_shape, name="inputs")
    h = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    encoders = []
    for k, width in enumerate(hidden):
        encoders.append(keras.layers.Dense(width, activation=activation, name=f"encoder{k}"))
        h = encoders[-1](h)
    if symmetric_bottleneck:
        h = SymmetricDense(activation=activation, name="bottleneck_symmetric")(h)
    widths = [size, *hidden]
    for k in reversed(range(len(hidden))):
        act = activation if k else output_activation
        if constrained:
            h = DenseTranspose(encoders[k], activation=act, name=f"decoder{k}")(h)
        else:
            h = keras.layers.Dense(widths[k], activation=act, name=f"decoder{k}")(h)
    outputs = keras.layers.Reshape(input_shape, name="reshape")(h) if len(input_shape) > 1 else h
    return keras.Model(inputs, outputs, name=name)


_FAMILY = {"architecture": "tied_autoencoder", "task": "reconstruction",
           "reference": "Vincent et al., Stacked Denoising Autoencoders (JMLR 2010)"}
_DIGITS = {"input_shape": (8, 8, 1), "hidden": (32, 16)}
_MNIST = {"input_shape": (28, 28, 1), "hidden": (256, 64)}

PRESETS = {
    "tied_autoencoder_digits": make_preset(
        **_FAMILY, description="Tied 64-32-16 autoencoder for 8x8 digits", config=_DIGITS,
        params=2_704, datasets=["digits"], constraint="tied", twin="autoencoder_digits",
        # The final weights of its train.py command, which tests/test_pretrained.py reproduces.
        weights=shipped_weights(
            preset="tied_autoencoder_digits", dataset="digits",
            sha256="8c92aaebf5e56fdeaaf784c752cfb9323fcf0633634d14b5942531a69577dd1a",
            test_metrics={"test/loss": 0.014579, "test/mae": 0.082241},
            weights_digest="0ce56f985960ad0b3f1af8a37915d0225a7e3e86e85839096cb9629a1e35b4c2")),
    "tied_autoencoder_digits_symmetric": make_preset(
        **_FAMILY, description="Tied 64-32-16 autoencoder with a symmetric 16x16 bottleneck map",
        config={**_DIGITS, "symmetric_bottleneck": True}, params=2_856, datasets=["digits"],
        constraint="tied", twin="autoencoder_digits"),
    "autoencoder_digits": make_preset(
        **_FAMILY, description="Untied twin of tied_autoencoder_digits",
        config={**_DIGITS, "constrained": False}, params=5_264, datasets=["digits"],
        constraint=None, twin="tied_autoencoder_digits"),
    "tied_autoencoder_mnist": make_preset(
        **_FAMILY, description="Tied 784-256-64 autoencoder for 28x28 images", config=_MNIST,
        params=218_448, datasets=["mnist", "fashion_mnist"], constraint="tied",
        twin="autoencoder_mnist"),
    "autoencoder_mnist": make_preset(
        **_FAMILY, description="Untied twin of tied_autoencoder_mnist",
        config={**_MNIST, "constrained": False}, params=435_536,
        datasets=["mnist", "fashion_mnist"], constraint=None, twin="tied_autoencoder_mnist"),
}

register_presets(PRESETS)
