"""EMLP: equivariant MLPs for continuous matrix groups (rotations, reflections, Lorentz boosts).

Finzi, Welling and Wilson, "A Practical Method for Constructing Equivariant Multilayer
Perceptrons for Arbitrary Matrix Groups" (ICML 2021): for a group G and representations of
the input and output,

    h_0 = x,   h_{k+1} = gate(z_k + bilinear(z_k)),  z_k = W_k h_k + b_k   (EMLPBlock, k < depth)
    y = W_out h_depth + b_out                                           (EquivariantDense)

where every `W` solves the equivariance constraint exactly (layers/lie_basis.py) and the hidden
features are `uniform_rep(channels, G)`: scalars, vectors and tensors up to rank 3 in about
equal shares. So `f(rho_in(g) x) = rho_out(g) f(x)` for every g in G, up to float32 round-off.
Groups and representations are plain text, so presets stay data: `group="O(3)"`,
`rep_in="5*S + 5*V"` (5 masses, then 5 positions), `rep_out="T2"`. The unconstrained twin
(`constrained=False`) is EMLP's MLP baseline: Dense layers of width `channels` with swish.
"""

import keras

from eqzoo.layers import EMLPBlock
from eqzoo.layers.emlp_block import emlp_linear
from eqzoo.layers.groups import group_from_name
from eqzoo.layers.representations import parse_rep, uniform_rep
from eqzoo.zoo.arguments import Boolean, GroupName, Integer, Name, RepText
from eqzoo.zoo.registry import BYTES_PER_PARAMETER, register_architecture

REFERENCE = ("Finzi, Welling & Wilson, A Practical Method for Constructing Equivariant "
             "Multilayer Perceptrons for Arbitrary Matrix Groups (ICML 2021)")


def _memory(config):
    """A lower bound: the scalar-to-scalar blocks of the hidden kernels (one coefficient per
    pair of scalar copies); the twin: exactly its Dense kernels and biases."""
    group = group_from_name(config["group"])
    hidden = uniform_rep(config["channels"], group)
    if not config["constrained"]:
        widths = [parse_rep(config["rep_in"], group).dim, *[hidden.dim] * config["depth"],
                  parse_rep(config["rep_out"], group).dim]
        pairs = zip(widths[:-1], widths[1:], strict=True)
        return BYTES_PER_PARAMETER * sum((a + 1) * b for a, b in pairs)
    scalars = sum(1 for r in hidden.summands if r.dim == 1)
    return BYTES_PER_PARAMETER * config["depth"] * scalars**2


@register_architecture("emlp", memory=_memory)
def emlp(*, group: GroupName() = "O(3)", rep_in: RepText(), rep_out: RepText(),
         channels: Integer(1, 4096) = 384, depth: Integer(1, 16) = 3, seed: Integer(0) = 0,
         constrained: Boolean() = True, name: Name() = "emlp"):
    """Builds the EMLP; inputs `(batch, rep_in.dim)` laid out as `rep_in` (see
    `layers.representations`), outputs `(batch, rep_out.dim)`."""
    g = group_from_name(group)
    rep_in, rep_out = parse_rep(rep_in, g), parse_rep(rep_out, g)
    hidden = uniform_rep(channels, g)
    inputs = keras.Input((rep_in.dim,), name="inputs")
    h = inputs
    for k in range(depth):
        if constrained:
            h = EMLPBlock(rep_in if k == 0 else hidden, hidden, seed=seed + k,
                          name=f"emlp_block{k}")(h)
        else:
            h = keras.layers.Dense(hidden.dim, activation="swish", name=f"dense{k}")(h)
    if constrained:
        outputs = emlp_linear(hidden, rep_out, name="head")(h)
    else:
        outputs = keras.layers.Dense(rep_out.dim, name="head")(h)
    return keras.Model(inputs, outputs, name=name)
