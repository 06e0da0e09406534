"""Group-equivariant CNNs (p4, p4m) for images, and plain CNN twins with the same layout.

A G-CNN (Cohen & Welling, ICML 2016) lifts the image to feature maps over pixels and the
orientations of the point group (4 quarter turns for p4; and 4 mirror images for p4m), keeps
every layer equivariant, and pools over pixels and orientations at the end:

    F_1 = relu(GroupConv2D(lifting=True)(x))          (h, w, |G| * c_1)
    F_k = relu(GroupConv2D(F_{k-1})), MaxPooling2D     spatial max pooling keeps equivariance
    z = GlobalGroupPooling(F_K)                        invariant: f(g x) = f(x) for all g
    y = relu(z H_1 + c_1) H_2 + c_2

so rotating (or flipping) a digit by a multiple of 90 degrees leaves the logits unchanged, up to
float rounding. Unlike the dense pixel-permutation net (`zoo/image.py`), the cost grows with the
pixels, not their square, so 28 x 28 images fit. With `constrained=False` the same stack is a
plain CNN (Conv2D, GlobalMaxPooling2D) whose `widths` are its channel counts: the twins.
"""

import keras

from eqzoo.layers.global_group_pooling import GlobalGroupPooling
from eqzoo.layers.group_conv2d import GroupConv2D
from eqzoo.layers.plane_groups import point_group
from eqzoo.layers.representations import ImageRep, TrivialRep
from eqzoo.zoo.arguments import Activation, Boolean, Choice, Integer, Name, Optional, Shape, Sizes
from eqzoo.zoo.registry import (
    BYTES_PER_PARAMETER,
    make_preset,
    register_architecture,
    register_presets,
    shipped_weights,
)

REFERENCE = "Cohen & Welling, Group Equivariant Convolutional Networks (ICML 2016)"


def _memory(config):
    """The weights, counted from the config: each filter is stored once (the bank is derived)."""
    orientations = point_group(config["group"]).order if config["constrained"] else 1
    k2, channels, params = config["kernel_size"] ** 2, config["input_shape"][2], 0
    for i, width in enumerate(config["widths"]):
        params += k2 * (channels if i == 0 else orientations * channels) * width + width
        channels = width
    for width in ([config["hidden"]] if config["hidden"] else []) + [config["num_outputs"]]:
        params += channels * width + width
        channels = width
    return BYTES_PER_PARAMETER * params


@register_architecture("gcnn", memory=_memory)
def gcnn(*, input_shape: Shape(ndim=3), num_outputs: Integer(1),
         group: Choice("p4", "p4m") = "p4", widths: Sizes(1, 4096) = (8, 8, 8),
         pool_after: Optional(Sizes(1, 64)) = (2,), kernel_size: Integer(1, 15) = 3,
         hidden: Integer(0) = 32, activation: Activation() = "relu",
         constrained: Boolean() = True, name: Name() = "gcnn"):
    """p4 / p4m G-CNN classifier on `(h, w, c)` images; `constrained=False`: a plain CNN twin.

    `widths`: channels per orientation of each group convolution (of each Conv2D for the twin);
    `pool_after`: the layers (counted from 1) followed by a 2 x 2 max pooling (which keeps
    equivariance while the map's side is even), None for none; `kernel_size` must be odd.
    """
    height, width, _ = input_shape
    if height != width:
        raise ValueError(f"gcnn takes square images (a quarter turn maps no other grid to itself)."
                         f" Received: input_shape={tuple(input_shape)}")
    pool_after = tuple(pool_after or ())
    inputs = keras.Input(tuple(input_shape), name="inputs")
    h, side = inputs, height
    for k, channels in enumerate(widths):
        if constrained:
            h = GroupConv2D(channels, kernel_size, group=group, lifting=k == 0,
                            activation=activation, name=f"group_conv{k}")(h)
        else:
            h = keras.layers.Conv2D(channels, kernel_size, padding="same", activation=activation,
                                    name=f"conv{k}")(h)
        if k + 1 in pool_after:
            if side % 2:
                raise ValueError(f"gcnn: pooling after layer {k + 1} needs an even side to stay "
                                 f"equivariant. Received: side {side} (input_shape="
                                 f"{tuple(input_shape)}, pool_after={tuple(pool_after)})")
            h = keras.layers.MaxPooling2D(2, name=f"pool{k}")(h)
            side //= 2
    pool = GlobalGroupPooling(group, name="invariant_pool") if constrained else (
        keras.layers.GlobalMaxPooling2D(name="global_pool"))
    h = pool(h)
    if hidden:
        h = keras.layers.Dense(hidden, activation=activation, name="head_hidden")(h)
    outputs = keras.layers.Dense(num_outputs, name="head")(h)
    return keras.Model(inputs, outputs, name=name)


def _invariance(group, side, classes=10):
    pixels = point_group(group).image_group(side, side)
    return ImageRep(pixels, 1), TrivialRep(pixels, classes)


def _preset(*, description, config, params, datasets, twin, group=None, constraint=None,
            weights=None):
    equivariance = None if group is None else _invariance(group, config["input_shape"][0])
    return make_preset(architecture="gcnn", description=description, config=config,
                       params=params, task="classification", datasets=datasets,
                       reference=REFERENCE, twin=twin, constraint=constraint,
                       equivariance=equivariance, weights=weights)


_DIGITS = {"input_shape": (8, 8, 1), "num_outputs": 10}
_MNIST = {"input_shape": (28, 28, 1), "num_outputs": 10, "pool_after": (2, 4)}
_DIGITS_SETS = ["digits", "digits_rotated"]
_MNIST_SETS = ["mnist"]

PRESETS = {
    "p4m_cnn_digits": _preset(
        description="p4m G-CNN for 8x8 digits: 3 group convolutions of 12 channels x 8 "
                    "orientations, invariant pooling", group="p4m", constraint="equivariant",
        config={**_DIGITS, "group": "p4m", "widths": (12, 12, 12), "hidden": 64},
        params=22_362, datasets=_DIGITS_SETS, twin="cnn_digits_p4m_twin",
        # The final weights of its train.py command (tests/test_pretrained.py reproduces the
        # metrics and checks the loaded model is invariant): it scores the same on
        # digits_rotated, whose test images are these moved by D_4.
        weights=shipped_weights(
            preset="p4m_cnn_digits", dataset="digits",
            sha256="418e1c289223e5c9bdddd4dec797888eae40773f1f0f4280987f0210581d31b0",
            test_metrics={"test/accuracy": 0.933148, "test/loss": 0.280947},
            weights_digest="bc0fd686a215814f7e07fff6791a5ee9c9aeb488bc174ab5b9297b3c5a462555")),
    "cnn_digits_p4m_twin": _preset(
        description="Plain CNN twin of p4m_cnn_digits with about its parameters (33 channels)",
        config={**_DIGITS, "widths": (33, 33, 33), "hidden": 64, "constrained": False},
        params=22_824,
        datasets=_DIGITS_SETS, twin="p4m_cnn_digits"),
    "cnn_digits_p4m_channels_twin": _preset(
        description="Plain CNN twin of p4m_cnn_digits with its channels (96 = 12 x 8 per "
                    "layer)",
        config={**_DIGITS, "widths": (96, 96, 96), "hidden": 64, "constrained": False},
        params=173_898,
        datasets=_DIGITS_SETS, twin="p4m_cnn_digits"),
    "p4_cnn_mnist": _preset(
        description="p4 G-CNN for 28x28 MNIST (tfds): 5 group convolutions of 10 channels x 4 "
                    "orientations, two 2x2 poolings, invariant pooling", group="p4",
        constraint="equivariant",
        config={**_MNIST, "group": "p4", "widths": (10, 10, 10, 10, 10)}, params=15_222,
        datasets=_MNIST_SETS, twin="cnn_mnist_twin"),
    "cnn_mnist_twin": _preset(
        description="Plain CNN twin of p4_cnn_mnist and p4m_cnn_mnist with about their "
                    "parameters (20 channels)",
        config={**_MNIST, "widths": (20, 20, 20, 20, 20), "constrained": False}, params=15_682,
        datasets=_MNIST_SETS, twin="p4_cnn_mnist"),
    "cnn_mnist_p4_channels_twin": _preset(
        description="Plain CNN twin of p4_cnn_mnist with its channels (40 = 10 x 4 per layer)",
        config={**_MNIST, "widths": (40, 40, 40, 40, 40), "constrained": False}, params=59_802,
        datasets=_MNIST_SETS, twin="p4_cnn_mnist"),
    "p4m_cnn_mnist": _preset(
        description="p4m G-CNN for 28x28 MNIST (tfds): 5 group convolutions of 7 channels x 8 "
                    "orientations, two 2x2 poolings, invariant pooling", group="p4m",
        constraint="equivariant",
        config={**_MNIST, "group": "p4m", "widths": (7, 7, 7, 7, 7)}, params=14_796,
        datasets=_MNIST_SETS, twin="cnn_mnist_twin"),
    "cnn_mnist_p4m_channels_twin": _preset(
        description="Plain CNN twin of p4m_cnn_mnist with its channels (56 = 7 x 8 per layer)",
        config={**_MNIST, "widths": (56, 56, 56, 56, 56), "constrained": False}, params=115_834,
        datasets=_MNIST_SETS, twin="p4m_cnn_mnist"),
}

register_presets(PRESETS)
