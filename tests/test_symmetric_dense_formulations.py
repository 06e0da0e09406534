"""Every formulation of the packed `x @ W` gives the same W and the same gradients, on the active
backend, as the dense formula: W[r, c] = W[c, r] = stored[a, b] for
`(r, c) = packed_index(n)[a, b]`, and d/d stored[a, b] = G[r, c] + G[c, r] off the diagonal,
G[r, r] on it, for G = dL/dW.

The block formulation is checked at every split depth on sizes whose halvings are uneven, and the
layer is trained with tiny leaf blocks so that the recursion runs where the layer runs (Adam,
mixed precision, compiled steps)."""

import keras
import numpy as np
import pytest

from eqzoo.layers import SymmetricDense, packing
from tests.backend_tools import input_gradient, traced, variable_gradients


def _torch_native(levels):
    return lambda x, stored, n: packing.symmetric_matmul_torch(x, stored, n, levels)


def _blocks(levels):
    return lambda x, stored, n: packing.symmetric_matmul_blocks(x, stored, n, levels)


FORMULATIONS = {
    "default (symmetric_matmul)": packing.symmetric_matmul,
    "assembled W (symmetric_matmul_assembled)": packing.symmetric_matmul_assembled,
    **{f"blocks, {k} levels": _blocks(k) for k in range(4)},
}
if keras.backend.backend() == "torch":
    FORMULATIONS.update({f"torch autograd.Function, {k} levels": _torch_native(k)
                         for k in range(4)})
SIZES = [1, 2, 5, 6, 7, 13]  # 13: halvings 7 -> 4, 3 -> 2, 2, 2, 1


def dense_formula(stored, n):
    rows, cols = packing.packed_index(n)
    w = np.zeros((n, n))
    w[rows, cols] = stored
    w[cols, rows] = stored
    return w


def packed_gradient(g, n):
    """The packed gradient for G = dL/dW of a free W."""
    rows, cols = packing.packed_index(n)
    return np.where(rows == cols, g[rows, cols], g[rows, cols] + g[cols, rows])


def _problem(n, seed=None):
    rng = np.random.default_rng(n if seed is None else seed)
    stored = keras.Variable(rng.normal(size=packing.packed_shape(n)).astype("float32"))
    x = rng.normal(size=(2, 3, n)).astype("float32")  # batch dimensions are flattened and restored
    r = rng.normal(size=(2, 3, n)).astype("float32")
    return stored, x, r


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", FORMULATIONS)
def test_formulation_matches_the_dense_formula(name, n):
    matmul = FORMULATIONS[name]
    stored, x, r = _problem(n)
    w = dense_formula(keras.ops.convert_to_numpy(stored).astype("float64"), n)
    x_, r_, eye = (keras.ops.convert_to_tensor(a, "float32") for a in (x, r, np.eye(n)))

    assembled = keras.ops.convert_to_numpy(matmul(eye, stored, n))
    np.testing.assert_array_equal(assembled, w)  # the operator is a copy of the stored values
    np.testing.assert_allclose(keras.ops.convert_to_numpy(matmul(x_, stored, n)), x @ w,
                               rtol=1e-5, atol=1e-5)

    def loss():
        return keras.ops.sum(keras.ops.sin(matmul(x_, stored, n)) * r_)

    (gradient,) = variable_gradients(loss, [stored])
    g = x.reshape(-1, n).T @ (np.cos(x @ w) * r).reshape(-1, n)  # dL/dW of a free W
    np.testing.assert_allclose(gradient, packed_gradient(g, n), rtol=1e-4, atol=1e-4)
    x_gradient = input_gradient(lambda t: keras.ops.sin(matmul(t, stored, n)) * r_, x)
    np.testing.assert_allclose(x_gradient, (np.cos(x @ w) * r) @ w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [6, 7])
@pytest.mark.parametrize("name", FORMULATIONS)
def test_formulation_gradient_equals_difference_quotients(name, n):
    """L = sum(r * (x @ W)) is linear in the stored values, so a central difference quotient with
    step 1 is exact up to rounding: an independent check of the packed gradient's layout."""
    matmul = FORMULATIONS[name]
    stored, x, r = _problem(n, seed=1)
    x_, r_ = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(r)
    values = keras.ops.convert_to_numpy(stored)
    (gradient,) = variable_gradients(
        lambda: keras.ops.sum(matmul(x_, stored, n) * r_), [stored])
    quotients = np.zeros(values.shape)
    for index in np.ndindex(values.shape):
        losses = []
        for step in (1.0, -1.0):
            moved = values.copy()
            moved[index] += step
            y = keras.ops.convert_to_numpy(matmul(x_, keras.ops.convert_to_tensor(moved), n))
            losses.append(float(np.sum(y.astype("float64") * r)))
        quotients[index] = (losses[0] - losses[1]) / 2
    np.testing.assert_allclose(gradient, quotients, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [7, 12])
def test_blocks_agree_with_the_assembled_formulation_at_every_depth(n):
    stored, x, r = _problem(n, seed=2)
    x_, r_ = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(r)
    results = {}
    for name, matmul in FORMULATIONS.items():
        y = keras.ops.convert_to_numpy(matmul(x_, stored, n))
        (g,) = variable_gradients(lambda m=matmul: keras.ops.sum(m(x_, stored, n) * r_), [stored])
        results[name] = (y, g)
    reference = results.pop("assembled W (symmetric_matmul_assembled)")
    for name, (y, g) in results.items():
        np.testing.assert_allclose(y, reference[0], rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(g, reference[1], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.fixture
def tiny_leaves(monkeypatch):
    """Leaf blocks of width 2, so `symmetric_matmul` recurses at the sizes tests can afford."""
    monkeypatch.setattr(packing, "DEFAULT_LEAF_SIZE", 2)
    monkeypatch.setattr(packing, "LEAF_SIZE", {})
    monkeypatch.setattr(packing, "ASSEMBLED_UP_TO", 0)
    assert packing.split_levels(13) == 2


class AssembledSymmetricDense(SymmetricDense):
    """The layer with the earlier formulation, as the reference for training."""

    def _matmul(self, inputs, stored):
        return packing.symmetric_matmul_assembled(inputs, stored, self.input_dim)


@pytest.mark.parametrize("n", [9, 10])
def test_adam_training_with_split_blocks_keeps_the_kernel_bitwise_symmetric(tiny_leaves, n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(16, n)).astype("float32")
    y = rng.normal(size=(16, n)).astype("float32")
    kernels = []
    for cls in (SymmetricDense, AssembledSymmetricDense):
        keras.utils.set_random_seed(0)
        layer = cls()
        model = keras.Sequential([keras.Input((n,)), layer])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        for _ in range(5):
            model.train_on_batch(x, y)
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        np.testing.assert_array_equal(kernel, kernel.T)
        assert layer.stored_kernel.path.endswith("packed_kernel")
        assert tuple(layer.stored_kernel.shape) == packing.packed_shape(n)
        assert len(layer.trainable_weights) == 2
        assert layer.count_params() == n * (n + 1) // 2 + n
        kernels.append(kernel)
    np.testing.assert_allclose(kernels[0], kernels[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_split_blocks_compute_in_the_mixed_precision_compute_dtype(tiny_leaves, policy):
    n = 13
    x = np.random.default_rng(0).normal(size=(4, n)).astype("float32")
    keras.mixed_precision.set_global_policy(policy)
    try:
        layer = SymmetricDense(use_bias=False)
        y = layer(x)
        assert keras.backend.standardize_dtype(y.dtype) == policy.split("_")[1]
        assert keras.backend.standardize_dtype(layer.stored_kernel.dtype) == "float32"
        kernel = keras.ops.convert_to_numpy(keras.ops.cast(layer.kernel, "float32"))
        (gradient,) = variable_gradients(lambda: keras.ops.sum(layer(x)), [layer.stored_kernel])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    expected = x @ kernel
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.cast(y, "float32")), expected,
                               rtol=5e-2, atol=5e-2 * np.abs(expected).max())
    assert gradient.dtype == np.float32
    g = x.T @ np.ones((4, n))
    np.testing.assert_allclose(gradient, packed_gradient(g, n), rtol=5e-2,
                               atol=5e-2 * np.abs(g).max())


@pytest.mark.parametrize("jit", [False, True])
def test_split_blocks_give_the_same_outputs_when_traced(tiny_leaves, jit):
    n = 13
    x = np.random.default_rng(1).normal(size=(5, n)).astype("float32")
    model = keras.Sequential([keras.Input((n,)), SymmetricDense()])
    eager = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(traced(model, x, jit), eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("parametrization", ["packed", "triangular", "average"])
def test_each_parametrization_trains_the_same_kernel_from_the_same_start(parametrization):
    """One SGD step from the same symmetric kernel: the kernel gradient, mapped back to W, is the
    symmetrised G in every parametrization (up to its own scale), so the kernels stay equal."""
    rng = np.random.default_rng(0)
    n = 6
    start = rng.normal(size=(n, n))
    start = (start + start.T) / 2
    x, target = rng.normal(size=(8, n)), rng.normal(size=(8, n))
    layer = SymmetricDense(parametrization=parametrization, use_bias=False, dtype="float64")
    layer.build((None, n))
    layer.set_kernel(start)
    (gradient,) = variable_gradients(
        lambda: keras.ops.sum(keras.ops.subtract(layer(x), target) ** 2), [layer.stored_kernel])
    g = x.T @ (2 * (x @ start - target))
    if parametrization == "packed":
        expected = packing.pack_symmetric(g + g.T - np.diag(np.diag(g)), n)
    elif parametrization == "triangular":
        expected = np.tril(g + g.T - np.diag(np.diag(g)))  # the unused upper triangle gets zero
    else:
        expected = (g + g.T) / 2
    # rtol 1e-5: PyTorch's backend reads numpy float64 inputs through float32.
    np.testing.assert_allclose(gradient, keras.ops.convert_to_numpy(expected), rtol=1e-5,
                               atol=1e-5)



@pytest.mark.parametrize("threshold, expected", [(13, "assembled"), (12, "blocks")])
def test_default_assembles_w_up_to_the_threshold_and_splits_above(tiny_leaves, monkeypatch,
                                                                   threshold, expected):
    monkeypatch.setattr(packing, "ASSEMBLED_UP_TO", threshold)
    stored, x, _ = _problem(13)
    levels = packing.split_levels(13)
    reference = {
        "assembled": packing.symmetric_matmul_assembled(x, stored, 13),
        "blocks": packing.symmetric_matmul_blocks(x, stored, 13, levels),
    }
    if keras.backend.backend() == "torch":  # PyTorch always takes its native blocks function
        expected = "torch"
        reference["torch"] = _torch_native(levels)(x, stored, 13)
    reference = {k: keras.ops.convert_to_numpy(v) for k, v in reference.items()}
    # The formulations sum in different orders, so bitwise equality tells which one ran.
    assert not np.array_equal(reference["assembled"], reference["blocks"])
    default = keras.ops.convert_to_numpy(packing.symmetric_matmul(x, stored, 13))
    np.testing.assert_array_equal(default, reference[expected])
