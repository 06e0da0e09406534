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
from eqzoo.zoo.registry import BYTES_PER_PARAMETER, register_architecture, register_presets
from eqzoo.zoo.symmetric_mlp import _preset as _mlp_preset


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


def _preset(description, config, params, datasets, twin, reference):
    height, width, channels = config["input_shape"]
    group = ImageDihedralGroup(height, width)
    return {"architecture": "image_invariant_net", "config": config,
            "metadata": {"description": description, "params": params,
                         "task": "classification", "datasets": datasets,
                         "reference": reference, "twin": twin, "constraint": "equivariant",
                         "equivariance": {
                             "rep_in": ImageRep(group, channels).get_config(),
                             "rep_out": TrivialRep(group, config["num_outputs"]).get_config()}}}


_DIGITS = {"input_shape": (8, 8, 1), "num_outputs": 10}
_GCNN = "Cohen & Welling, Group Equivariant Convolutional Networks (ICML 2016)"

PRESETS = {
    "d4_invariant_digits": _preset(
        "D_4-invariant net for 8x8 digits: 16 equivariant pixel channels, invariant pooling",
        _DIGITS, 23_722, ["digits", "digits_rotated"], "mlp_digits_d4_twin", _GCNN),
    "mlp_digits_d4_twin": _mlp_preset(
        "Unconstrained MLP twin of d4_invariant_digits (plain Dense blocks, width 96)",
        {**_DIGITS, "width": 96, "depth": 2, "constrained": False}, 26_218,
        ["digits", "digits_rotated"], "d4_invariant_digits"),
}

# Shipped weights: the final weights of the train.py command below (20 epochs, batch 32, Adam
# 3e-3, digits split by seed 0); tests/test_pretrained.py reproduces the test metrics and checks
# that the loaded model is D_4-invariant. Invariant, it scores the same on digits_rotated.
PRESETS["d4_invariant_digits"]["metadata"]["weights"] = {
    "file": "weights/d4_invariant_digits.weights.h5",
    "sha256": "94248ee1019f0d790c10b5b97c3f3fbe47dbea1557188937e5a63409f0add928",
    "command": "python train.py --model d4_invariant_digits --seed 0 --wandb disabled",
    "dataset": "digits",
    "seed": 0,
    "test_metrics": {"test/accuracy": 0.919220, "test/loss": 0.191676},
    # train.py's digest of the weight values (printed as "Final weights sha256"): a retrain matches.
    "weights_digest": "4e658b710e7f5b0c2d3ae125e265ca32a97a7e5d6423b7ca9b1a4ea8b2122719",
}

register_presets(PRESETS)
