import keras
import numpy as np
import pytest

from eqzoo.layers import packing
from eqzoo.layers.bounded_spectrum_dense import BoundedSpectrumDense
from tests.backend_tools import float64_tol, to_numpy
from tests.layer_checks import (
    GRADIENT_DTYPE,
    assert_bitwise_symmetric,
    assert_gradient_matches_finite_differences,
    built,
    run_layer_checks,
)

SPECTRA = [(-1.0, 1.0), (0.5, 2.0), (-3.0, -2.5)]




def _assert_spectrum_inside(matrix, spectrum, atol=1e-5):
    low, high = spectrum
    eigenvalues = np.linalg.eigvalsh(to_numpy(matrix, "float64"))
    assert eigenvalues.min() >= low - atol and eigenvalues.max() <= high + atol, (
        f"eigenvalues in [{eigenvalues.min()}, {eigenvalues.max()}], outside {spectrum}"
    )


@pytest.mark.parametrize("spectrum", SPECTRA[:2])
def test_shared_layer_checks(spectrum):
    layer = run_layer_checks(
        lambda: BoundedSpectrumDense(spectrum=spectrum, activation="tanh"),
        (5,),
        expected_output_shape=(5,),
        expected_trainable=5 * 6 // 2 + 5,
    )
    assert tuple(layer.get_config()["spectrum"]) == spectrum


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_parameter_count_is_a_triangle(n):
    assert built(BoundedSpectrumDense, n).count_params() == n * (n + 1) // 2 + n
    assert built(BoundedSpectrumDense, n, use_bias=False).count_params() == n * (n + 1) // 2


@pytest.mark.parametrize("spectrum", SPECTRA)
def test_kernel_is_the_matrix_function_of_the_generator(spectrum):
    low, high = spectrum
    layer = built(BoundedSpectrumDense, 5, spectrum=spectrum, dtype="float64")
    generator = to_numpy(layer.generator)
    eigenvalues, eigenvectors = np.linalg.eigh(generator)
    expected = (low + high) / 2 * np.eye(5) + (high - low) / 2 * (
        (eigenvectors * np.tanh(eigenvalues)) @ eigenvectors.T
    )
    tol = float64_tol(1e-12)
    np.testing.assert_allclose(to_numpy(layer.kernel), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("spectrum", SPECTRA)
def test_random_kernels_are_bitwise_symmetric_with_spectrum_inside(spectrum):
    for seed in range(12):
        keras.utils.set_random_seed(seed)
        n = 3 + seed % 6
        # A wide draw: many eigenvalues of S far out, where tanh saturates.
        initializer = keras.initializers.RandomNormal(stddev=1.0 + 3 * (seed % 3))
        kernel = built(BoundedSpectrumDense, n, spectrum=spectrum,
                       kernel_initializer=initializer).kernel
        assert_bitwise_symmetric(kernel)
        _assert_spectrum_inside(kernel, spectrum)


def test_training_towards_an_expanding_kernel_keeps_the_spectrum_inside():
    spectrum = (-1.0, 1.0)
    # From S = 0 (W = 0), the same start on every backend (a random draw is not).
    layer = BoundedSpectrumDense(spectrum=spectrum, use_bias=False, kernel_initializer="zeros")
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile(optimizer=keras.optimizers.Adam(0.2), loss="mse", jit_compile=True)
    x = np.tile(np.random.default_rng(0).normal(size=(64, 4)).astype("float32"), (40, 1))
    model.fit(x, x @ np.diag([3.0, -3.0, 0.5, 2.0]), batch_size=64, epochs=1, verbose=0)
    kernel = model.layers[0].kernel
    assert_bitwise_symmetric(kernel)
    _assert_spectrum_inside(kernel, spectrum)
    # It got as close to diag(3, -3, 0.5, 2) as it may: near the ends and near 0.5 (Adam at a
    # learning rate of 0.2 leaves that one swinging by up to 0.1 around it: 0.42 on TensorFlow,
    # 0.47 on JAX, 0.57 on PyTorch).
    eigenvalues = np.sort(np.linalg.eigvalsh(to_numpy(kernel)))
    np.testing.assert_allclose(eigenvalues[[0, 2, 3]], [-1, 1, 1], atol=0.05)
    np.testing.assert_allclose(eigenvalues[1], 0.5, atol=0.1)


def test_zero_initializer_starts_at_the_midpoint():
    layer = built(BoundedSpectrumDense, 4, spectrum=(0.0, 2.0), kernel_initializer="zeros")
    np.testing.assert_allclose(to_numpy(layer.kernel), np.eye(4), atol=1e-7)


def test_initializer_draws_the_generator_from_the_full_shape():
    initializer = keras.initializers.GlorotUniform(seed=5)
    layer = built(BoundedSpectrumDense, 6, kernel_initializer=initializer)
    draw = to_numpy(initializer((6, 6)))  # a seeded initializer repeats its draw
    expected = np.tril(draw) + np.tril(draw, -1).T
    np.testing.assert_array_equal(to_numpy(layer.generator), expected)


@pytest.mark.parametrize(
    "generator",
    [
        "random",
        "zeros",  # all eigenvalues equal: autodiff of eigh drops the off-diagonal gradient here
        "repeated",  # two equal eigenvalues among distinct ones
        "wide",  # eigenvalues 20 apart, deep in tanh's saturation
    ],
)
def test_gradient_matches_central_finite_differences(generator):
    n = 4
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    generators = {
        "random": rng.normal(size=(n, n)),
        "zeros": np.zeros((n, n)),
        "repeated": (q * np.array([0.3, 0.3, -1.0, 2.0])) @ q.T,
        "wide": (q * np.array([-10.0, 0.2, 0.25, 10.0])) @ q.T,
    }
    layer = BoundedSpectrumDense(spectrum=(-2.0, 1.0), dtype=GRADIENT_DTYPE)
    layer.build((None, n))
    layer.stored_kernel.assign(packing.pack_symmetric(generators[generator], n))
    assert_gradient_matches_finite_differences(layer, to_numpy(rng.normal(size=(3, n))))


@pytest.mark.tensorflow
def test_xla_gradient_equals_eager_gradient():
    layer = built(BoundedSpectrumDense, 5, spectrum=(-1.0, 1.0))
    x = to_numpy(np.random.default_rng(4).normal(size=(3, 5)).astype("float32"))

    import tensorflow as tf

    def gradient():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(loss, layer.stored_kernel.value)

    np.testing.assert_allclose(to_numpy(tf.function(gradient, jit_compile=True)()),
                               to_numpy(gradient()), rtol=1e-4, atol=1e-5)


def test_set_kernel_round_trips_and_accepts_the_closed_interval():
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    layer = built(BoundedSpectrumDense, 4, spectrum=(0.5, 2.0), dtype="float64")
    inside = (q * np.array([0.6, 1.0, 1.5, 1.9])) @ q.T
    layer.set_kernel(inside)
    np.testing.assert_allclose(to_numpy(layer.kernel), inside, atol=float64_tol(1e-10))
    on_the_bounds = (q * np.array([0.5, 1.0, 1.5, 2.0])) @ q.T
    layer.set_kernel(on_the_bounds)
    np.testing.assert_allclose(to_numpy(layer.kernel), on_the_bounds, atol=1e-5)
    _assert_spectrum_inside(layer.kernel, (0.5, 2.0), atol=0)


def test_set_kernel_rejects_what_the_layer_cannot_hold():
    layer = built(BoundedSpectrumDense, 3, spectrum=(-1.0, 1.0))
    with pytest.raises(ValueError, match=r"only hold a symmetric kernel.*max \|W - W\^T\|"):
        layer.set_kernel(np.triu(np.full((3, 3), 0.1)))
    with pytest.raises(ValueError, match=r"eigenvalues in spectrum=\(-1, 1\).*\[0, 1.5\]"):
        layer.set_kernel(np.diag([0.0, 0.5, 1.5]))
    with pytest.raises(ValueError, match=r"expected a matrix of shape \(3, 3\)"):
        layer.set_kernel(np.eye(2))


@pytest.mark.parametrize(
    "spectrum", [(1.0, 1.0), (2.0, -2.0), (0.0, float("inf")), (0.0,), 1.0, ("a", "b"), (0, True)]
)
def test_invalid_spectrum_is_refused(spectrum):
    with pytest.raises(ValueError, match=r"`spectrum`.*low < high.*Received: spectrum="):
        BoundedSpectrumDense(spectrum=spectrum)


def test_mixed_bfloat16_assembles_in_float32_and_stays_inside():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    layer = BoundedSpectrumDense(spectrum=(-1.0, 1.0), kernel_initializer="random_normal")
    y = layer(np.ones((2, 5), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    kernel = to_numpy(layer.kernel)  # read outside a call: float32, not autocast
    assert kernel.dtype == np.float32
    assert_bitwise_symmetric(kernel)
    _assert_spectrum_inside(kernel, (-1.0, 1.0))

