"""PairwiseInteraction: `y = w0 + w^T x + x^T J x` with a symmetric interaction matrix J."""

import keras
from keras import ops

from eqzoo.layers import packing
from eqzoo.layers._validation import check_units


@keras.saving.register_keras_serializable(package="eqzoo")
class PairwiseInteraction(keras.layers.Layer):
    """Second-order interaction layer: `y_k = w0_k + x . w_k + x^T J_k x`, `J_k = J_k^T`.

    Only the symmetric part of an interaction matrix reaches `x^T J x`, so storing a full n x n J
    wastes n(n-1)/2 values per output. With `rank=None` each J_k is stored packed (n(n+1)/2
    values, exactly symmetric); with `rank=r` it is the factorization-machine form
    `J_k = V_k V_k^T` (n r values, positive semi-definite), evaluated as `|x V_k|^2` in O(n r).
    `symmetric=False` is the unconstrained twin: a free n x n J_k (the same function class,
    with n^2 values).

    Args:
        units: number of outputs k (each with its own J_k, w_k, w0_k).
        rank: None for a full packed J, or a positive integer for `J = V V^T`.
        use_linear: whether to include the first-order term `w0 + w^T x`.
        symmetric: False for a free n x n J (the unconstrained twin; not with `rank`).
        interaction_initializer: initializer for J (called with the full (n, n) shape and
            mirrored) or for V (called with (n, rank)).

    Input shape: `(batch, n)`. Output shape: `(batch, units)`.

    Example:

    >>> layer = PairwiseInteraction(units=1)
    >>> y = layer(np.ones((2, 3), "float32"))          # 6 interaction + 3 linear + 1 bias values
    >>> layer.count_params()
    10
    """

    def __init__(self, units=1, rank=None, use_linear=True, symmetric=True,
                 interaction_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = check_units(type(self).__name__, units, allow_none=False)
        if rank is not None:
            rank = check_units(type(self).__name__, rank, allow_none=False, argument="rank")
        self.rank = rank
        self.use_linear = bool(use_linear)
        self.symmetric = bool(symmetric)
        if rank is not None and not self.symmetric:
            raise ValueError("PairwiseInteraction: `rank` gives J = V V^T, which is symmetric; "
                             "it cannot be combined with symmetric=False. Received: "
                             f"rank={rank}, symmetric=False")
        self.interaction_initializer = keras.initializers.get(interaction_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=2)

    def build(self, input_shape):
        n = input_shape[-1]
        if n is None:
            raise ValueError(f"PairwiseInteraction needs a known input width. Received: "
                             f"input_shape={tuple(input_shape)}")
        self.n = n = int(n)
        if not self.symmetric:
            self.interaction = self.add_weight(name="interaction", shape=(self.units, n, n),
                                               initializer=self.interaction_initializer)
        elif self.rank is None:
            def init(shape, dtype=None):
                fulls = [self.interaction_initializer((n, n), dtype=dtype)
                         for _ in range(self.units)]
                return ops.stack([packing.pack_symmetric(packing.mirror_lower(f, n), n)
                                  for f in fulls])

            shape = (self.units,) + packing.packed_shape(n)
            self.interaction = self.add_weight(name="packed_interaction", shape=shape,
                                               initializer=init)
        else:
            self.interaction = self.add_weight(name="factors", shape=(self.units, n, self.rank),
                                               initializer=self.interaction_initializer)
        if self.use_linear:
            self.linear = self.add_weight(name="linear", shape=(n, self.units), initializer="zeros")
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.input_spec = keras.layers.InputSpec(ndim=2, axes={-1: n})

    def interaction_matrices(self):
        """The J_k, each (n, n); exactly symmetric unless `symmetric=False`."""
        if not self.symmetric:
            return [self.interaction[k] for k in range(self.units)]
        if self.rank is None:
            return [packing.unpack_symmetric(self.interaction[k], self.n)
                    for k in range(self.units)]
        return [packing.mirror_lower(ops.matmul(v, ops.transpose(v)), self.n)
                for v in (self.interaction[k] for k in range(self.units))]

    def symmetric_matrices(self):
        """The J_k, or `[]` for the unconstrained twin (see `layers.symmetric_matrices`)."""
        return self.interaction_matrices() if self.symmetric else []

    def call(self, inputs):
        if self.rank is None:
            quadratic = ops.stack([ops.sum(ops.matmul(inputs, j) * inputs, axis=-1)
                                   for j in self.interaction_matrices()], axis=-1)
        else:
            projected = ops.einsum("bn,knr->bkr", inputs, self.interaction)
            quadratic = ops.sum(ops.square(projected), axis=-1)
        if self.use_linear:
            quadratic = quadratic + ops.matmul(inputs, self.linear) + self.bias
        return quadratic

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "rank": self.rank,
            "use_linear": self.use_linear,
            "symmetric": self.symmetric,
            "interaction_initializer": keras.initializers.serialize(self.interaction_initializer),
        }

