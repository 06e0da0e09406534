"""SymmetricDense: a Dense layer whose square kernel is exactly symmetric."""

import keras
from keras import ops

from eqzoo.layers import packing
from eqzoo.layers._validation import check_choice
from eqzoo.layers.structured_dense import StructuredDense

PARAMETRIZATIONS = ("packed", "triangular", "average")


@keras.saving.register_keras_serializable(package="eqzoo")
class SymmetricDense(StructuredDense):
    """Densely connected layer with a symmetric kernel: `y = activation(x @ W + b)`, `W = W^T`.

    The kernel is bitwise symmetric after every update, whichever parametrization stores it:

    - `"packed"` (default): n(n+1)/2 trainable values in rectangular full packed layout
      (see `layers.packing`); the kernel is assembled by slicing and masking, not gathering.
    - `"triangular"`: an n x n variable V whose lower triangle is mirrored, `W = tril(V) +
      tril(V, -1)^T`; the strict upper triangle of V is unused (its gradient is zero).
    - `"average"`: an n x n variable A, `W = (A + A^T) / 2`.

    Args:
        units: width of the output; must equal the input's last dimension (None: the same).
        activation: activation function (name or callable); None means linear.
        use_bias: whether to add a bias vector.
        parametrization: one of "packed", "triangular", "average".
        kernel_initializer: initializer called with the full (n, n) shape, so Glorot/He fans are
            those of a plain Dense of width n; its lower triangle is mirrored.
        bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer: as for
            `keras.layers.Dense`; the kernel regularizer sees the assembled symmetric W.

    Input shape:
        N-D tensor `(batch_size, ..., n)`, N >= 2.

    Output shape:
        N-D tensor `(batch_size, ..., n)`.

    Example:

    >>> layer = SymmetricDense(activation="relu")
    >>> y = layer(np.ones((2, 4), "float32"))
    >>> bool(np.array_equal(layer.kernel, np.transpose(layer.kernel)))
    True
    >>> layer.count_params()  # 4 * 5 / 2 kernel values + 4 biases
    14
    """

    symmetric_kernel = True

    def __init__(self, units=None, activation=None, use_bias=True, parametrization="packed",
                 **kwargs):
        super().__init__(units=units, activation=activation, use_bias=use_bias, **kwargs)
        self.parametrization = check_choice(
            type(self).__name__, "parametrization", parametrization, PARAMETRIZATIONS
        )
        self.stored_name = "packed_kernel" if parametrization == "packed" else "kernel_parameters"

    def _stored_shape(self, input_dim):
        if self.parametrization == "packed":
            return packing.packed_shape(input_dim)
        return (input_dim, input_dim)

    def _assemble(self, stored):
        n = self.input_dim
        if self.parametrization == "packed":
            return packing.unpack_symmetric(stored, n)
        if self.parametrization == "triangular":
            return packing.mirror_lower(stored, n)
        # (a + b) / 2 rounds the same way as (b + a) / 2, so this too is bitwise symmetric.
        return ops.multiply(ops.add(stored, ops.transpose(stored)), 0.5)

    def _matmul(self, inputs, stored):
        if self.parametrization == "packed":
            return packing.symmetric_matmul(inputs, stored, self.input_dim)
        return super()._matmul(inputs, stored)

    def _stored_from_kernel(self, matrix):
        n = self.input_dim
        if self.parametrization == "packed":
            return packing.pack_symmetric(matrix, n)
        return packing.mirror_lower(matrix, n)

    def get_config(self):
        return {**super().get_config(), "parametrization": self.parametrization}
