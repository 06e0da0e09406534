"""Every formulation of the packed `x @ W` gives the same W and the same gradients, on the active
backend, as the dense formula: W[r, c] = W[c, r] = stored[a, b] for `(r, c) = packed_index(n)[a, b]`,
and d/d stored[a, b] = G[r, c] + G[c, r] off the diagonal, G[r, r] on it, for G = dL/dW."""

import keras
import numpy as np
import pytest

from eqzoo.layers import SymmetricDense, packing
from tests.backend_tools import input_gradient, variable_gradients

FORMULATIONS = {
    "slices (symmetric_matmul)": packing.symmetric_matmul,
    "gathers (symmetric_matmul_gather)": packing.symmetric_matmul_gather,
}


def dense_formula(stored, n):
    rows, cols = packing.packed_index(n)
    w = np.zeros((n, n))
    w[rows, cols] = stored
    w[cols, rows] = stored
    return w


@pytest.mark.parametrize("n", [1, 2, 5, 6])
@pytest.mark.parametrize("name", FORMULATIONS)
def test_formulation_matches_the_dense_formula(name, n):
    matmul = FORMULATIONS[name]
    rng = np.random.default_rng(n)
    stored_values = rng.normal(size=packing.packed_shape(n))
    stored = keras.Variable(stored_values.astype("float32"))
    stored_values = keras.ops.convert_to_numpy(stored).astype("float64")
    x = rng.normal(size=(2, 3, n))  # batch dimensions are flattened and restored
    r = rng.normal(size=(2, 3, n))
    w = dense_formula(stored_values, n)
    x, r = x.astype("float32"), r.astype("float32")
    x_, r_, eye = (keras.ops.convert_to_tensor(a, "float32") for a in (x, r, np.eye(n)))

    assembled = keras.ops.convert_to_numpy(matmul(eye, stored, n))
    np.testing.assert_array_equal(assembled, w)  # a copy of the stored values, bitwise
    np.testing.assert_allclose(keras.ops.convert_to_numpy(matmul(x_, stored, n)), x @ w,
                               rtol=1e-5, atol=1e-5)

    def loss():
        return keras.ops.sum(keras.ops.sin(matmul(x_, stored, n)) * r_)

    (gradient,) = variable_gradients(loss, [stored])
    g = x.reshape(-1, n).T @ (np.cos(x @ w) * r).reshape(-1, n)  # dL/dW of a free W
    rows, cols = packing.packed_index(n)
    expected = np.where(rows == cols, g[rows, cols], g[rows, cols] + g[cols, rows])
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-4)
    x_gradient = input_gradient(lambda t: keras.ops.sin(matmul(t, stored, n)) * r_, x)
    np.testing.assert_allclose(x_gradient, (np.cos(x @ w) * r) @ w, rtol=1e-4, atol=1e-4)


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
