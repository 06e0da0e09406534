"""BoundedSpectrumDense: a Dense layer whose symmetric kernel has its eigenvalues in an interval."""

import numbers

import keras
import numpy as np
from keras import ops

from eqzoo.layers import packing
from eqzoo.layers._numerics import at_least_float32
from eqzoo.layers.structured_dense import StructuredDense


@keras.saving.register_keras_serializable(package="eqzoo")
class BoundedSpectrumDense(StructuredDense):
    """Dense layer with a symmetric kernel whose spectrum lies in `(low, high)`:
    `y = activation(x @ W + b)`, `W = c I + r tanh(S)`, `c, r = (low + high) / 2, (high - low) / 2`.

    `S` is a free symmetric matrix (n(n+1)/2 values, packed as in `SymmetricDense`) and `tanh(S)`
    is the matrix function `Q diag(tanh(lambda)) Q^T` of its eigendecomposition, so every
    eigenvalue of `W` is `c + r tanh(lambda)`, inside the interval; every symmetric matrix with
    its spectrum inside is reached. With the default `spectrum=(-1, 1)`, `W = tanh(S)`: a
    symmetric contraction, the kernel asked for to keep `x -> x @ W` stable when iterated.
    In float32 the bound holds up to the rounding of the eigendecomposition (about n * 1e-7 * r),
    and `tanh` saturates: an eigenvalue of S beyond about 9 puts W's eigenvalue on the bound.
    W is bitwise symmetric (its lower triangle is mirrored).

    The gradient is not the autodiff of `eigh`, whose eigenvector term divides by eigenvalue
    gaps (TensorFlow zeroes the gap terms of repeated eigenvalues, which silently drops the
    off-diagonal gradient at, e.g., a zero-initialized S). It is the Daleckii-Krein formula
    `dL/dS = Q (D o (Q^T G Q)) Q^T` with `D_ij = (tanh l_i - tanh l_j) / (l_i - l_j)` (and
    `1 - tanh(l_i)^2` on ties), which is exact and finite for any spectrum. One `eigh` per step
    costs O(n^3) and runs on the CPU's LAPACK or XLA; it is the price of the exact bound.

    Args:
        units: width of the output; must equal the input's last dimension (None: the same).
        spectrum: `(low, high)`, finite floats with low < high: the open interval the
            eigenvalues of W stay in.
        activation: activation function (name or callable); None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer of `S`: called with the full (n, n) shape, lower
            triangle mirrored. For a small S, `W ~ c I + r S`: the default Glorot draw gives a
            spectrum spread over the middle of the interval, away from the saturated ends.
        bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer: as for
            `keras.layers.Dense`; the kernel regularizer sees the assembled W.

    `set_kernel(W)` accepts a symmetric matrix with its spectrum in `[low, high]` (both within
    `atol`) and stores `S = artanh((W - c I) / r)`; eigenvalues on or within `atol` outside a
    bound are moved a relative 1e-6 inside it first.

    Input shape:
        N-D tensor `(batch_size, ..., n)`, N >= 2.

    Output shape:
        N-D tensor `(batch_size, ..., n)`.

    Example:

    >>> layer = BoundedSpectrumDense(spectrum=(-1.0, 1.0))
    >>> y = layer(np.ones((2, 4), "float32"))
    >>> bool(np.abs(np.linalg.eigvalsh(layer.kernel)).max() < 1)
    True
    >>> layer.count_params()  # 4 * 5 / 2 values of S + 4 biases
    14
    """

    stored_name = "packed_generator"
    symmetric_kernel = True

    def __init__(self, units=None, spectrum=(-1.0, 1.0), activation=None, use_bias=True,
                 **kwargs):
        super().__init__(units=units, activation=activation, use_bias=use_bias, **kwargs)
        self.spectrum = _check_spectrum(spectrum)

    @property
    def generator(self):
        """The symmetric matrix `S` (a tensor), with `W = c I + r tanh(S)`."""
        self._require_built("generator")
        return packing.unpack_symmetric(self._stored, self.input_dim)

    def _stored_shape(self, input_dim):
        return packing.packed_shape(input_dim)

    def _assemble(self, stored):
        n = self.input_dim
        low, high = self.spectrum
        generator = packing.unpack_symmetric(at_least_float32(stored), n)
        kernel = ops.multiply(_symmetric_tanh(generator), (high - low) / 2)
        # Adding c I leaves the off-diagonal entries exactly as they are (x + 0 == x).
        kernel = ops.add(kernel, ops.multiply(ops.eye(n, dtype=kernel.dtype), (low + high) / 2))
        return ops.cast(packing.mirror_lower(kernel, n), stored.dtype)

    def _initial_stored(self, initializer, dtype):
        # The initializer draws the generator S (its lower triangle, mirrored), not W: see
        # `kernel_initializer`.
        draw = initializer((self.input_dim, self.output_dim), dtype=dtype)
        return packing.pack_symmetric(draw, self.input_dim)

    def _stored_from_kernel(self, kernel):
        # S = artanh((W - c I) / r), from W's eigendecomposition in float64.
        low, high = self.spectrum
        kernel = np.asarray(ops.convert_to_numpy(kernel), dtype="float64")
        eigenvalues, eigenvectors = np.linalg.eigh((kernel + kernel.T) / 2)
        scaled = np.clip((eigenvalues - (low + high) / 2) / ((high - low) / 2), -1 + 1e-6, 1 - 1e-6)
        generator = (eigenvectors * np.arctanh(scaled)) @ eigenvectors.T
        return packing.pack_symmetric(generator, self.input_dim)

    def _check_kernel(self, matrix, atol):
        super()._check_kernel(matrix, atol)
        low, high = self.spectrum
        eigenvalues, _ = np.linalg.eigh((matrix + matrix.T) / 2)
        if eigenvalues.min() < low - atol or eigenvalues.max() > high + atol:
            raise ValueError(
                f"{type(self).__name__} can only hold a kernel with its eigenvalues in "
                f"spectrum=({low:g}, {high:g}). Received a matrix with eigenvalues in "
                f"[{eigenvalues.min():.6g}, {eigenvalues.max():.6g}] (atol={atol:g})."
            )

    def get_config(self):
        return {**super().get_config(), "spectrum": list(self.spectrum)}


def _check_spectrum(spectrum):
    try:
        low, high = spectrum
        valid = all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
            for v in (low, high)
        ) and low < high
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            "Invalid value for argument `spectrum` of BoundedSpectrumDense: expected a pair "
            f"(low, high) of finite floats with low < high. Received: spectrum={spectrum!r}"
        )
    return (float(low), float(high))


@ops.custom_gradient
def _symmetric_tanh(generator):
    """`Q diag(tanh(lambda)) Q^T` for symmetric `generator`, with a gap-free exact gradient."""
    eigenvalues, eigenvectors = ops.eigh(generator)
    value = ops.matmul(
        ops.multiply(eigenvectors, ops.tanh(eigenvalues)[None, :]), ops.transpose(eigenvectors)
    )

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        symmetric = ops.multiply(ops.add(upstream, ops.transpose(upstream)), 0.5)
        rotated = ops.matmul(ops.matmul(ops.transpose(eigenvectors), symmetric), eigenvectors)
        weighted = ops.multiply(_tanh_divided_differences(eigenvalues), rotated)
        return ops.matmul(ops.matmul(eigenvectors, weighted), ops.transpose(eigenvectors))

    return value, grad


def _tanh_divided_differences(eigenvalues):
    """`D_ij = (tanh a - tanh b) / (a - b)` for a = lambda_i, b = lambda_j, accurate at every gap.

    Far apart (|a - b| >= 1) the quotient loses nothing. Close together it cancels, so it is
    rewritten with `tanh a - tanh b = sinh(a - b) / (cosh a cosh b)` as
    `sinhc(a - b) / (cosh a cosh b)`, which at a == b is the derivative `1 - tanh(a)^2`.
    """
    a = eigenvalues[:, None]
    b = eigenvalues[None, :]
    gap = ops.subtract(a, b)
    far = ops.greater_equal(ops.abs(gap), 1.0)
    tiny = ops.less(ops.abs(gap), 1e-3)
    quotient = ops.divide(ops.subtract(ops.tanh(a), ops.tanh(b)), ops.where(far, gap, 1.0))
    # sinh(x) / x = 1 + x^2 / 6 + O(x^4): below 1e-3 the series is exact to float64 precision.
    sinhc = ops.where(
        tiny,
        ops.add(1.0, ops.divide(ops.square(gap), 6.0)),
        ops.divide(ops.sinh(gap), ops.where(tiny, 1.0, gap)),
    )
    close = ops.divide(sinhc, ops.multiply(ops.cosh(a), ops.cosh(b)))
    return ops.where(far, quotient, close)
