"""HopfieldBlock: T steps of a Hopfield-style network with symmetric, zero-diagonal coupling."""

import keras
from keras import ops

from eqzoo.layers import packing
from eqzoo.layers._validation import check_units


@keras.saving.register_keras_serializable(package="eqzoo")
class HopfieldBlock(keras.layers.Layer):
    """Iterates `x <- clip(x + eta (x J + b), -1, 1)` for `steps` steps, `J = J^T`, `diag(J) = 0`.

    With symmetric J this is projected gradient descent on the Hopfield energy
    `E(x) = -1/2 x^T J x - b^T x` over the box `[-1, 1]^n`. Its gradient is L-smooth with
    `L = |J|_2 <= |J|_F`, so the step `eta = step_size / (|J|_F + 1e-6)` with `step_size <= 1`
    never increases E (the descent lemma for projected gradient steps). J is stored as its
    strictly lower triangle, n(n-1)/2 values: the lower triangle (diagonal included) of an
    (n-1) x (n-1) block, in the same packed layout as `SymmetricDense`.

    `symmetric=False` gives the unconstrained twin: a free n x n coupling (diagonal included)
    iterated the same way, with no energy guarantee.

    Args:
        steps: number of update steps T.
        step_size: fraction of the largest provably safe step, in (0, 1].
        symmetric: whether J is constrained symmetric with zero diagonal.
        use_bias: whether to include b.

    Input shape: `(batch, n)` with entries in [-1, 1]. Output shape: `(batch, n)`.

    Example:

    >>> block = HopfieldBlock(steps=5)
    >>> x = np.sign(np.random.randn(4, 16)).astype("float32")
    >>> bool(np.all(block.energy(block(x)) <= block.energy(x) + 1e-5))
    True
    """

    def __init__(self, steps=5, step_size=1.0, symmetric=True, use_bias=True,
                 coupling_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.steps = check_units(type(self).__name__, steps, allow_none=False,
                                 argument="steps")
        if not 0.0 < float(step_size) <= 1.0:
            raise ValueError(f"Invalid value for argument `step_size` of HopfieldBlock: expected "
                             f"a number in (0, 1]. Received: step_size={step_size!r}")
        self.step_size = float(step_size)
        self.symmetric = bool(symmetric)
        self.use_bias = bool(use_bias)
        self.coupling_initializer = keras.initializers.get(coupling_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=2)

    def build(self, input_shape):
        n = input_shape[-1]
        if n is None or int(n) < 2:
            raise ValueError(f"HopfieldBlock needs a known input width of at least 2. Received: "
                             f"input_shape={tuple(input_shape)}")
        self.n = n = int(n)

        def init(shape, dtype=None):
            full = self.coupling_initializer((n, n), dtype=dtype)
            if not self.symmetric:
                return full
            return packing.pack_strictly_lower(full, n)

        shape = packing.packed_shape(n - 1) if self.symmetric else (n, n)
        self.coupling_parameters = self.add_weight(name="coupling", shape=shape, initializer=init)
        self.bias = (
            self.add_weight(name="bias", shape=(n,), initializer="zeros") if self.use_bias else None
        )
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: n})

    @property
    def coupling(self):
        """The coupling matrix J (symmetric with zero diagonal unless `symmetric=False`)."""
        if not self.symmetric:
            return ops.convert_to_tensor(self.coupling_parameters)
        # x + 0 == x, so J is bitwise symmetric with an exactly zero diagonal.
        strict = packing.unpack_strictly_lower(self.coupling_parameters, self.n)
        return ops.add(strict, ops.transpose(strict))

    def symmetric_matrices(self):
        """`[J]`, or `[]` for the unconstrained twin (see `layers.symmetric_matrices`)."""
        return [self.coupling] if self.symmetric else []

    def energy(self, x):
        """`E(x) = -1/2 x^T J x - b^T x`, one value per row of x."""
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        j = ops.cast(self.coupling, x.dtype)
        e = -0.5 * ops.sum(ops.matmul(x, j) * x, axis=-1)
        if self.bias is not None:
            e = e - ops.matmul(x, ops.cast(self.bias, x.dtype))
        return e

    def call(self, inputs):
        j = self.coupling
        eta = self.step_size / (ops.sqrt(ops.sum(ops.square(j))) + 1e-6)
        x = inputs
        for _ in range(self.steps):
            field = ops.matmul(x, j)
            if self.bias is not None:
                field = field + self.bias
            x = ops.clip(x + eta * field, -1.0, 1.0)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "steps": self.steps,
            "step_size": self.step_size,
            "symmetric": self.symmetric,
            "use_bias": self.use_bias,
            "coupling_initializer": keras.initializers.serialize(self.coupling_initializer),
        }
