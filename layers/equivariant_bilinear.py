"""EquivariantBilinear: EMLP's bilinear layer, with its random mixing saved in the config."""

import keras
import numpy as np
from keras import ops

from eqzoo.layers.lie_basis import decompose
from eqzoo.layers.representations import TensorProduct, TrivialRep, rep_from_config

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
        """Which kernel blocks are filled from which copies of x (numpy, once)."""
        copies = {}
        for leaf, idx in decompose(self.rep_in):
            if not (type(leaf) is TrivialRep and leaf.dim == 1):
                copies.setdefault(leaf, []).append(idx)
        kernel_blocks = {}
        for leaf, idx in decompose(TensorProduct(self.rep_in.dual(), self.rep_out)):
            kernel_blocks.setdefault(leaf, []).append(idx)
        matched = [leaf for leaf in kernel_blocks if leaf in copies]
        rng = np.random.default_rng(self.seed)
        if selection is None:
            selection = [sorted(rng.choice(len(copies[leaf]), min(len(copies[leaf]), leaf.dim),
                                           replace=False).tolist()) for leaf in matched]
        if len(selection) != len(matched) or any(
                not all(0 <= i < len(copies[leaf]) for i in ids)
                for leaf, ids in zip(matched, selection, strict=False)):
            raise ValueError(f"EquivariantBilinear selection does not fit {self.rep_in!r} -> "
                             f"{self.rep_out!r}: expected {len(matched)} lists of copy indices. "
                             f"Received: selection={selection!r}")
        self.selection = [list(map(int, ids)) for ids in selection]
        self.terms = []  # (kernel positions (w, d), x positions (n, d), parameter offset)
        offset, filled = 0, []
        for leaf, ids in zip(matched, self.selection, strict=True):
            positions = np.stack(kernel_blocks[leaf])
            sources = np.stack([copies[leaf][i] for i in ids])
            self.terms.append((positions, sources.astype("int32"), offset))
            offset += len(positions) * len(sources)
            filled.append(positions.ravel())
        self.num_parameters = offset
        size = self.rep_in.dim * self.rep_out.dim
        filled = np.concatenate(filled) if filled else np.zeros(0, np.int64)
        empty = np.setdiff1d(np.arange(size), filled)
        self._empty = len(empty)
        # The blocks are computed in term order, then the zeros: this undoes that order.
        self._order = np.argsort(np.concatenate([filled, empty])).astype("int32")

    def build(self, input_shape):
        self.mixing = self.add_weight(
            name="mixing", shape=(self.num_parameters,),
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed))

    def call(self, inputs):
        lead = tuple(-1 if d is None else d for d in inputs.shape[:-1])
        x = ops.reshape(inputs, (-1, self.rep_in.dim))
        parts = []
        for positions, sources, offset in self.terms:
            (w, d), n = positions.shape, len(sources)
            weights = ops.reshape(ops.cast(self.mixing[offset:offset + w * n], x.dtype), (w, n))
            copies = ops.reshape(ops.take(x, sources.ravel(), axis=-1), (-1, n, d))
            mixed = ops.matmul(ops.transpose(copies, (0, 2, 1)), ops.transpose(weights))
            parts.append(ops.reshape(ops.transpose(mixed, (0, 2, 1)), (-1, w * d)))
        if self._empty:
            parts.append(ops.repeat(ops.zeros_like(x[:, :1]), self._empty, axis=1))
        flat = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)
        kernel = ops.reshape(ops.take(flat, self._order, axis=-1),
                             (-1, self.rep_in.dim, self.rep_out.dim))
        y = ops.multiply(ops.squeeze(ops.matmul(ops.expand_dims(x, 1), kernel), 1), SCALE)
        return ops.reshape(y, lead + (self.rep_out.dim,))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.rep_out.dim,)

    def get_config(self):
        return {**super().get_config(), "rep_in": self.rep_in.get_config(),
                "rep_out": self.rep_out.get_config(), "seed": self.seed,
                "selection": self.selection}
