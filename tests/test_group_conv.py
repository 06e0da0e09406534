"""p4 / p4m G-CNN layers: exact equivariance under np.rot90 and np.flip of the input, refusals,
the representation of their feature maps, saving and folding into a plain Conv2D.

Expected outputs are built here with numpy from the documented layout (orientation j = 4 f + k
is the filter moved by np.rot90(flip^f(filter), k), channels orientation-major), never with the
library's own transforms.
"""

import os

import keras
import numpy as np
import pytest

from eqzoo.layers import (
    GlobalGroupPooling,
    GroupAveraged,
    GroupConv2D,
    GroupPooling,
    assert_equivariant,
    fold_to_dense,
)
from eqzoo.layers.groups import ImageDihedralGroup, ImageRotationGroup, group_from_config
from eqzoo.layers.representations import ImageRegularRep, ImageRep, TrivialRep, rep_from_config
from tests.backend_tools import to_numpy

ATOL = 1e-4  # float32 sums in another order; the outputs are O(1)
# Orientation j = 4 f + k is r^k m^f. Rotating the input by r sends orientation j to r j;
# flipping it by m sends r^k m^f to m r^k m^f = r^-k m^(1-f).
ROTATE = {"p4": [1, 2, 3, 0], "p4m": [1, 2, 3, 0, 5, 6, 7, 4]}
FLIP = [4, 7, 6, 5, 0, 3, 2, 1]  # = its own inverse


def orientations(y, n):
    return y.reshape(y.shape[:3] + (n, -1))


def moved_features(y, n, op):
    """`g . F` with numpy: the map moved spatially, orientation j's values sent to g j."""
    target = ROTATE["p4" if n == 4 else "p4m"] if op == "rot" else FLIP
    spatial = np.rot90(y, axes=(1, 2)) if op == "rot" else np.flip(y, axis=1)
    per = orientations(spatial, n)
    out = np.empty_like(per)
    out[..., target, :] = per
    return out.reshape(y.shape)


def images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("group, ops", [("p4", ["rot"]), ("p4m", ["rot", "flip"])])
@pytest.mark.parametrize("options", [{}, {"padding": "valid", "kernel_size": 4},
                                     {"dilation_rate": 2}, {"padding": "valid", "strides": 2}])
def test_lifting_and_group_convolutions_are_exactly_equivariant(group, ops, options):
    options = {"kernel_size": 3, **options}
    lift = GroupConv2D(3, group=group, lifting=True, activation="relu", **options)
    conv = GroupConv2D(2, group=group, bias_initializer="random_normal", **options)
    n = lift.orientations
    x = images((2, 11, 11, 2))
    y = to_numpy(lift(x))
    z = to_numpy(conv(y))
    for op in ops:
        moved_x = np.rot90(x, axes=(1, 2)) if op == "rot" else np.flip(x, axis=1)
        np.testing.assert_allclose(to_numpy(lift(moved_x)), moved_features(y, n, op), atol=ATOL)
        np.testing.assert_allclose(to_numpy(conv(moved_features(y, n, op))),
                                   moved_features(z, n, op), atol=ATOL)


def test_four_quarter_turns_shift_the_orientations_cyclically():
    lift = GroupConv2D(2, 3, group="p4", lifting=True)
    x = images((1, 7, 7, 1))
    y = orientations(to_numpy(lift(x)), 4)
    for k in range(4):
        turned = orientations(to_numpy(lift(np.rot90(x, k, axes=(1, 2)).copy())), 4)
        np.testing.assert_allclose(turned, np.roll(np.rot90(y, k, axes=(1, 2)), k, axis=3),
                                   atol=ATOL)


def test_filters_are_stored_once_with_one_bias_each():
    lift = GroupConv2D(5, 3, group="p4m", lifting=True)
    lift.build((None, 8, 8, 2))
    conv = GroupConv2D(4, 3, group="p4m")
    conv.build((None, 8, 8, 40))
    assert lift.count_params() == 3 * 3 * 2 * 5 + 5
    assert conv.count_params() == 3 * 3 * 8 * 5 * 4 + 4
    bank = to_numpy(lift.filter_bank())  # (3, 3, 2, 8 * 5)
    stored = to_numpy(lift.kernel)
    np.testing.assert_array_equal(bank[..., 5:10], np.rot90(stored))  # orientation 1: r
    np.testing.assert_array_equal(bank[..., 20:25], np.flip(stored, axis=0))  # 4: m
    np.testing.assert_array_equal(to_numpy(lift.tiled_bias()), np.tile(to_numpy(lift.bias), 8))


@pytest.mark.parametrize("group, ops", [("p4", ["rot"]), ("p4m", ["rot", "flip"])])
def test_pooling_over_orientations_and_globally(group, ops):
    n = 4 if group == "p4" else 8
    y = images((2, 6, 6, n * 3))
    pooled = to_numpy(GroupPooling(group)(y))
    assert pooled.shape == (2, 6, 6, 3)
    np.testing.assert_allclose(pooled, orientations(y, n).max(axis=3), atol=1e-6)
    np.testing.assert_allclose(to_numpy(GroupPooling(group, "mean")(y)),
                               orientations(y, n).mean(axis=3), atol=1e-6)
    np.testing.assert_allclose(to_numpy(GlobalGroupPooling(group)(y)),
                               orientations(y, n).max(axis=(1, 2, 3)), atol=1e-6)
    for op in ops:
        moved = moved_features(y, n, op)
        spatial = np.rot90(pooled, axes=(1, 2)) if op == "rot" else np.flip(pooled, axis=1)
        np.testing.assert_allclose(to_numpy(GroupPooling(group)(moved)), spatial, atol=1e-6)
        for reduce in ("max", "mean"):
            np.testing.assert_allclose(to_numpy(GlobalGroupPooling(group, reduce)(moved)),
                                       to_numpy(GlobalGroupPooling(group, reduce)(y)), atol=1e-5)


@pytest.mark.parametrize("group", [ImageRotationGroup(5, 5), ImageDihedralGroup(5, 5)])
def test_image_regular_rep_moves_maps_as_numpy_does(group):
    rep = ImageRegularRep(group, channels=2)
    n = rep.point_group.order
    assert rep.shape == (5, 5, n * 2)
    y = images((3,) + rep.shape)
    rotate = group.generators[0]
    np.testing.assert_array_equal(rep.act(rotate, y), moved_features(y, n, "rot"))
    if n == 8:
        np.testing.assert_array_equal(rep.act(group.generators[1], y),
                                      moved_features(y, n, "flip"))
    again = rep_from_config(rep.get_config())
    assert again == rep and group_from_config(group.get_config()) == group
    smaller = ImageRegularRep(group, channels=2, size=3)  # a map after padding "valid"
    y = images((3,) + smaller.shape)
    np.testing.assert_array_equal(smaller.act(rotate, y), moved_features(y, n, "rot"))
    assert rep_from_config(smaller.get_config()) == smaller != rep


def small_gcnn(group, size=9):
    pixels = {"p4": ImageRotationGroup, "p4m": ImageDihedralGroup}[group](size, size)
    inputs = keras.Input((size, size, 1))
    h = GroupConv2D(3, 3, group=group, lifting=True, activation="relu")(inputs)
    h = GroupConv2D(3, 3, group=group, padding="valid", activation="relu")(h)
    h = GlobalGroupPooling(group)(h)
    outputs = keras.layers.Dense(4)(h)
    return keras.Model(inputs, outputs), pixels


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_a_whole_gcnn_is_invariant_through_the_library_checks(group):
    model, pixels = small_gcnn(group)
    assert_equivariant(model, pixels, ImageRep(pixels, 1), TrivialRep(pixels, 4), atol=ATOL)
    for layer, size in ((1, 9), (2, 7)):  # padding "same", then "valid"
        features = keras.Model(model.inputs, model.layers[layer].output)
        assert_equivariant(features, pixels, ImageRep(pixels, 1),
                           ImageRegularRep(pixels, 3, size=size), atol=ATOL)
    # GroupAveraged leaves an invariant model as it is
    averaged = GroupAveraged(model, pixels, ImageRep(pixels, 1), TrivialRep(pixels, 4))
    x = images((2, 9, 9, 1))
    np.testing.assert_allclose(to_numpy(averaged(x)), to_numpy(model(x)), atol=ATOL)


def test_keras_round_trip_and_fold_into_plain_conv2d(tmp_path):
    model, _ = small_gcnn("p4m")
    x = images((2, 9, 9, 1))
    path = os.path.join(tmp_path, "gcnn.keras")
    model.save(path)
    np.testing.assert_array_equal(to_numpy(keras.saving.load_model(path)(x)), to_numpy(model(x)))
    folded = fold_to_dense(model)
    kinds = [type(layer).__name__ for layer in folded.layers]
    assert kinds == ["InputLayer", "Conv2D", "Conv2D", "GlobalGroupPooling", "Dense"]
    assert folded.layers[1].filters == 8 * 3
    np.testing.assert_allclose(to_numpy(folded(x)), to_numpy(model(x)), atol=1e-5)


@pytest.mark.parametrize("make, fragment", [
    (lambda: GroupConv2D(4, 4, group="p4"), "odd kernel extent"),
    (lambda: GroupConv2D(4, 2, dilation_rate=3), "odd kernel extent"),
    (lambda: GroupConv2D(4, 3, strides=2), "padding='valid'"),
    (lambda: GroupConv2D(4, 3, strides=2, dilation_rate=2, padding="valid"), "not both"),
    (lambda: GroupConv2D(4, 3, group="p5"), "did you mean 'p4'"),
    (lambda: GroupConv2D(4, (3, 5)), "Received: kernel_size=(3, 5)"),
    (lambda: GroupConv2D(0, 3), "Received: filters=0"),
    (lambda: GroupConv2D(4, 3, padding="full"), "Received: padding='full'"),
    (lambda: GroupConv2D(4, 3, lifting="yes"), "Received: lifting='yes'"),
    (lambda: GroupPooling("p4", reduce="sum"), "Received: reduce='sum'"),
    (lambda: GlobalGroupPooling("d4"), "Received: group='d4'"),
])
def test_bad_arguments_are_refused_in_one_line(make, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as info:
        make()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("layer, shape, fragment", [
    (GroupConv2D(4, 3, group="p4m"), (None, 8, 8, 12), "8 * c channels. Received: input shape "
                                                       "(None, 8, 8, 12)"),
    (GroupConv2D(4, 3, strides=2, padding="valid"), (None, 10, 10, 4), "(size - kernel_size)"),
    (GroupConv2D(4, 3, strides=2, padding="valid"), (None, None, None, 4), "known input size"),
    (GroupPooling("p4"), (None, 8, 8, 6), "4 * c channels"),
    (GlobalGroupPooling("p4m"), (None, 8, 8, 4), "8 * c channels"),
])
def test_inputs_that_do_not_fit_are_refused_at_build(layer, shape, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("*", r"\*")) as info:
        layer.build(shape)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("overrides, fragment", [
    ({"input_shape": (8, 10, 1)}, "square images"),
    ({"input_shape": (9, 9, 1)}, "needs an even side"),  # 2 x 2 pooling after layer 2
    ({"kernel_size": 4}, "odd kernel extent"),
    ({"group": "p6"}, "p6"),
])
def test_gcnn_presets_refuse_layouts_that_break_equivariance(overrides, fragment):
    from eqzoo import zoo

    with pytest.raises(ValueError, match=fragment) as info:
        zoo.create_model("p4m_cnn_digits", **overrides)
    assert "\n" not in str(info.value)


def test_image_regular_rep_refuses_what_it_cannot_represent():
    with pytest.raises(ValueError, match="square grid"):
        ImageRegularRep(ImageDihedralGroup(4, 6))
    with pytest.raises(ValueError, match="Received: channels=0"):
        ImageRegularRep(ImageRotationGroup(4, 4), channels=0)
    with pytest.raises(ValueError, match="Received: size=0"):
        ImageRegularRep(ImageRotationGroup(4, 4), size=0)


@pytest.mark.slow
@pytest.mark.tensorflow  # SavedModel and TFLite serve through TensorFlow
@pytest.mark.parametrize("fmt, artifact", [("saved_model", "saved_model"),
                                           ("tflite", "model.tflite")])
def test_export_folds_serves_and_remeasures_equivariance(fmt, artifact, tmp_path):
    from eqzoo.zoo import export_model

    model, pixels = small_gcnn("p4m")
    report = export_model(model, os.path.join(tmp_path, artifact), fmt,
                          equivariance=(ImageRep(pixels, 1), TrivialRep(pixels, 4)),
                          validation_inputs=images((16, 9, 9, 1)), verbose=False)
    assert report["passed"] and not report["serving_process"]["eqzoo_modules"]
    assert report["folded_layers"] == [model.layers[1].name, model.layers[2].name]
    assert report["equivariance"]["group_elements"] == 2 + 8  # generators and samples
    assert report["equivariance"]["exported"] <= 1e-4
