"""One shared check for every layer, in the spirit of Keras' `run_layer_test`.

`run_layer_checks(make_layer, input_shape)` builds fresh layers from `make_layer()` and checks:
eager and symbolic calls agree on the output shape; the trainable parameter count; a
`get_config`/`from_config` round trip; `.keras` and `.weights.h5` round trips with bitwise
identical outputs; the backend's traced path (`tf.function` with and without XLA, `jax.jit`); one
`fit` step that changes the weights and keeps the loss finite; and `mixed_bfloat16` (float32
variables, bfloat16 outputs). Every check runs on whichever Keras backend is active.

Smaller helpers the layer tests share: `built`, `assert_bitwise_symmetric`,
`assert_gradient_matches_finite_differences`, and for equivariant layers `span_rank` and
`assert_layer_is_equivariant`.
"""

import os
import tempfile

import keras
import numpy as np

from eqzoo.layers.equivariance import assert_equivariant
from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.inspection import symmetric_matrices
from tests.backend_tools import FLOAT64_EXACT, to_numpy, traced, variable_gradients

BATCH = 3


def run_layer_checks(
    make_layer,
    input_shape,
    *,
    expected_output_shape=None,
    expected_trainable=None,
    check_fit=True,
    check_mixed_precision=True,
    check_jit=True,
    seed=0,
):
    """Runs every shared check on layers from `make_layer()`; returns one built layer."""
    input_shape = tuple(input_shape)
    x = np.random.default_rng(seed).normal(size=(BATCH,) + input_shape).astype("float32")

    layer = make_layer()
    y = to_numpy(layer(x))
    assert layer.built
    if expected_output_shape is not None:
        assert y.shape == (BATCH,) + tuple(expected_output_shape), y.shape
    assert np.all(np.isfinite(y)), "eager output has non-finite values"
    assert tuple(layer.compute_output_shape((BATCH,) + input_shape)) == y.shape
    if expected_trainable is not None:
        got = sum(int(np.prod(v.shape)) for v in layer.trainable_weights)
        assert got == expected_trainable, f"trainable parameters: {got} != {expected_trainable}"

    symbolic = make_layer()(keras.Input(input_shape))
    assert tuple(symbolic.shape) == (None,) + y.shape[1:], symbolic.shape

    _check_config_round_trip(layer, x, y)
    model = keras.Sequential([keras.Input(input_shape), layer])
    _check_saved_round_trips(model, make_layer, input_shape, x)
    _check_traced(model, x, y, check_jit)
    if check_fit:
        _check_fit_step(make_layer, input_shape, x)
    if check_mixed_precision:
        _check_mixed_bfloat16(make_layer, x)
    return layer


def _check_config_round_trip(layer, x, y):
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config, "get_config does not survive from_config"
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(to_numpy(clone(x)), y)


def _check_saved_round_trips(model, make_layer, input_shape, x):
    expected = to_numpy(model(x))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_array_equal(to_numpy(loaded(x)), expected)
        assert type(loaded.layers[0]) is type(model.layers[0])

        weights_path = os.path.join(tmp, "model.weights.h5")
        model.save_weights(weights_path)
        fresh = keras.Sequential([keras.Input(input_shape), make_layer()])
        fresh.load_weights(weights_path)
        np.testing.assert_array_equal(to_numpy(fresh(x)), expected)


def _check_traced(model, x, y, check_jit):
    np.testing.assert_allclose(traced(model, x, jit=False), y, rtol=1e-5, atol=1e-5)
    if check_jit:
        np.testing.assert_allclose(traced(model, x, jit=True), y, rtol=1e-4, atol=1e-4)


def _check_fit_step(make_layer, input_shape, x):
    model = keras.Sequential([keras.Input(input_shape), make_layer()])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    target = np.random.default_rng(1).normal(size=to_numpy(model(x)).shape).astype("float32")
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    history = model.fit(x, target, batch_size=BATCH, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    changed = [not np.array_equal(b, a) for b, a in zip(before, after, strict=True)]
    assert any(changed), "fit changed no weight"


def _check_mixed_bfloat16(make_layer, x):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = make_layer()
        y = layer(x)
        assert keras.backend.standardize_dtype(y.dtype) == "bfloat16", y.dtype
        for v in layer.weights:
            assert keras.backend.standardize_dtype(v.dtype) == "float32", (v.path, v.dtype)
        assert np.all(np.isfinite(to_numpy(keras.ops.cast(y, "float32"))))
    finally:
        keras.mixed_precision.set_global_policy(previous)


def built(layer_class, input_width, **kwargs):
    """`layer_class(**kwargs)`, built for inputs `(batch, input_width)`."""
    layer = layer_class(**kwargs)
    layer.build((None, input_width))
    return layer


def assert_bitwise_symmetric(matrix):
    """`matrix` (a tensor or array) is square and equal to its transpose, bit for bit."""
    matrix = np.asarray(keras.ops.convert_to_numpy(matrix))
    assert matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1], matrix.shape
    assert np.array_equal(matrix, matrix.T), f"max |W - W^T| = {np.abs(matrix - matrix.T).max()}"


def assert_saved_kernels_bitwise_symmetric(path):
    """The model saved at `path` has symmetric kernels (`symmetric_matrices`), each bitwise
    symmetric: what every constraint must still hold after a run trains and saves it."""
    model = keras.saving.load_model(path)
    kernels = [m for ms in symmetric_matrices(model).values() for m in ms]
    assert kernels, f"no symmetric kernel in {path}"
    for kernel in kernels:
        assert_bitwise_symmetric(kernel)


# Finite differences want float64, which Keras computes throughout on TensorFlow only (see
# FLOAT64_EXACT in tests/backend_tools.py): elsewhere a 1e-6 step would measure float32 rounding,
# not the slope. There the checks run in float32, with a step and tolerance for it:
# central differences with step h err by h^2 |f'''| / 6 (about 1e-4 here at h = 1e-2) plus the
# float32 rounding of the loss over 2h (about 1e-7 |f| / 2h, under 1e-4 for these tiny losses);
# a wrong gradient (a dropped or doubled term) is off by O(1).
GRADIENT_DTYPE = "float64" if FLOAT64_EXACT else "float32"
FINITE_DIFFERENCES = {  # dtype: (step, rtol, atol)
    "float64": (1e-6, 1e-6, 1e-8),
    "float32": (1e-2, 1e-3, 2e-3),
}


def assert_gradients_match_finite_differences(loss, variables, tolerances=None):
    """The backend's gradients of the scalar `loss()` w.r.t. `variables` equal central finite
    differences, with (step, rtol, atol) from FINITE_DIFFERENCES for the variables' dtype unless
    `tolerances` are given. Returns the gradients, as numpy."""
    gradients = variable_gradients(loss, variables)
    for variable, gradient in zip(variables, gradients, strict=True):
        dtype = keras.backend.standardize_dtype(variable.dtype)
        step, rtol, atol = tolerances or FINITE_DIFFERENCES[dtype]
        stored = keras.ops.convert_to_numpy(variable)
        numeric = np.zeros(stored.shape, "float64")
        for index in np.ndindex(stored.shape):
            for sign in (1, -1):
                shifted = stored.copy()
                shifted[index] += sign * step
                variable.assign(shifted)
                numeric[index] += sign * float(loss()) / (2 * step)
        variable.assign(stored)
        np.testing.assert_allclose(gradient, numeric, rtol=rtol, atol=atol, err_msg=variable.path)
    return gradients


def assert_every_variable_gets_the_finite_difference_gradient(layer, input_shape, output_shape):
    """The gradients of a squared error through `layer`, for random inputs and targets of these
    shapes, match central finite differences for every trainable variable, and none has a zero
    entry (each stored coefficient reaches the output)."""
    x = np.random.default_rng(0).normal(size=input_shape)
    target = np.random.default_rng(1).normal(size=output_shape)
    layer(x)

    def loss():
        return keras.ops.sum(keras.ops.square(keras.ops.subtract(layer(x), target)))

    grads = assert_gradients_match_finite_differences(loss, layer.trainable_variables)
    for variable, grad in zip(layer.trainable_variables, grads, strict=True):
        assert np.all(grad != 0), variable.path


def assert_gradient_matches_finite_differences(layer, x, variable=None, tolerances=None, seed=0):
    """The backend's gradient w.r.t. `variable` (default: the layer's stored kernel) equals central
    finite differences of `sum(sin(layer(x)) * r)` for a fixed random r. Build the layer with
    `dtype=GRADIENT_DTYPE`."""
    variable = layer.stored_kernel if variable is None else variable
    x = np.asarray(x)
    weight = np.random.default_rng(seed).normal(size=np.shape(to_numpy(layer(x))))

    def loss():
        return keras.ops.sum(keras.ops.multiply(keras.ops.sin(layer(x)), weight))

    (gradient,) = assert_gradients_match_finite_differences(loss, [variable], tolerances)
    return gradient


def span_rank(*bases):
    """The dimension of the space spanned by the elements of every basis together."""
    return np.linalg.matrix_rank(np.concatenate([b.dense().reshape(b.dim, -1) for b in bases]))


def assert_layer_is_equivariant(rep_in, rep_out, seed):
    """EquivariantDense from `rep_in` to `rep_out` is equivariant over sampled group elements
    (with a random invariant bias), and on flat inputs through the reps' own matrices."""
    # A pointwise activation commutes with permutations, not with general matrices.
    activation = "tanh" if rep_out.is_permutation else None
    layer = EquivariantDense(rep_in, rep_out, activation=activation,
                             bias_initializer="random_normal")
    assert_equivariant(layer, rep_in.group, rep_in, rep_out, n_samples=6, atol=1e-5)
    flat = np.random.default_rng(seed).normal(size=(3, rep_in.dim)).astype("float32")
    flat_layer = EquivariantDense(rep_in, rep_out, activation=activation)
    assert_equivariant(flat_layer, None, rep_in, rep_out, inputs=flat, atol=1e-5)
