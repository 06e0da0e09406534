"""SkewSymmetricDense: a Dense layer whose square kernel is exactly skew-symmetric."""

import keras
import numpy as np
from keras import ops

from eqzoo.layers import packing
from eqzoo.layers.structured_dense import StructuredDense


@keras.saving.register_keras_serializable(package="eqzoo")
class SkewSymmetricDense(StructuredDense):
    """Dense layer with a skew-symmetric kernel: `y = activation(x @ W + b)`, `W = -W^T`.

    The strictly lower triangle of an n x n matrix is the full lower triangle of its
    (n-1) x (n-1) block `W[1:, :n-1]`, so the n(n-1)/2 free values are stored in the rectangular
    full packed layout of an (n-1) x (n-1) symmetric matrix (see `layers.packing`). The kernel
    is assembled by slicing, masking and concatenation as `W = P - P^T`, with P the strictly
    lower part: every entry above the diagonal is the exact negation of its mirror and the
    diagonal is exactly zero, after every update.

    A skew-symmetric `W` gives `x . (x @ W) = 0` for every x: the linear part rotates its input
    and never stretches it along itself, which is what skew kernels are used for (e.g. the
    antisymmetric generators of orthogonal or Hamiltonian maps).

    Args:
        units: width of the output; must equal the input's last dimension (None: the same).
            The input width must be at least 2: the only 1 x 1 skew-symmetric matrix is 0.
        activation: activation function (name or callable); None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer called with the full (n, n) shape, so Glorot/He fans are
            those of a plain Dense of width n; its strictly lower triangle is kept and mirrored
            with a minus sign, so each off-diagonal entry has the spread of a Dense kernel entry.
        bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer: as for
            `keras.layers.Dense`; the kernel regularizer sees the assembled skew-symmetric W.

    Input shape:
        N-D tensor `(batch_size, ..., n)`, N >= 2, n >= 2.

    Output shape:
        N-D tensor `(batch_size, ..., n)`.

    Example:

    >>> layer = SkewSymmetricDense()
    >>> y = layer(np.ones((2, 4), "float32"))
    >>> bool(np.array_equal(layer.kernel, -np.transpose(layer.kernel)))
    True
    >>> layer.count_params()  # 4 * 3 / 2 kernel values + 4 biases
    10
    """

    stored_name = "packed_kernel"

    def _kernel_output_dim(self, input_dim):
        if input_dim < 2:
            raise ValueError(
                f"{type(self).__name__} needs an input width of at least 2: the only 1 x 1 "
                f"skew-symmetric kernel is 0, which would leave the layer nothing to learn. "
                f"Received: input last dimension={input_dim}"
            )
        return super()._kernel_output_dim(input_dim)

    def _stored_shape(self, input_dim):
        return packing.packed_shape(input_dim - 1)

    def _assemble(self, stored):
        strictly_lower = packing.unpack_strictly_lower(stored, self.input_dim)
        # a - 0 and 0 - a are exact, so W[j, i] == -W[i, j] bitwise and the diagonal is 0 - 0.
        return ops.subtract(strictly_lower, ops.transpose(strictly_lower))

    def _matmul(self, inputs, stored):
        n = self.input_dim

        @ops.custom_gradient
        def matmul(x2d, stored):
            kernel = self._assemble(stored)

            def grad(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                # A stored value s enters W at (i, j) and, negated, at (j, i): its gradient is
                # (G - G^T)[i, j], read off the lower triangle of the (n-1)-block straight into
                # the packed layout rather than back through the slices and pads of `_assemble`.
                g = ops.matmul(ops.transpose(x2d), upstream)
                block = ops.subtract(g, ops.transpose(g))[1:, : n - 1]
                block = ops.where(packing.lower_mask(n - 1), block, 0.0)
                return ops.matmul(upstream, ops.transpose(kernel)), packing.pack_gradient(
                    block, n - 1
                )

            return ops.matmul(x2d, kernel), grad

        batch_shape = ops.shape(inputs)[:-1]
        # A tensor read of the variable (as in `packing.symmetric_matmul`), not the variable.
        stored = ops.reshape(stored, packing.packed_shape(n - 1))
        outputs = matmul(ops.reshape(inputs, (-1, n)), stored)
        return ops.reshape(outputs, (*batch_shape, n))

    def _stored_from_kernel(self, kernel):
        return packing.pack_strictly_lower(kernel, self.input_dim)

    def _check_kernel(self, matrix, atol):
        asymmetry = float(np.max(np.abs(matrix + matrix.T), initial=0.0))
        if asymmetry > atol:
            raise ValueError(
                f"{type(self).__name__} can only hold a skew-symmetric kernel. Received a matrix "
                f"with max |W + W^T| = {asymmetry:.3g}, above atol={atol:g}. Take its "
                f"skew-symmetric part first, e.g. (W - W.T) / 2, if that is what you mean."
            )

