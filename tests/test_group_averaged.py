"""GroupAveraged: the Reynolds average makes any model equivariant; exact, sampled, saved."""

import os

import keras
import numpy as np
import pytest

from eqzoo.layers import EquivariantDense, GroupAveraged, assert_equivariant, equivariance_error
from eqzoo.layers.groups import CyclicGroup, FiniteGroup, ImageDihedralGroup, SymmetricGroup
from eqzoo.layers.representations import DefiningRep, ImageRep, TrivialRep
from tests.backend_tools import to_numpy
from tests.layer_checks import run_layer_checks

IMAGES = ImageDihedralGroup(4, 4)
C4_PLANE = FiniteGroup([[[0.0, -1.0], [1.0, 0.0]]], name="C4Rotations")  # matrices, not perms


def mlp(input_shape, outputs, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                             keras.layers.Dense(16, activation="tanh"),
                             keras.layers.Dense(outputs)])


CASES = {  # group, rep_in, rep_out, input shape of the wrapped model
    "D4 images, invariant": (IMAGES, ImageRep(IMAGES), TrivialRep(IMAGES, 3), (4, 4, 1)),
    "C6 signal, equivariant": (CyclicGroup(6), DefiningRep(CyclicGroup(6)),
                               DefiningRep(CyclicGroup(6)), (6,)),
    "C4 plane rotations, matrices": (C4_PLANE, DefiningRep(C4_PLANE), DefiningRep(C4_PLANE), (2,)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_dense_mlp_fails_before_wrapping_and_passes_after(case):
    group, rep_in, rep_out, shape = CASES[case]
    model = mlp(shape, rep_out.dim)
    if shape == (6,):  # an equivariant output keeps the input's layout
        model = keras.Sequential([model, keras.layers.Reshape((6,))])
    with pytest.raises(AssertionError, match="is not equivariant"):
        assert_equivariant(model, group, rep_in, rep_out, atol=1e-3)
    averaged = GroupAveraged(model, group, rep_in, rep_out)
    assert averaged.exact and averaged.num_elements == group.order
    assert_equivariant(averaged, group, rep_in, rep_out, n_samples=16, atol=1e-5)


def test_the_average_of_one_coordinate_over_shifts_is_the_mean():
    group = CyclicGroup(4)
    pick_first = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")
    pick_first.build((None, 4))
    pick_first.set_weights([np.array([[1.0], [0.0], [0.0], [0.0]], "float32")])
    averaged = GroupAveraged(pick_first, group, DefiningRep(group), TrivialRep(group))
    x = np.array([[1.0, 2.0, 3.0, 10.0], [0.0, 0.0, 4.0, 0.0]], "float32")
    np.testing.assert_allclose(to_numpy(averaged(x)), [[4.0], [1.0]], rtol=1e-6)


def test_an_equivariant_model_is_left_unchanged():
    rep = DefiningRep(CyclicGroup(6))
    model = keras.Sequential([keras.Input((6,)), EquivariantDense(rep, rep, activation="tanh"),
                              EquivariantDense(rep, rep)])
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    averaged = GroupAveraged(model, rep.group, rep, rep)
    np.testing.assert_allclose(to_numpy(averaged(x)), to_numpy(model(x)), atol=1e-6)


def test_wrapping_a_trained_model_keeps_its_weights_and_saves(tmp_path):
    rep_in, rep_out = ImageRep(IMAGES), TrivialRep(IMAGES, 3)
    model = mlp((4, 4, 1), 3)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4, 4, 1)).astype("float32")
    model.compile("adam", "mse")
    model.fit(x, rng.normal(size=(8, 3)), epochs=2, verbose=0)
    trained = [w.copy() for w in model.get_weights()]
    wrapper = keras.Sequential([keras.Input((4, 4, 1)),
                                GroupAveraged(model, IMAGES, rep_in, rep_out)])
    assert all(np.array_equal(a, b) for a, b in zip(wrapper.get_weights(), trained, strict=True))
    path = os.path.join(tmp_path, "averaged.keras")
    wrapper.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(wrapper(x)))
    inner = loaded.layers[0]
    assert isinstance(inner, GroupAveraged) and isinstance(inner.layer, keras.Sequential)
    assert inner.rep_in == rep_in and inner.rep_out == rep_out and inner.group == IMAGES
    assert_equivariant(loaded, IMAGES, rep_in, rep_out, atol=1e-5)
    # The wrapped model is compiled, with its own metrics: training through the wrapper works.
    model.compile("adam", "mse", metrics=["mae"])  # as a loaded model is: metrics not yet built
    wrapper.compile("adam", "mse", metrics=["mae"])
    history = wrapper.fit(x, rng.normal(size=(8, 3)), epochs=1, verbose=0)
    assert np.isfinite(history.history["mae"][0])
    assert_equivariant(wrapper, IMAGES, rep_in, rep_out, atol=1e-5)


def test_shared_layer_checks():
    rep = DefiningRep(CyclicGroup(5))
    run_layer_checks(
        lambda: GroupAveraged(keras.layers.Dense(5), rep.group, rep, rep), (5,),
        expected_output_shape=(5,), expected_trainable=30)


def test_large_groups_are_sampled_and_then_approximate(tmp_path):
    group = SymmetricGroup(9)  # 362,880 elements
    rep_in, rep_out = DefiningRep(group), TrivialRep(group, 2)
    model = mlp((9,), 2)
    with pytest.raises(ValueError, match="has more than 10000; pass samples=k"):
        GroupAveraged(model, group, rep_in, rep_out)
    sampled = GroupAveraged(model, group, rep_in, rep_out, samples=64, seed=3)
    assert not sampled.exact and sampled.num_elements == 64
    before = equivariance_error(model, group, rep_in, rep_out)
    after = equivariance_error(sampled, group, rep_in, rep_out)
    assert 0 < after < before  # closer to invariant, not exactly
    # The drawn elements are part of the config: a reloaded wrapper computes the same function.
    wrapper = keras.Sequential([keras.Input((9,)), sampled])
    path = os.path.join(tmp_path, "sampled.keras")
    wrapper.save(path)
    x = np.random.default_rng(0).normal(size=(3, 9)).astype("float32")
    np.testing.assert_array_equal(to_numpy(keras.saving.load_model(path)(x)),
                                  to_numpy(wrapper(x)))


@pytest.mark.parametrize("make, message", [
    (lambda: GroupAveraged(keras.layers.Dense(4), CyclicGroup(4), DefiningRep(CyclicGroup(5)),
                           DefiningRep(CyclicGroup(4))),
     r"representations of the group it averages over, CyclicGroup\(4\). Received: rep_in="),
    (lambda: GroupAveraged(keras.layers.Dense(4), CyclicGroup(4), DefiningRep(CyclicGroup(4)),
                           DefiningRep(CyclicGroup(4)), samples=0),
     "expected None .* or an integer in \\[1, 10000\\].* Received: samples=0"),
    (lambda: GroupAveraged(keras.layers.Dense(3), CyclicGroup(4), DefiningRep(CyclicGroup(4)),
                           DefiningRep(CyclicGroup(4)))(np.zeros((1, 4), "float32")),
     "expects the model to output 4 values per example. Received: output shape"),
    (lambda: GroupAveraged(keras.layers.Dense(4), CyclicGroup(4), DefiningRep(CyclicGroup(4)),
                           DefiningRep(CyclicGroup(4)))(np.zeros((1, 5), "float32")),
     r"expects 4 values per example. Received: input shape \(None, 5\)"),
])
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
