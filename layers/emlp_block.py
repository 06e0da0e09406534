"""EMLPBlock: EMLP's layer, linear then bilinear then gated, equivariant for any group."""

import keras

from eqzoo.layers.equivariant_bilinear import EquivariantBilinear
from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.gated_nonlinearity import GatedNonlinearity, gated
from eqzoo.layers.representations import rep_from_config


@keras.saving.register_keras_serializable(package="eqzoo")
class EMLPBlock(keras.layers.Layer):
    """`z = W x + b` into `gated(rep_out)`, `u = z + bilinear(z)`, `y = gate(u)` (EMLP's block).

    The layer of Finzi, Welling and Wilson, "A Practical Method for Constructing Equivariant
    Multilayer Perceptrons for Arbitrary Matrix Groups" (ICML 2021): an `EquivariantDense` to
    `rep_out` plus one gate scalar per non-scalar block, an `EquivariantBilinear` on that (the
    interactions a linear map cannot make, such as cross products from vectors), then
    `GatedNonlinearity`. Every part is equivariant, so the block is. The linear part starts as
    EMLP's does (`emlp_linear`).

    Args:
        rep_in, rep_out: `Representation`s (or their `get_config()` dicts).
        seed: seed of the bilinear layer's random choice of copies (saved with it).
        selection: that choice, from a saved config; None draws it from `seed`.

    Input shape: `(batch, rep_in.dim)`. Output shape: `(batch, rep_out.dim)`.

    Example:

    >>> from eqzoo.layers.groups import O
    >>> from eqzoo.layers.representations import DefiningRep, TrivialRep
    >>> G = O(3)
    >>> rep_in = TrivialRep(G) + 2 * DefiningRep(G)  # a scalar and two vectors
    >>> block = EMLPBlock(rep_in, 4 * TrivialRep(G) + DefiningRep(G) ** 2)
    >>> tuple(block(np.ones((5, 7), "float32")).shape)
    (5, 13)
    """

    def __init__(self, rep_in, rep_out, seed=0, selection=None, **kwargs):
        super().__init__(**kwargs)
        self.rep_in, self.rep_out = rep_from_config(rep_in), rep_from_config(rep_out)
        self.seed = int(seed)
        hidden = gated(self.rep_out)
        policy = self.dtype_policy  # the parts compute as the block does (mixed precision)
        self.linear = emlp_linear(self.rep_in, hidden, name="linear", dtype=policy)
        self.bilinear = EquivariantBilinear(hidden, hidden, seed=seed, selection=selection,
                                            name="bilinear", dtype=policy)
        self.gate = GatedNonlinearity(self.rep_out, name="gate", dtype=policy)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: self.rep_in.dim})

    def build(self, input_shape):
        self.linear.build(input_shape)
        hidden_shape = tuple(input_shape[:-1]) + (self.linear.rep_out.dim,)
        self.bilinear.build(hidden_shape)
        self.gate.build(hidden_shape)

    def call(self, inputs):
        z = self.linear(inputs)
        return self.gate(z + self.bilinear(z))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.rep_out.dim,)

    def get_config(self):
        return {**super().get_config(), "rep_in": self.rep_in.get_config(),
                "rep_out": self.rep_out.get_config(), "seed": self.seed,
                "selection": self.bilinear.selection}


def emlp_linear(rep_in, rep_out, **kwargs):
    """An `EquivariantDense` that starts as EMLP's linear layers do: a normal draw of variance
    1 / rep_in.dim, projected onto the equivariant maps and not rescaled (`init_scaling=
    "project"`). The rescaled start, right for permutation groups, is many times larger here and
    makes the bilinear term dominate (on o5_synthetic at 30 examples: a test MSE of 23 against
    0.05; benchmarks/results/emlp_tasks.md)."""
    initializer = keras.initializers.VarianceScaling(1.0, "fan_in", "untruncated_normal")
    return EquivariantDense(rep_in, rep_out, init_scaling="project",
                            kernel_initializer=initializer, **kwargs)
