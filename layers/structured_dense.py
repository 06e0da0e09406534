"""The base of every dense layer whose kernel is assembled from fewer stored values."""

import keras
import numpy as np
from keras import ops

from eqzoo.layers._validation import check_units


class StructuredDense(keras.layers.Layer):
    """Dense layer `y = activation(x @ W + b)` whose kernel `W = assemble(stored)` has structure.

    A subclass chooses the structure with the hooks below and inherits everything else (bias,
    activation, regularizers, input checks, `kernel` read and assignment, folding to `Dense`,
    serialization). Each hook receives the same kind of value in every subclass:

    - `_kernel_output_dim(input_dim)`: the kernel's output width for an input width (check it);
    - `_stored_shape(input_dim)`: the shape of the one stored kernel variable;
    - `_assemble(stored)`: the `(input_dim, output_dim)` kernel W from the stored tensor,
      `keras.ops` only;
    - `_stored_from_kernel(kernel)`: the stored values whose assembly is the kernel W (an
      `(input_dim, output_dim)` array or tensor), or its projection onto the structure when W
      lacks it. `set_kernel` calls it with a float64 NumPy matrix that `_check_kernel` accepted;
      the result is cast to the variable's dtype.
    - `_initial_stored(initializer, dtype)` (optional): the stored values a new layer starts
      from. By default the kernel initializer is called with the full `(input_dim, output_dim)`
      shape, so fan-in and fan-out (Glorot, He, LeCun) are those of the kernel a plain `Dense`
      would have, and the draw is projected by `_stored_from_kernel`. A layer whose stored
      values are not a kernel (a factor `L` of `W = L L^T`, a generator `S` of `W = tanh(S)`)
      reads the draw as those instead;
    - `_check_kernel(matrix, atol)` (optional): reject an assigned float64 NumPy matrix lacking
      the structure. By default it refuses an asymmetric matrix when `symmetric_kernel` is set;
    - `_matmul(inputs, stored)` (optional): a faster `inputs @ assemble(stored)`;
    - `_build_bias()` (optional): create the bias (by default a free `(output_dim,)` vector
      `bias`, or `bias = None` when `use_bias=False`).

    A subclass whose kernel is always symmetric sets `symmetric_kernel = True`: `set_kernel` then
    refuses a matrix with `max |W - W^T| > atol`, and `symmetric_matrices()` returns `[kernel]`,
    which is how `layers.symmetric_matrices` and `layers.symmetry_residuals` find it.

    The kernel regularizer sees the assembled kernel, not the stored values.
    """

    stored_name = "stored_kernel"
    symmetric_kernel = False

    def __init__(
        self,
        units=None,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = check_units(type(self).__name__, units)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    # ---- hooks -------------------------------------------------------------------------------

    def _kernel_output_dim(self, input_dim):
        """Square kernels by default: `units` must be the input width (None means the same)."""
        if self.units is not None and self.units != input_dim:
            raise ValueError(
                f"{type(self).__name__} has a square kernel, so `units` must equal the last "
                f"dimension of its input. Received: units={self.units}, input last dimension="
                f"{input_dim}. Use units=None (or units={input_dim}), or put a Dense projection "
                f"to width {self.units} in front of this layer."
            )
        return input_dim

    def _stored_shape(self, input_dim):
        raise NotImplementedError

    def _assemble(self, stored):
        raise NotImplementedError

    def _stored_from_kernel(self, kernel):
        raise NotImplementedError

    def _initial_stored(self, initializer, dtype):
        full = initializer((self.input_dim, self.output_dim), dtype=dtype)
        return self._stored_from_kernel(full)

    def _check_kernel(self, matrix, atol):
        if not self.symmetric_kernel:
            return
        asymmetry = float(np.max(np.abs(matrix - matrix.T), initial=0.0))
        if asymmetry > atol:
            raise ValueError(
                f"{type(self).__name__} can only hold a symmetric kernel. Received a matrix with "
                f"max |W - W^T| = {asymmetry:.3g}, above atol={atol:g}. Symmetrise it first, "
                f"e.g. (W + W.T) / 2, if that is what you mean."
            )

    def symmetric_matrices(self):
        """The matrices this layer keeps exactly symmetric (see `layers.symmetry_residuals`)."""
        return [self.kernel] if self.symmetric_kernel else []

    # ---- Keras layer anatomy -----------------------------------------------------------------

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{type(self).__name__} needs a known last input dimension. Received: "
                f"input_shape={tuple(input_shape)}"
            )
        input_dim = int(input_dim)
        self.input_dim = input_dim
        self.output_dim = int(self._kernel_output_dim(input_dim))
        self._stored = self.add_weight(
            name=self.stored_name,
            shape=self._stored_shape(input_dim),
            initializer=_InitialStored(self, self.kernel_initializer),
            regularizer=(
                _AssembledKernelRegularizer(self, self.kernel_regularizer)
                if self.kernel_regularizer is not None
                else None
            ),
        )
        self._build_bias()
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})

    def _build_bias(self):
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.output_dim,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        else:
            self.bias = None

    def _matmul(self, inputs, stored):
        """`inputs @ W`; a subclass may compute it without assembling W the plain way."""
        return ops.matmul(inputs, self._assemble(stored))

    def call(self, inputs):
        outputs = self._matmul(inputs, self._stored)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self._output_dim_for(input_shape[-1]),)

    def _output_dim_for(self, input_dim):
        if self.built:
            return self.output_dim
        return self._kernel_output_dim(input_dim)

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
        return {**super().get_config(), **config}

    # ---- the kernel as a matrix --------------------------------------------------------------

    @property
    def stored_kernel(self):
        """The trainable variable the kernel is assembled from."""
        self._require_built("stored_kernel")
        return self._stored

    @property
    def kernel(self):
        """The assembled `(input_dim, units)` kernel, as a tensor (read-only view)."""
        self._require_built("kernel")
        return self._assemble(self._stored)

    @kernel.setter
    def kernel(self, matrix):
        self.set_kernel(matrix)

    def set_kernel(self, matrix, atol=1e-6):
        """Assigns a full kernel matrix, e.g. one trained elsewhere.

        Raises ValueError when `matrix` has the wrong shape or lacks the layer's structure by more
        than `atol` (absolute, elementwise).
        """
        self._require_built("set_kernel")
        matrix = np.asarray(keras.ops.convert_to_numpy(matrix), dtype="float64")
        expected = (self.input_dim, self.output_dim)
        if matrix.shape != expected:
            raise ValueError(
                f"{type(self).__name__}.set_kernel expected a matrix of shape {expected}. "
                f"Received: shape={matrix.shape}"
            )
        if not np.all(np.isfinite(matrix)):
            raise ValueError(f"{type(self).__name__}.set_kernel received non-finite values.")
        self._check_kernel(matrix, atol)
        self._stored.assign(ops.cast(self._stored_from_kernel(matrix), self._stored.dtype))

    def to_dense(self):
        """A plain, built `keras.layers.Dense` with this layer's assembled kernel and bias."""
        self._require_built("to_dense")
        dense = keras.layers.Dense(
            self.output_dim,
            activation=self.activation,
            use_bias=self.use_bias,
            name=self.name,
            dtype=self.dtype_policy,
        )
        dense.build((None, self.input_dim))
        weights = [ops.convert_to_numpy(self.kernel)]
        if self.use_bias:
            weights.append(ops.convert_to_numpy(self.bias))
        dense.set_weights(weights)
        return dense

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' is not built yet, so it has no `{what}`. "
                f"Call it on an input (or call `build(input_shape)`) first."
            )


class _InitialStored:
    """The stored variable's initializer: the layer's `_initial_stored` with the user's one."""

    def __init__(self, layer, initializer):
        self.layer = layer
        self.initializer = initializer

    def __call__(self, shape, dtype=None):
        del shape
        return self.layer._initial_stored(self.initializer, dtype)


class _AssembledKernelRegularizer:
    """Applies the user's regularizer to the assembled kernel rather than the stored values."""

    def __init__(self, layer, regularizer):
        self.layer = layer
        self.regularizer = regularizer

    def __call__(self, stored):
        return self.regularizer(self.layer._assemble(stored))
