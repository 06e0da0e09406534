import keras
import numpy as np
import pytest

from eqzoo.layers import packing
from eqzoo.layers.skew_symmetric_dense import SkewSymmetricDense
from tests.backend_tools import input_gradient, to_numpy
from tests.layer_checks import (
    GRADIENT_DTYPE,
    assert_gradient_matches_finite_differences,
    built,
    run_layer_checks,
)


def test_shared_layer_checks():
    run_layer_checks(
        lambda: SkewSymmetricDense(activation="tanh"),
        (5,),
        expected_output_shape=(5,),
        expected_trainable=5 * 4 // 2 + 5,
    )


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8])
def test_parameter_count_is_n_choose_2(n):
    assert built(SkewSymmetricDense, n).count_params() == n * (n - 1) // 2 + n
    assert built(SkewSymmetricDense, n, use_bias=False).count_params() == n * (n - 1) // 2


@pytest.mark.parametrize("n", [2, 3, 4, 7])
def test_kernel_is_bitwise_skew_before_and_after_training(n):
    model = keras.Sequential([keras.Input((n,)), SkewSymmetricDense(activation="tanh")])
    layer = model.layers[0]
    rng = np.random.default_rng(n)
    x = rng.normal(size=(16, n)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    for _ in range(2):
        kernel = to_numpy(layer.kernel)
        np.testing.assert_array_equal(kernel, -kernel.T)
        assert np.all(np.diag(kernel) == 0.0)
        model.fit(x, rng.normal(size=(16, n)), epochs=3, verbose=0)
    # Training moved the kernel, so the check above ran on two different skew matrices.
    assert not np.array_equal(kernel, to_numpy(layer.kernel))


@pytest.mark.parametrize("n", [2, 3, 6])
def test_assembly_places_each_stored_value_once_with_both_signs(n):
    layer = built(SkewSymmetricDense, n)
    stored = np.random.default_rng(0).normal(size=layer.stored_kernel.shape).astype("float32")
    layer.stored_kernel.assign(stored)
    # Independent reconstruction: packed_index says where each value of the (n-1)-block sits.
    rows, cols = packing.packed_index(n - 1)
    expected = np.zeros((n, n), "float32")
    expected[rows + 1, cols] = stored
    expected[cols, rows + 1] = -stored
    np.testing.assert_array_equal(to_numpy(layer.kernel), expected)
    x = np.random.default_rng(1).normal(size=(3, n)).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x)), x @ expected, rtol=1e-6, atol=1e-6)


def test_initializer_draws_full_shape_and_keeps_its_strictly_lower_triangle():
    initializer = keras.initializers.GlorotUniform(seed=3)
    layer = built(SkewSymmetricDense, 6, kernel_initializer=initializer)
    draw = to_numpy(initializer((6, 6)))  # a seeded initializer repeats its draw
    kernel = to_numpy(layer.kernel)
    np.testing.assert_array_equal(np.tril(kernel, -1), np.tril(draw, -1))
    np.testing.assert_array_equal(np.triu(kernel, 1), -np.tril(draw, -1).T)


@pytest.mark.parametrize("initializer,std", [
    ("glorot_uniform", lambda n: np.sqrt(2.0 / (n + n))),
    ("he_normal", lambda n: np.sqrt(2.0 / n)),
])
def test_initial_spread_matches_plain_dense(initializer, std):
    n = 96
    layer = built(SkewSymmetricDense, n, kernel_initializer=initializer)
    dense = keras.layers.Dense(n, kernel_initializer=initializer)
    dense.build((None, n))
    kernel = to_numpy(layer.kernel)
    lower = kernel[np.tril_indices(n, -1)]  # 4,560 independent draws: sample std within ~2%
    assert abs(lower.std() / std(n) - 1) < 0.06, (lower.std(), std(n))
    assert abs(lower.std() / to_numpy(dense.kernel).std() - 1) < 0.06
    assert abs(lower.mean()) < 0.06 * std(n)  # the mean of 4,560 draws: ~0.015 std(n) spread


def test_quadratic_form_of_the_linear_part_vanishes():
    layer = built(SkewSymmetricDense, 5, use_bias=False)
    x = np.random.default_rng(2).normal(size=(4, 5)).astype("float64")
    np.testing.assert_allclose(np.sum(x * (x @ to_numpy(layer.kernel, "float64")), axis=1), 0,
                               atol=1e-12)


def test_set_kernel_round_trips_a_skew_matrix():
    layer = built(SkewSymmetricDense, 4)
    a = np.random.default_rng(3).normal(size=(4, 4)).astype("float32")
    skew = a - a.T
    layer.set_kernel(skew)
    np.testing.assert_array_equal(to_numpy(layer.kernel), skew)


def test_set_kernel_rejects_a_matrix_that_is_not_skew():
    layer = built(SkewSymmetricDense, 4)
    with pytest.raises(ValueError, match=r"only hold a skew-symmetric kernel.*max \|W \+ W\^T\|"):
        layer.set_kernel(np.eye(4))
    with pytest.raises(ValueError, match=r"expected a matrix of shape \(4, 4\)"):
        layer.set_kernel(np.zeros((3, 3)))


def test_input_width_one_is_rejected():
    with pytest.raises(ValueError, match="input width of at least 2.*Received: input last dim"):
        SkewSymmetricDense()(np.ones((2, 1), "float32"))


def test_units_must_equal_the_input_width():
    with pytest.raises(ValueError, match="units=3, input last dimension=4"):
        SkewSymmetricDense(units=3)(np.ones((2, 4), "float32"))


def test_gradient_matches_central_finite_differences():
    layer = SkewSymmetricDense(activation="tanh", dtype=GRADIENT_DTYPE)
    layer.build((None, 5))
    x = to_numpy(np.random.default_rng(4).normal(size=(3, 5)))
    assert_gradient_matches_finite_differences(layer, x)


def test_input_gradient_is_upstream_times_transposed_kernel():
    layer = built(SkewSymmetricDense, 5, use_bias=False)
    x = to_numpy(np.random.default_rng(5).normal(size=(2, 3, 5)).astype("float32"))
    upstream = np.random.default_rng(6).normal(size=(2, 3, 5)).astype("float32")
    gradient = input_gradient(lambda t: keras.ops.multiply(layer(t), upstream), x)
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    np.testing.assert_allclose(gradient, upstream @ kernel.T,
                               rtol=1e-5, atol=1e-6)
