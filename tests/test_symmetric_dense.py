"""SymmetricDense, SymmetricConstraint, the article's class names and folding to Dense."""

import os

import keras
import numpy as np
import pytest

from eqzoo.layers import (
    SymmetricConstraint,
    SymmetricDense,
    SymmetricDenseLayerFlatVector,
    SymmetricDenseLayerLowerTriangular,
    SymmetricDenseLayerMasked,
    fold_to_dense,
)
from eqzoo.layers.packing import packed_index
from eqzoo.layers.symmetric_dense import PARAMETRIZATIONS
from tests.backend_tools import float64_tol, to_numpy, variable_gradients
from tests.layer_checks import (
    GRADIENT_DTYPE,
    assert_bitwise_symmetric,
    assert_gradient_matches_finite_differences,
    run_layer_checks,
)

N = 5


def stored_params(parametrization, n):
    return n * (n + 1) // 2 if parametrization == "packed" else n * n


@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
def test_layer_checks(parametrization):
    layer = run_layer_checks(
        lambda: SymmetricDense(activation="tanh", parametrization=parametrization),
        (N,),
        expected_output_shape=(N,),
        expected_trainable=stored_params(parametrization, N) + N,
    )
    assert_bitwise_symmetric(layer.kernel)


def test_layer_checks_rank3_no_bias():
    run_layer_checks(
        lambda: SymmetricDense(4, use_bias=False), (3, 4),
        expected_output_shape=(3, 4), expected_trainable=10,
    )


def test_layer_checks_constraint_on_dense():
    run_layer_checks(
        lambda: keras.layers.Dense(N, kernel_constraint=SymmetricConstraint()),
        (N,), expected_output_shape=(N,), expected_trainable=N * N + N,
    )


@pytest.mark.parametrize("n", [1, 2, 3, 8, 9])
@pytest.mark.parametrize("use_bias", [True, False])
def test_packed_parameter_count(n, use_bias):
    layer = SymmetricDense(use_bias=use_bias)
    layer.build((None, n))
    assert layer.count_params() == n * (n + 1) // 2 + (n if use_bias else 0)
    assert_bitwise_symmetric(layer.kernel)


@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
def test_forward_is_x_times_symmetric_kernel_plus_bias(parametrization):
    layer = SymmetricDense(parametrization=parametrization, bias_initializer="random_normal")
    x = np.random.default_rng(0).normal(size=(7, 6)).astype("float32")
    y = to_numpy(layer(x))
    w, b = to_numpy(layer.kernel), to_numpy(layer.bias)
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [
    *[lambda p=p: SymmetricDense(parametrization=p) for p in PARAMETRIZATIONS],
    lambda: keras.layers.Dense(6, kernel_constraint=SymmetricConstraint()),
], ids=[*PARAMETRIZATIONS, "constraint"])
def test_exactly_symmetric_after_many_steps(make):
    model = keras.Sequential([keras.Input((6,)), make(), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)), rng.normal(size=(64, 2))
    model.fit(x, y, batch_size=8, epochs=5, verbose=0)  # 40 steps, large learning rate
    assert_bitwise_symmetric(model.layers[0].kernel)


def test_same_effective_kernel_gives_same_output_in_every_parametrization():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(N, N))
    w, b = (a + a.T) / 2, rng.normal(size=N)
    x = rng.normal(size=(4, N)).astype("float32")
    outputs = []
    for parametrization in PARAMETRIZATIONS:
        layer = SymmetricDense(parametrization=parametrization)
        layer.build((None, N))
        layer.kernel = w
        layer.bias.assign(b)
        outputs.append(to_numpy(layer(x)))
    dense = keras.layers.Dense(N)
    dense.build((None, N))
    dense.set_weights([w, b])
    for out in outputs:
        np.testing.assert_allclose(out, to_numpy(dense(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
def test_gradients_match_central_finite_differences(parametrization):
    layer = SymmetricDense(parametrization=parametrization, activation="tanh",
                           dtype=GRADIENT_DTYPE)
    layer.build((None, 4))
    x = to_numpy(np.random.default_rng(0).normal(size=(3, 4)))
    assert_gradient_matches_finite_differences(layer, x)


def test_packed_gradient_is_sum_of_mirrored_kernel_gradients():
    n = 7
    layer = SymmetricDense(dtype="float64")
    layer.build((None, n))
    rng = np.random.default_rng(0)
    x, target = rng.normal(size=(5, n)), rng.normal(size=(5, n))
    def loss():
        return keras.ops.sum(keras.ops.subtract(layer(x), target) ** 2)

    (g_stored,) = variable_gradients(loss, [layer.stored_kernel])
    y = keras.ops.convert_to_numpy(layer(x))
    g_kernel = x.T @ (2 * (y - target))  # G: the gradient an unconstrained W would get
    rows, cols = packed_index(n)
    expected = np.where(rows == cols, g_kernel[rows, cols],
                        g_kernel[rows, cols] + g_kernel[cols, rows])
    np.testing.assert_allclose(g_stored, expected, rtol=float64_tol(1e-10), atol=float64_tol(0.0))


@pytest.mark.parametrize("initializer,std", [
    ("glorot_uniform", lambda n: np.sqrt(2.0 / (n + n))),
    ("he_normal", lambda n: np.sqrt(2.0 / n)),
])
@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
def test_initial_spread_matches_plain_dense(initializer, std, parametrization):
    n = 128
    layer = SymmetricDense(kernel_initializer=initializer, parametrization=parametrization)
    layer.build((None, n))
    dense = keras.layers.Dense(n, kernel_initializer=initializer)
    dense.build((None, n))
    w = to_numpy(layer.kernel)
    upper = w[np.triu_indices(n, 1)]  # 8,128 independent draws: sample std within ~2% of truth
    assert abs(upper.std() / std(n) - 1) < 0.06, (upper.std(), std(n))
    assert abs(upper.std() / to_numpy(dense.kernel).std() - 1) < 0.06
    assert abs(np.diag(w).std() / std(n) - 1) < 0.3  # only n draws on the diagonal
    assert abs(upper.mean()) < 0.05 * std(n)  # the mean of 8,128 draws: ~0.011 std(n) spread


def test_kernel_assignment_round_trip_and_rejects_asymmetric():
    layer = SymmetricDense()
    layer.build((None, 4))
    a = np.random.default_rng(0).normal(size=(4, 4))
    sym = a + a.T
    layer.set_kernel(sym)
    np.testing.assert_allclose(to_numpy(layer.kernel), sym, rtol=1e-6)
    layer.kernel = sym * 2
    np.testing.assert_allclose(to_numpy(layer.kernel), 2 * sym, rtol=1e-6)
    layer.set_kernel(sym + 1e-8 * a)  # within the default tolerance: accepted, lower triangle kept
    with pytest.raises(ValueError, match=r"symmetric kernel.*max \|W - W\^T\|"):
        layer.kernel = a
    with pytest.raises(ValueError, match=r"expected a matrix of shape \(4, 4\).*\(3, 3\)"):
        layer.set_kernel(np.eye(3))
    with pytest.raises(ValueError, match="not built"):
        _ = SymmetricDense().kernel


@pytest.mark.parametrize("kwargs,shape,match", [
    ({"units": 3}, (None, 4), r"units.*must equal.*Received: units=3, input last dimension=4"),
    ({"units": 0}, None, r"expected a positive integer or None. Received: units=0"),
    ({"units": -3}, None, r"Received: units=-3"),
    ({"units": True}, None, r"Received: units=True"),
    ({"units": 2.5}, None, r"Received: units=2.5"),
    ({"parametrization": "lower"}, None, r"expected one of.*Received: parametrization='lower'"),
    ({}, (None, None), r"known last input dimension"),
])
def test_errors_say_what_was_received(kwargs, shape, match):
    with pytest.raises(ValueError, match=match):
        layer = SymmetricDense(**kwargs)
        layer.build(shape)


def test_wrong_input_width_after_build_is_refused():
    layer = SymmetricDense()
    layer(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        layer(np.ones((2, 5), "float32"))


def test_constraint_rejects_non_square_kernel():
    dense = keras.layers.Dense(3, kernel_constraint=SymmetricConstraint())
    dense.build((None, 4))
    with pytest.raises(ValueError, match=r"square 2-D kernel.*Received: kernel shape=\(4, 3\)"):
        SymmetricConstraint()(dense.kernel)


def test_kernel_regularizer_sees_the_assembled_kernel():
    layer = SymmetricDense(kernel_regularizer=keras.regularizers.L2(0.1))
    layer.build((None, N))
    w = to_numpy(layer.kernel)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.1 * np.sum(w**2), rtol=1e-5)


@pytest.mark.parametrize("cls,parametrization", [
    (SymmetricDenseLayerLowerTriangular, "packed"),
    (SymmetricDenseLayerFlatVector, "packed"),
    (SymmetricDenseLayerMasked, "triangular"),
])
def test_article_class_names_run_unchanged_and_right(cls, parametrization):
    layer = run_layer_checks(lambda: cls(N, activation="relu"), (N,), expected_output_shape=(N,),
                             expected_trainable=stored_params(parametrization, N) + N)
    assert layer.parametrization == parametrization
    assert_bitwise_symmetric(layer.kernel)
    with pytest.raises(ValueError, match="must equal"):
        cls(3)(np.ones((1, N), "float32"))


def test_mixed_bfloat16_computes_with_a_symmetric_kernel():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    layer = SymmetricDense()
    x = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    y = layer(x)
    assert layer.stored_kernel.dtype == "float32"
    w16 = keras.ops.cast(layer.kernel, "bfloat16")
    assert_bitwise_symmetric(keras.ops.cast(w16, "float32"))
    expected = keras.ops.matmul(keras.ops.cast(x, "bfloat16"), w16)
    np.testing.assert_allclose(to_numpy(keras.ops.cast(y, "float32")),
                               to_numpy(keras.ops.cast(expected, "float32")), rtol=2e-2, atol=2e-2)


def test_xla_compiled_training_keeps_the_kernel_symmetric():
    model = keras.Sequential([keras.Input((6,)), SymmetricDense(activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    rng = np.random.default_rng(0)
    history = model.fit(rng.normal(size=(32, 6)), rng.normal(size=(32, 1)), epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert_bitwise_symmetric(model.layers[0].kernel)


@pytest.mark.slow
@pytest.mark.tensorflow
def test_mirrored_strategy_trains_and_keeps_replicas_equal_and_symmetric():
    # Reduction through one device, not collectives: a later MirroredStrategy in this process
    # (train.py's test) would otherwise reuse collective instance keys and fail on shapes.
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = keras.Sequential([keras.Input((6,)), SymmetricDense(activation="tanh"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(64, 6)), rng.normal(size=(64, 1)), batch_size=16, epochs=2,
              verbose=0)
    stored = model.layers[0].stored_kernel
    if hasattr(stored.value, "values"):
        replicas = [to_numpy(v) for v in stored.value.values]
    else:
        replicas = [to_numpy(stored)]
    for replica in replicas[1:]:
        np.testing.assert_array_equal(replica, replicas[0])
    assert_bitwise_symmetric(model.layers[0].kernel)


def test_fold_to_dense_gives_same_outputs_and_plain_layers(tmp_path):
    inner = keras.Sequential([keras.Input((6,)),
                              SymmetricDense(activation="relu", parametrization="average")])
    inputs = keras.Input((6,))
    hidden = SymmetricDense(activation="tanh")(inputs)
    outputs = keras.layers.Dense(3)(inner(hidden))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    folded = fold_to_dense(model)
    np.testing.assert_allclose(to_numpy(folded(x)), to_numpy(model(x)), rtol=1e-6, atol=1e-6)
    kinds = {type(layer).__name__ for layer in _all_layers(folded)}
    assert "SymmetricDense" not in kinds and "Dense" in kinds
    path = os.path.join(tmp_path, "folded.keras")
    folded.save(path)
    # Loads with plain Keras alone: no eqzoo class is needed to serve the folded model.
    with keras.saving.custom_object_scope({}):
        reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(reloaded(x)), to_numpy(model(x)), rtol=1e-6, atol=1e-6)


def test_fold_to_dense_refuses_subclassed_models():
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.inner = SymmetricDense()

        def call(self, x):
            return self.inner(x)

    model = Custom()
    model(np.ones((1, 3), "float32"))
    with pytest.raises(ValueError, match="Functional or Sequential.*Received: Custom"):
        fold_to_dense(model)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
