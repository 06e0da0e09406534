"""Tied autoencoder: the decoder reuses the encoder's kernels, transposed.

    encoder: h_1 = act(x W_1 + a_1), ..., z = act(h_{K-1} W_K + a_K)     [optional z <- act(z S + s), S = S^T]
    decoder: h_{K-1}' = act(z W_K^T + c_K), ..., x' = h_1' W_1^T + c_1

One kernel per encoder/decoder pair (about half the parameters of the untied twin), each trained
by both halves through one variable; the tie survives `.keras` save and load (see
`layers.DenseTranspose`). The optional bottleneck is a `SymmetricDense` map of the code.
Reference: Vincent et al., "Stacked Denoising Autoencoders" (JMLR 2010), which ties
`W' = W^T`; the untied twin (`tied=False`) gives the decoder its own Dense kernels.
"""

import math

import keras

from eqzoo.layers import SymmetricDense
from eqzoo.layers.dense_transpose import DenseTranspose
from eqzoo.zoo.arguments import Activation, Boolean, Name, Optional, Shape, Sizes
from eqzoo.zoo.registry import BYTES_PER_PARAMETER, register_architecture, register_presets


def _memory(config):
    """Encoder kernels (shared with the decoder when tied) and the bottleneck's, without biases."""
    widths = [math.prod(config["input_shape"]), *config["hidden"]]
    parameters = sum(a * b for a, b in zip(widths, widths[1:])) * (1 if config["tied"] else 2)
    if config["symmetric_bottleneck"]:
        parameters += widths[-1] * (widths[-1] + 1) // 2
    return BYTES_PER_PARAMETER * parameters


@register_architecture("tied_autoencoder", memory=_memory)
def tied_autoencoder(*, input_shape: Shape(), hidden: Sizes() = (32, 16),
                     activation: Activation() = "relu", tied: Boolean() = True,
                     symmetric_bottleneck: Boolean() = False,
                     output_activation: Optional(Activation()) = None,
                     name: Name() = "tied_autoencoder"):
    """Builds the autoencoder; `tied=False` gives the untied twin."""
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
        if tied:
            h = DenseTranspose(encoders[k], activation=act, name=f"decoder{k}")(h)
        else:
            h = keras.layers.Dense(widths[k], activation=act, name=f"decoder{k}")(h)
    outputs = keras.layers.Reshape(input_shape, name="reshape")(h) if len(input_shape) > 1 else h
    return keras.Model(inputs, outputs, name=name)


def _preset(description, config, params, datasets, twin):
    return {
        "architecture": "tied_autoencoder",
        "config": config,
        "metadata": {
            "description": description,
            "params": params,
            "task": "reconstruction",
            "datasets": datasets,
            "reference": "Vincent et al., Stacked Denoising Autoencoders (JMLR 2010)",
            "twin": twin,
            "constraint": "tied" if config.get("tied", True) else None,
        },
    }


_DIGITS = {"input_shape": (8, 8, 1), "hidden": (32, 16)}
_MNIST = {"input_shape": (28, 28, 1), "hidden": (256, 64)}

PRESETS = {
    "tied_autoencoder_digits": _preset(
        "Tied 64-32-16 autoencoder for 8x8 digits", _DIGITS, 2_704, ["digits"],
        "autoencoder_digits"),
    "tied_autoencoder_digits_symmetric": _preset(
        "Tied 64-32-16 autoencoder with a symmetric 16x16 bottleneck map",
        {**_DIGITS, "symmetric_bottleneck": True}, 2_856, ["digits"], "autoencoder_digits"),
    "autoencoder_digits": _preset(
        "Untied twin of tied_autoencoder_digits", {**_DIGITS, "tied": False}, 5_264, ["digits"],
        "tied_autoencoder_digits"),
    "tied_autoencoder_mnist": _preset(
        "Tied 784-256-64 autoencoder for 28x28 images", _MNIST, 218_448,
        ["mnist", "fashion_mnist"], "autoencoder_mnist"),
    "autoencoder_mnist": _preset(
        "Untied twin of tied_autoencoder_mnist", {**_MNIST, "tied": False}, 435_536,
        ["mnist", "fashion_mnist"], "tied_autoencoder_mnist"),
}

# Shipped weights: the final weights of the train.py command below (20 epochs, batch 32, Adam
# 3e-3, digits split by seed 0); tests/test_pretrained.py reproduces the test metrics.
PRESETS["tied_autoencoder_digits"]["metadata"]["weights"] = {
    "file": "weights/tied_autoencoder_digits.weights.h5",
    "sha256": "8c92aaebf5e56fdeaaf784c752cfb9323fcf0633634d14b5942531a69577dd1a",
    "command": "python train.py --model tied_autoencoder_digits --seed 0 --wandb disabled",
    "dataset": "digits",
    "seed": 0,
    "test_metrics": {"test/loss": 0.014579, "test/mae": 0.082241},
    # train.py's digest of the weight values (printed as "Final weights sha256"): a retrain matches.
    "weights_digest": "0ce56f985960ad0b3f1af8a37915d0225a7e3e86e85839096cb9629a1e35b4c2",
}

register_presets(PRESETS)
