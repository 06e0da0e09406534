"""GatedNonlinearity: EMLP's equivariant activation, each block scaled by a sigmoid of its gate."""

import keras
import numpy as np
from keras import ops

from eqzoo.layers.lie_basis import decompose
from eqzoo.layers.representations import DirectSum, TrivialRep, rep_from_config


@keras.saving.register_keras_serializable(package="eqzoo")
class GatedNonlinearity(keras.layers.Layer):
    """`y_i = x_i sigmoid(x_gate(i))`: scalars get swish, every other block its own gate.

    For continuous groups a pointwise activation breaks equivariance (a rotation mixes the
    coordinates it acts on separately). The gated nonlinearity of EMLP (Finzi et al., ICML
    2021; Weiler et al. 2018) keeps it: the input is `gated(rep)`, the features of `rep` followed
    by one invariant gate scalar per non-scalar block of `rep` (each leaf copy of
    `lie_basis.decompose`: a vector, a tensor, a pseudo-scalar); a scalar feature is its own gate,
    so it goes through `x sigmoid(x)`, and a block is multiplied by `sigmoid` of its gate, which
    commutes with any linear action on the block.

    Args:
        rep: the `Representation` of the output (or its `get_config()` dict).

    Input shape: `(batch, ..., gated(rep).dim)`: rep's features, then the gates.
    Output shape: `(batch, ..., rep.dim)`.

    Example:

    >>> from eqzoo.layers.groups import SO
    >>> from eqzoo.layers.representations import DefiningRep, TrivialRep
    >>> rep = 2 * TrivialRep(SO(3)) + DefiningRep(SO(3))
    >>> gated(rep).dim  # 2 scalars, a vector, its gate
    6
    >>> tuple(GatedNonlinearity(rep)(np.ones((4, 6), "float32")).shape)
    (4, 5)
    """

    def __init__(self, rep, **kwargs):
        super().__init__(**kwargs)
        self.rep = rep_from_config(rep)
        self.gate_index = gate_indices(self.rep)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: gated(self.rep).dim})

    def call(self, inputs):
        values = inputs[..., :self.rep.dim]
        gates = ops.take(inputs, self.gate_index, axis=-1)
        return ops.multiply(values, ops.sigmoid(gates))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.rep.dim,)

    def get_config(self):
        return {**super().get_config(), "rep": self.rep.get_config()}


def gated(rep):
    """`rep` followed by one gate scalar per non-scalar block: what `GatedNonlinearity(rep)`
    takes (`rep` itself when it has only scalars)."""
    blocks = _non_scalar_blocks(rep)
    return DirectSum(rep, TrivialRep(rep.group, len(blocks))) if blocks else rep


def gate_indices(rep):
    """For each feature of `rep`, the input position of its gate: itself for a scalar, else
    `rep.dim + j` for a feature of the j-th non-scalar block."""
    index = np.arange(rep.dim)
    for j, positions in enumerate(_non_scalar_blocks(rep)):
        index[positions] = rep.dim + j
    return index.astype("int32")


def _non_scalar_blocks(rep):
    return [idx for leaf, idx in decompose(rep)
            if not (type(leaf) is TrivialRep and leaf.dim == 1)]
