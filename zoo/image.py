"""Image classifiers exactly invariant under the symmetries of the pixel grid (D_4 for squares).

An h x w x c image is h * w pixels with c channels, and `ImageDihedralGroup(h, w)` permutes the
pixels (rotations by 90 degrees and reflections). Every layer up to the pooling is a
group-equivariant map between per-pixel channels, so rotating or reflecting the input moves the
hidden features the same way; the pooling layer maps them to invariant features:

    h_1 = act(x W_1 + b_1)                  W_1 in the commutant of D_4 on pixels (x channels)
    z = act(h_K W_pool + b)                 invariant: W_pool constant on each pixel orbit
    y = act(z H_1 + c_1) H_2 + c_2          head on invariant features

so `f(g . x) = f(x)` for all eight `g`, exactly (the kernels are assembled from orbit
coefficients, Cohen & Welling's group equivariance with the permutation representation of the
pixels in place of a regular representation). The price: orientation carries no information,
so a 6 and a 9 (roughly half turns of each other) must be told apart by details of handwriting,
and upright accuracy is lower than an unconstrained model's. The unconstrained twin is a plain
MLP of about the same size on the flattened pixels.
"""

import keras

from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.groups import ImageDihedralGroup
from eqzoo.layers.representations import DefiningRep, ImageRep, TrivialRep
from eqzoo.zoo.arguments import Activation, Integer, Name, Shape
from eqzoo.zoo.registry import (
    BYTES_PER_PARAMETER,
    make_preset,
    register_architecture,
    register_presets,
    shipped_weights,
)
from eqzoo.zoo.symmetric_mlp import REFERENCE as MLP_REFERENCE


def _memory(config):
    """The group's generators as float64 (pixels x pixels) matrices, which the bases are solved
    from, and the head's weights (the equivariant layers' coefficients are few)."""
    height, width, _ = config["input_shape"]
    pixels = height * width
    head = config["pooled"] * max(config["hidden"], 1) + max(config["hidden"], config["pooled"]) * (
        config["num_outputs"])
    return 2 * 8 * pixels * pixels + BYTES_PER_PARAMETER * head


@register_architecture("image_invariant_net", memory=_memory)
def image_invariant_net(*, input_shape: Shape(ndim=3), num_outputs: Integer(1),
                        width: Integer(1) = 16, depth: Integer(1) = 1, pooled: Integer(1) = 64,
                        hidden: Integer(0) = 64, activation: Activation() = "relu",
                        name: Name() = "image_invariant_net"):
    """Invariant classifier on `(h, w, c)` images under `ImageDihedralGroup(h, w)`."""
    if len(input_shape) != 3:
        raise ValueError("image_invariant_net takes images of shape (height, width, channels). "
                         f"Received: input_shape={tuple(input_shape)}")
    height, width_px, channels = input_shape
    pixels = DefiningRep(ImageDihedralGroup(height, width_px))
    inputs = keras.Input(tuple(input_shape), name="inputs")
    h = keras.layers.Reshape((height * width_px, channels), name="to_pixels")(inputs)
    for k in range(depth):
        h = EquivariantDense(pixels.channels(channels), pixels.channels(width),
                             activation=activation, name=f"equivariant{k}")(h)
        channels = width
    h = EquivariantDense(pixels.channels(channels), TrivialRep(pixels.group, pooled),
                         activation=activation, name="invariant_pool")(h)
    if hidden:
        h = keras.layers.Dense(hidden, activation=activation, name="head_hidden")(h)
    outputs = keras.layers.Dense(num_outputs, name="head")(h)
    return keras.Model(inputs, outputs, name=name)


_DIGITS = {"input_shape": (8, 8, 1), "num_outputs": 10}
_DIGITS_D4 = ImageDihedralGroup(8, 8)

PRESETS = {
    "d4_invariant_digits": make_preset(
        architecture="image_invariant_net",
        description="D_4-invariant net for 8x8 digits: 16 equivariant pixel channels, invariant "
                    "pooling",
        config=_DIGITS, params=23_722, task="classification",
        datasets=["digits", "digits_rotated"],
        reference="Cohen & Welling, Group Equivariant Convolutional Networks (ICML 2016)",
        constraint="equivariant", twin="mlp_digits_d4_twin",
        equivariance=(ImageRep(_DIGITS_D4, 1), TrivialRep(_DIGITS_D4, 10)),
        # The final weights of its train.py command, which tests/test_pretrained.py reproduces,
        # checking that the loaded model is D_4-invariant. Invariant, it scores the same on
        # digits_rotated.
        weights=shipped_weights(
            preset="d4_invariant_digits", dataset="digits",
            sha256="94248ee1019f0d790c10b5b97c3f3fbe47dbea1557188937e5a63409f0add928",
            test_metrics={"test/accuracy": 0.919220, "test/loss": 0.191676},
            weights_digest="4e658b710e7f5b0c2d3ae125e265ca32a97a7e5d6423b7ca9b1a4ea8b2122719")),
    "mlp_digits_d4_twin": make_preset(
        architecture="symmetric_mlp",
        description="Unconstrained MLP twin of d4_invariant_digits (plain Dense blocks, width 96)",
        config={**_DIGITS, "width": 96, "depth": 2, "constrained": False}, params=26_218,
        task="classification", datasets=["digits", "digits_rotated"], reference=MLP_REFERENCE,
        constraint=None, twin="d4_invariant_digits"),
}

register_presets(PRESETS)
