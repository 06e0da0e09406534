"""NormNonlinearity: each block rescaled by an activation of its (invariant) norm."""

import keras
import numpy as np
from keras import ops

from eqzoo.layers.lie_basis import decompose
from eqzoo.layers.representations import TrivialRep, rep_from_config

EPSILON = 1e-6  # |v| is sqrt(|v|^2 + EPSILON^2): smooth at v = 0


@keras.saving.register_keras_serializable(package="eqzoo")
class NormNonlinearity(keras.layers.Layer):
    """`v -> v act(|v| + b) / |v|` on each non-scalar block, `s -> act(s)` on each scalar.

    The norm of a block of an orthogonal representation is invariant, so the block keeps its
    direction and only its length changes: equivariant (Worrall et al., "Harmonic Networks",
    CVPR 2017). Each block has its own learned bias `b` (zero at the start). The norm is only
    invariant when every block moves by orthogonal matrices (O(n), SO(n), permutations and
    their tensors): other representations (the Lorentz group's, Sp's) are refused; use
    `GatedNonlinearity` there.

    Args:
        rep: the `Representation` of input and output (or its `get_config()` dict).
        activation: a Keras activation (default "relu").

    Input shape: `(batch, rep.dim)`. Output shape: the same.

    Example:

    >>> from eqzoo.layers.groups import SO
    >>> from eqzoo.layers.representations import DefiningRep
    >>> layer = NormNonlinearity(DefiningRep(SO(3)))
    >>> tuple(layer(np.ones((2, 3), "float32")).shape)
    (2, 3)
    """

    def __init__(self, rep, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.rep = rep_from_config(rep)
        self.activation = keras.activations.get(activation)
        blocks = {}
        for leaf, idx in decompose(self.rep):
            if type(leaf) is TrivialRep and leaf.dim == 1:
                blocks.setdefault(0, []).append(idx)
                continue
            _check_orthogonal(leaf)
            blocks.setdefault(leaf.dim, []).append(idx)
        self.blocks = [(d, np.stack(ids).astype("int32")) for d, ids in sorted(blocks.items())]
        self.num_blocks = sum(len(ids) for d, ids in self.blocks if d)
        order = np.concatenate([ids.ravel() for _, ids in self.blocks])
        self._inverse = np.argsort(order).astype("int32")
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: self.rep.dim})

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(self.num_blocks,), initializer="zeros")

    def call(self, inputs):
        lead = tuple(-1 if d is None else d for d in inputs.shape[:-1])
        x = ops.reshape(inputs, (-1, self.rep.dim))
        parts, start = [], 0
        for d, ids in self.blocks:
            block = ops.take(x, ids, axis=-1)  # (batch, copies, d)
            if d == 0:  # scalars
                parts.append(ops.reshape(self.activation(block), (-1, ids.size)))
                continue
            norm = ops.sqrt(ops.sum(ops.square(block), axis=-1, keepdims=True) + EPSILON**2)
            bias = ops.cast(self.bias[start:start + len(ids)], x.dtype)[:, None]
            start += len(ids)
            scaled = block * self.activation(norm + bias) / norm
            parts.append(ops.reshape(scaled, (-1, ids.size)))
        flat = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)
        return ops.reshape(ops.take(flat, self._inverse, axis=-1), lead + (self.rep.dim,))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rep": self.rep.get_config(),
                "activation": keras.activations.serialize(self.activation)}


def _check_orthogonal(leaf):
    orthogonal = all(np.allclose(m @ m.T, np.eye(leaf.dim), atol=1e-8)
                     for m in leaf.generator_matrices())
    if orthogonal and all(np.allclose(a, -a.T, atol=1e-8) for a in leaf.algebra_matrices()):
        return
    raise ValueError(f"NormNonlinearity needs blocks that move by orthogonal matrices (so their "
                     f"norm is invariant). Received {leaf!r}, which does not; use "
                     "GatedNonlinearity for it.")
