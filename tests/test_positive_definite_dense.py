import keras
import numpy as np
import pytest

from eqzoo.layers import packing
from eqzoo.layers.positive_definite_dense import PositiveDefiniteDense
from tests.backend_tools import float64_tol, to_numpy
from tests.layer_checks import (
    GRADIENT_DTYPE,
    assert_bitwise_symmetric,
    assert_gradient_matches_finite_differences,
    built,
    run_layer_checks,
)


@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_shared_layer_checks(epsilon):
    layer = run_layer_checks(
        lambda: PositiveDefiniteDense(epsilon=epsilon, activation="tanh"),
        (5,),
        expected_output_shape=(5,),
        expected_trainable=5 * 6 // 2 + 5,
    )
    assert layer.get_config()["epsilon"] == epsilon


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_parameter_count_is_a_triangle(n):
    assert built(PositiveDefiniteDense, n).count_params() == n * (n + 1) // 2 + n
    assert built(PositiveDefiniteDense, n, use_bias=False).count_params() == n * (n + 1) // 2


def test_kernel_is_factor_times_its_transpose_plus_epsilon():
    n, epsilon = 5, 0.25
    layer = built(PositiveDefiniteDense, n, epsilon=epsilon, dtype="float64")
    stored = np.random.default_rng(0).normal(size=layer.stored_kernel.shape)
    layer.stored_kernel.assign(stored)
    rows, cols = packing.packed_index(n)
    factor = np.zeros((n, n))
    factor[rows, cols] = stored  # independent of the layer's slicing: the packed index map
    np.testing.assert_array_equal(to_numpy(layer.factor), factor)
    np.testing.assert_allclose(to_numpy(layer.kernel), factor @ factor.T + epsilon * np.eye(n),
                               rtol=float64_tol(1e-12), atol=float64_tol(1e-12))


@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_random_kernels_are_bitwise_symmetric_with_spectrum_above_epsilon(epsilon):
    for seed in range(12):
        keras.utils.set_random_seed(seed)
        n = 3 + seed % 6
        layer = built(PositiveDefiniteDense, n, epsilon=epsilon,
                      kernel_initializer="random_normal")
        kernel = to_numpy(layer.kernel, "float64")
        assert_bitwise_symmetric(kernel)
        assert np.linalg.eigvalsh(kernel).min() >= epsilon - 1e-6 * max(1, np.abs(kernel).max())


def test_training_towards_a_negative_kernel_keeps_the_spectrum_above_epsilon():
    n, epsilon = 4, 0.05
    model = keras.Sequential([keras.Input((n,)), PositiveDefiniteDense(epsilon=epsilon,
                                                                       use_bias=False)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", jit_compile=True)
    x = np.tile(np.random.default_rng(0).normal(size=(64, n)).astype("float32"), (30, 1))
    model.fit(x, -x, batch_size=64, verbose=0)  # the best unconstrained W would be -I
    kernel = to_numpy(model.layers[0].kernel)
    assert_bitwise_symmetric(kernel)
    eigenvalues = np.linalg.eigvalsh(kernel.astype("float64"))
    assert eigenvalues.min() >= epsilon - 1e-6
    # The fit pushed W to the boundary of what it may hold: epsilon I.
    np.testing.assert_allclose(eigenvalues, epsilon, atol=0.05)


def test_initializer_draws_the_factor_from_the_full_shape():
    initializer = keras.initializers.GlorotUniform(seed=4)
    layer = built(PositiveDefiniteDense, 6, kernel_initializer=initializer)
    draw = np.tril(to_numpy(initializer((6, 6))))  # a seeded initializer repeats its draw
    np.testing.assert_array_equal(to_numpy(layer.factor), draw)


def test_set_kernel_round_trips_a_definite_and_a_singular_kernel():
    rng = np.random.default_rng(1)
    layer = built(PositiveDefiniteDense, 4, epsilon=0.1, dtype="float64")
    a = rng.normal(size=(4, 4))
    definite = a @ a.T + 0.1 * np.eye(4)
    layer.set_kernel(definite)
    np.testing.assert_allclose(to_numpy(layer.kernel), definite, atol=float64_tol(1e-12))
    assert np.all(np.diag(to_numpy(layer.factor)) >= 0)  # the Cholesky factor itself

    layer = built(PositiveDefiniteDense, 4, epsilon=0.0, dtype="float64")
    b = rng.normal(size=(4, 2))
    singular = b @ b.T  # rank 2: Cholesky would fail
    layer.set_kernel(singular)
    np.testing.assert_allclose(to_numpy(layer.kernel), singular, atol=float64_tol(1e-12))


def test_set_kernel_rejects_what_the_layer_cannot_hold():
    layer = built(PositiveDefiniteDense, 3, epsilon=0.5)
    with pytest.raises(ValueError, match=r"only hold a symmetric kernel.*max \|W - W\^T\|"):
        layer.set_kernel(np.triu(np.ones((3, 3))))
    with pytest.raises(ValueError, match="eigenvalues are at least epsilon=0.5.*smallest eigen"):
        layer.set_kernel(np.eye(3) * 0.4)
    with pytest.raises(ValueError, match=r"expected a matrix of shape \(3, 3\)"):
        layer.set_kernel(np.eye(2))
    layer.set_kernel(np.eye(3) * 0.5)  # on the boundary is fine


@pytest.mark.parametrize("epsilon", [-0.1, float("nan"), float("inf"), True, "small"])
def test_invalid_epsilon_is_refused(epsilon):
    with pytest.raises(ValueError, match=r"`epsilon`.*finite float >= 0.*Received: epsilon="):
        PositiveDefiniteDense(epsilon=epsilon)


def test_gradient_matches_central_finite_differences():
    layer = PositiveDefiniteDense(epsilon=0.1, activation="tanh", dtype=GRADIENT_DTYPE)
    layer.build((None, 4))
    x = to_numpy(np.random.default_rng(2).normal(size=(3, 4)))
    assert_gradient_matches_finite_differences(layer, x)


def test_mixed_bfloat16_assembles_in_float32_and_stays_symmetric():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    layer = PositiveDefiniteDense(epsilon=0.1)
    y = layer(np.ones((2, 5), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    kernel = to_numpy(layer.kernel)  # read outside a call: float32, not autocast
    assert kernel.dtype == np.float32
    assert_bitwise_symmetric(kernel)
    assert np.linalg.eigvalsh(kernel.astype("float64")).min() >= 0.1 - 1e-6


def test_forward_equals_input_times_assembled_kernel_plus_bias():
    layer = PositiveDefiniteDense(epsilon=0.3, bias_initializer="random_normal")
    x = np.random.default_rng(5).normal(size=(2, 3, 6)).astype("float32")
    y = to_numpy(layer(x))
    expected = x @ to_numpy(layer.kernel) + to_numpy(layer.bias)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

