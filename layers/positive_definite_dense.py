"""PositiveDefiniteDense: a Dense layer whose kernel is symmetric positive (semi-)definite."""

import numbers

import keras
import numpy as np
from keras import ops

from eqzoo.layers import packing
from eqzoo.layers._numerics import at_least_float32
from eqzoo.layers.structured_dense import StructuredDense


@keras.saving.register_keras_serializable(package="eqzoo")
class PositiveDefiniteDense(StructuredDense):
    """Densely connected layer with a positive definite kernel: `y = activation(x @ W + b)`,
    `W = L L^T + epsilon I`.

    `L` is lower-triangular; its n(n+1)/2 values are stored in the rectangular full packed layout
    of `layers.packing`, so the parameter count is that of `SymmetricDense`. Every eigenvalue of
    `W` is at least `epsilon` (up to the float rounding of `L L^T`, about n * 2^-24 * |L|^2 in
    float32); `epsilon=0` gives a positive semi-definite kernel. A matrix product is not
    bitwise symmetric, so the lower triangle of `L L^T` is mirrored: W is bitwise symmetric.

    The forward pass computes `(x L) L^T + epsilon x` and never forms W: O(batch n^2) a step,
    where `L L^T` costs O(n^3) (twice as fast at n = 1024, batch 256: benchmarks/structured.md).
    `kernel` (read by users, the kernel regularizer and `to_dense`) is assembled in at least
    float32, because the small eigenvalues of `L L^T` are what low precision loses first.

    Args:
        units: width of the output; must equal the input's last dimension (None: the same).
        epsilon: non-negative float added to the diagonal, the lower bound of the spectrum.
        activation: activation function (name or callable); None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of the factor `L`: it is called with the full (n, n)
            shape and its lower triangle (diagonal included) is `L`. With Glorot's variance
            1/n, `W = L L^T` has a diagonal growing from about 1/n to about 1.
        bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer: as for
            `keras.layers.Dense`; the kernel regularizer sees the assembled W.

    `set_kernel(W)` accepts a symmetric matrix whose eigenvalues are at least `epsilon` (both
    within `atol`) and stores a triangular factor of `W - epsilon I`; eigenvalues in
    `[epsilon - atol, epsilon)` are raised to `epsilon`.

    Input shape:
        N-D tensor `(batch_size, ..., n)`, N >= 2.

    Output shape:
        N-D tensor `(batch_size, ..., n)`.

    Example:

    >>> layer = PositiveDefiniteDense(epsilon=1e-3)
    >>> y = layer(np.ones((2, 4), "float32"))
    >>> bool(np.linalg.eigvalsh(layer.kernel).min() > 0)
    True
    >>> layer.count_params()  # 4 * 5 / 2 values of L + 4 biases
    14
    """

    stored_name = "packed_factor"
    symmetric_kernel = True

    def __init__(self, units=None, epsilon=0.0, activation=None, use_bias=True, **kwargs):
        super().__init__(units=units, activation=activation, use_bias=use_bias, **kwargs)
        if (
            isinstance(epsilon, bool)
            or not isinstance(epsilon, numbers.Real)
            or not np.isfinite(epsilon)
            or epsilon < 0
        ):
            raise ValueError(
                "Invalid value for argument `epsilon` of PositiveDefiniteDense: expected a "
                f"finite float >= 0. Received: epsilon={epsilon!r}"
            )
        self.epsilon = float(epsilon)

    def _stored_shape(self, input_dim):
        return packing.packed_shape(input_dim)

    @property
    def factor(self):
        """The lower-triangular factor `L` (a tensor), with `W = L L^T + epsilon I`."""
        self._require_built("factor")
        return self._factor(self._stored)

    def _factor(self, stored):
        n = self.input_dim
        return ops.where(packing.lower_mask(n), packing.unpack_symmetric(stored, n), 0.0)

    def _assemble(self, stored):
        dtype = stored.dtype
        factor = self._factor(at_least_float32(stored))
        gram = ops.matmul(factor, ops.transpose(factor))
        if self.epsilon:
            gram = ops.add(gram, ops.multiply(ops.eye(self.input_dim, dtype=gram.dtype),
                                              self.epsilon))
        return ops.cast(packing.mirror_lower(gram, self.input_dim), dtype)

    def _matmul(self, inputs, stored):
        factor = self._factor(stored)
        outputs = ops.matmul(ops.matmul(inputs, factor), ops.transpose(factor))
        if self.epsilon:
            outputs = ops.add(outputs, ops.multiply(inputs, self.epsilon))
        return outputs

    def _initial_stored(self, initializer, dtype):
        # The initializer draws the factor L (its lower triangle), not W: see `kernel_initializer`.
        draw = initializer((self.input_dim, self.output_dim), dtype=dtype)
        return packing.pack_symmetric(draw, self.input_dim)

    def _stored_from_kernel(self, kernel):
        n = self.input_dim
        kernel = np.asarray(ops.convert_to_numpy(kernel), dtype="float64")
        return packing.pack_symmetric(_triangular_factor(kernel - self.epsilon * np.eye(n)), n)

    def _check_kernel(self, matrix, atol):
        super()._check_kernel(matrix, atol)
        lowest = float(np.linalg.eigvalsh((matrix + matrix.T) / 2).min())
        if lowest < self.epsilon - atol:
            raise ValueError(
                f"{type(self).__name__} can only hold a kernel whose eigenvalues are at least "
                f"epsilon={self.epsilon:g}. Received a matrix with smallest eigenvalue "
                f"{lowest:.6g} (atol={atol:g})."
            )

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _triangular_factor(matrix):
    """Lower-triangular `L` with `L L^T` the positive semi-definite part of symmetric `matrix`.

    Works for singular matrices too, where a Cholesky factorization fails: with
    `matrix ~ V diag(mu) V^T`, `B = V diag(sqrt(max(mu, 0)))` and `B^T = Q R`, `L = R^T` has
    `L L^T = B B^T`.
    """
    mu, v = np.linalg.eigh((matrix + matrix.T) / 2)
    _, r = np.linalg.qr((v * np.sqrt(np.clip(mu, 0.0, None))).T)
    # QR fixes each row of R only up to sign; a non-negative diagonal makes L unique when W is
    # definite (it is then the Cholesky factor).
    signs = np.where(np.diag(r) < 0, -1.0, 1.0)
    return (r * signs[:, None]).T
