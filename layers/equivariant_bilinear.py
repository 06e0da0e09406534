"""EquivariantBilinear: EMLP's bilinear layer, with its random mixing saved in the config."""

import keras
import numpy as np
from keras import ops

from eqzoo.layers.lie_basis import leaf_product, leaf_types
from eqzoo.layers.representations import TrivialRep, rep_from_config

SCALE = 0.1  # EMLP's factor on the bilinear term, which keeps it small beside the linear one


@keras.saving.register_keras_serializable(package="eqzoo")
class EquivariantBilinear(keras.layers.Layer):
    """`y = 0.1 x W(x)`, with `W(x)` an equivariant kernel built linearly from x's own blocks.

    EMLP's bilinear layer (Finzi et al., ICML 2021): the kernel space `Hom(rep_in, rep_out)` =
    `rep_in* (x) rep_out` splits into blocks (`lie_basis.decompose`), and a block of a type
    that also occurs among x's non-scalar blocks is filled with a learned combination of up to
    `d` (the block's size) copies of that type in x, chosen at random once. Since the block
    moves as the copies do, `W(g x) = rho_in(g)^-T W(x) rho_out(g)^T` and `y(g x) = rho_out(g)
    y(x)`. The random choice is drawn from `seed` and stored as `selection` in the config, so a
    `.keras` round trip gives bitwise the same outputs (EMLP's draw is not saved; its issues
    #8 and #21).

    Args:
        rep_in: the `Representation` of the input (or its `get_config()` dict).
        rep_out: the representation of the output; None means `rep_in`.
        seed: seed of the choice of copies.
        selection: the choice itself (from a saved config); None draws it from `seed`.

    Input shape: `(batch, rep_in.dim)`. Output shape: `(batch, rep_out.dim)`.

    Example:

    >>> from eqzoo.layers.groups import SO
    >>> from eqzoo.layers.representations import DefiningRep, TrivialRep
    >>> rep = TrivialRep(SO(3)) + 2 * DefiningRep(SO(3))
    >>> tuple(EquivariantBilinear(rep)(np.ones((4, 7), "float32")).shape)
    (4, 7)
    """

    def __init__(self, rep_in, rep_out=None, seed=0, selection=None, **kwargs):
        super().__init__(**kwargs)
        self.rep_in = rep_from_config(rep_in)
        self.rep_out = self.rep_in if rep_out is None else rep_from_config(rep_out)
        if self.rep_in.group != self.rep_out.group:
            raise ValueError("EquivariantBilinear needs rep_in and rep_out of one group. "
                             f"Received: {self.rep_in.group!r} and {self.rep_out.group!r}.")
        self.seed = int(seed)
        self._plan(selection)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: self.rep_in.dim})

    def _plan(self, selection):
        """Which kernel blocks are filled from which copies of x (numpy, once).

        The kernel's block between a copy of input leaf type A and one of output type B has
        type `A* (x) B`; for each pair (A, B) whose block type L is among x's non-scalar
        leaves, the layer learns `(m_A, m_B, n_L)` mixing weights over n_L chosen copies of L.
        """
        types_in, types_out = leaf_types(self.rep_in), leaf_types(self.rep_out)
        copies = {leaf: idx for leaf, idx in types_in if not _is_scalar(leaf)}
        group = self.rep_in.group
        pairs, matched = [], []
        for i, (a, _) in enumerate(types_in):
            for j, (b, _) in enumerate(types_out):
                block = leaf_product(group, [a.dual(), b])
                if block in copies:
                    pairs.append((i, j, block))
                    if block not in matched:
                        matched.append(block)
        rng = np.random.default_rng(self.seed)
        if selection is None:
            selection = [sorted(rng.choice(len(copies[leaf]), min(len(copies[leaf]), leaf.dim),
                                           replace=False).tolist()) for leaf in matched]
        if len(selection) != len(matched) or any(
                not ids or not all(0 <= i < len(copies[leaf]) for i in ids)
                for leaf, ids in zip(matched, selection, strict=False)):
            raise ValueError(f"EquivariantBilinear selection does not fit {self.rep_in!r} -> "
                             f"{self.rep_out!r}: expected {len(matched)} lists of copy indices. "
                             f"Received: selection={selection!r}")
        self.selection = [list(map(int, ids)) for ids in selection]
        chosen = {leaf: copies[leaf][ids] for leaf, ids in zip(matched, self.selection,
                                                                strict=True)}
        self.terms = []  # (input copies (m_A, d_A), output type j, sources (n, d_A * d_B), offset)
        offset = 0
        for i, j, block in pairs:
            idx_a, idx_b = types_in[i][1], types_out[j][1]
            self.terms.append((idx_a.astype("int32"), j, chosen[block].astype("int32"), offset))
            offset += len(idx_a) * len(idx_b) * len(chosen[block])
        self.num_parameters = offset
        self.types_out = [idx for _, idx in types_out]
        order = np.concatenate([idx.ravel() for idx in self.types_out])
        self._inverse = np.argsort(order).astype("int32")

    def build(self, input_shape):
        self.mixing = self.add_weight(
            name="mixing", shape=(self.num_parameters,),
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed))

    def call(self, inputs):
        # y_B = sum over blocks of x_A^T W_AB(x), W_AB = sum_k P[a, b, k] X_k, without ever
        # assembling the (batch, n_in, n_out) kernel: Z = x_A^T X_k first, then the mixing.
        lead = tuple(-1 if d is None else d for d in inputs.shape[:-1])
        x = ops.reshape(inputs, (-1, self.rep_in.dim))
        outputs = [None] * len(self.types_out)
        for idx_a, j, sources, offset in self.terms:
            (m_a, d_a), (m_b, d_b), n = idx_a.shape, self.types_out[j].shape, len(sources)
            x_a = ops.reshape(ops.take(x, idx_a.ravel(), axis=-1), (-1, 1, m_a, d_a))
            chosen = ops.reshape(ops.take(x, sources.ravel(), axis=-1), (-1, n, d_a, d_b))
            z = ops.matmul(ops.repeat(x_a, n, axis=1), chosen)  # (batch, n, m_a, d_b)
            z = ops.reshape(ops.transpose(z, (0, 3, 1, 2)), (-1, d_b, n * m_a))
            weights = ops.reshape(ops.cast(self.mixing[offset:offset + m_a * m_b * n], x.dtype),
                                  (m_a, m_b, n))
            weights = ops.reshape(ops.transpose(weights, (2, 0, 1)), (n * m_a, m_b))
            y = ops.reshape(ops.transpose(ops.matmul(z, weights), (0, 2, 1)), (-1, m_b * d_b))
            outputs[j] = y if outputs[j] is None else outputs[j] + y
        parts = [y if y is not None else ops.repeat(ops.zeros_like(x[:, :1]), idx.size, axis=1)
                 for y, idx in zip(outputs, self.types_out, strict=True)]
        flat = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)
        y = ops.multiply(ops.take(flat, self._inverse, axis=-1), SCALE)
        return ops.reshape(y, lead + (self.rep_out.dim,))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.rep_out.dim,)

    def get_config(self):
        return {**super().get_config(), "rep_in": self.rep_in.get_config(),
                "rep_out": self.rep_out.get_config(), "seed": self.seed,
                "selection": self.selection}


def _is_scalar(rep):
    return type(rep) is TrivialRep and rep.dim == 1
