"""Equivariant networks for sets and periodic signals, built from `EquivariantDense`.

DeepSets (Zaheer et al., "Deep Sets", NeurIPS 2017): for a set of n elements with c features,

    h_{k+1} = act(h_k Lambda_k + 1 1^T h_k Gamma_k + 1 b_k^T)     (permutation-equivariant)
    y = act(sum_i h_K[i] Gamma + b) H + c                       (invariant pooling, then a head)

so `f(P x) = f(x)` for every permutation P of the elements, exactly, with weights independent of n.

Signal network (group convolution on the cycle, Cohen & Welling, "Group Equivariant
Convolutional Networks", ICML 2016, with a regular-representation-free kernel): every layer is a
circulant (cyclic group C_n) or symmetric circulant (dihedral group D_n) map between channels,

    h_{k+1} = act(h_k * k_k + b_k),      y = x + h_K * k_out      (residual, equivariant)

so shifting or reflecting the input signal shifts or reflects the output the same way.
Each family's unconstrained twin is the plain MLP preset named in its metadata.
"""

import keras

from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.groups import CyclicGroup, DihedralGroup, SymmetricGroup
from eqzoo.layers.representations import DefiningRep, TrivialRep
from eqzoo.zoo.arguments import Activation, Boolean, Choice, Integer, Name, Shape
from eqzoo.zoo.registry import make_preset, register_architecture, register_presets
from eqzoo.zoo.symmetric_mlp import REFERENCE as MLP_REFERENCE

GROUPS = {"cyclic": CyclicGroup, "dihedral": DihedralGroup}


def _memory(config):
    """The group's two generators as float64 n x n matrices, which the bases are solved from
    (the weights themselves are few: their number does not grow with n)."""
    n = config["input_shape"][0]
    return 2 * 8 * n * n


@register_architecture("deepsets", memory=_memory)
def deepsets(*, input_shape: Shape(ndim=2), num_outputs: Integer(1), width: Integer(1) = 32,
             depth: Integer(1) = 2, activation: Activation() = "relu",
             name: Name() = "deepsets"):
    """Permutation-invariant network on `(n, c)` sets: equivariant layers, invariant pooling."""
    n, c = input_shape
    points = DefiningRep(SymmetricGroup(n))
    inputs = keras.Input((n, c), name="inputs")
    h, channels = inputs, c
    for k in range(depth):
        h = EquivariantDense(points.channels(channels), points.channels(width),
                             activation=activation, name=f"equivariant{k}")(h)
        channels = width
    h = EquivariantDense(points.channels(width), TrivialRep(points.group, width),
                         activation=activation, name="invariant_pool")(h)
    outputs = keras.layers.Dense(num_outputs, name="head")(h)
    return keras.Model(inputs, outputs, name=name)


@register_architecture("signal_net", memory=_memory)
def signal_net(*, input_shape: Shape(ndim=1), group: Choice(*GROUPS) = "dihedral",
               width: Integer(1) = 8, depth: Integer(1) = 3, activation: Activation() = "gelu",
               residual: Boolean() = True, name: Name() = "signal_net"):
    """Shift (and reflection) equivariant network on length-n periodic signals."""
    (n,) = input_shape
    if group not in GROUPS:
        raise ValueError(f"Invalid value for argument `group` of signal_net: expected one of "
                         f"{sorted(GROUPS)}. Received: group={group!r}")
    points = DefiningRep(GROUPS[group](n))
    inputs = keras.Input((n,), name="inputs")
    h = keras.layers.Reshape((n, 1), name="to_channels")(inputs)
    channels = 1
    for k in range(depth):
        h = EquivariantDense(points.channels(channels), points.channels(width),
                             activation=activation, name=f"equivariant{k}")(h)
        channels = width
    h = EquivariantDense(points.channels(width), points.channels(1), name="equivariant_out")(h)
    h = keras.layers.Reshape((n,), name="to_signal")(h)
    outputs = keras.layers.Add(name="residual")([inputs, h]) if residual else h
    return keras.Model(inputs, outputs, name=name)


_SET = {"input_shape": (8, 3), "num_outputs": 3}
_SET_POINTS = DefiningRep(SymmetricGroup(8))
_SIGNAL = {"input_shape": (16,)}
_DEEPSETS = {"architecture": "deepsets", "task": "regression", "constraint": "equivariant",
             "reference": "Zaheer et al., Deep Sets (NeurIPS 2017)",
             "equivariance": (_SET_POINTS.channels(3), TrivialRep(_SET_POINTS.group, 3))}
_SIGNAL_NET = {"architecture": "signal_net", "task": "regression", "constraint": "equivariant",
               "datasets": ["cyclic_signal"], "twin": "mlp_cyclic_signal",
               "reference": "Cohen & Welling, Group Equivariant Convolutional Networks (ICML 2016)"}
# The twins: plain MLPs (symmetric_mlp with constrained=False) on the flattened input.
_MLP = {"architecture": "symmetric_mlp", "task": "regression", "constraint": None,
        "reference": MLP_REFERENCE}

PRESETS = {
    "deepsets_set_sum": make_preset(
        **_DEEPSETS, description="DeepSets, 2 equivariant layers of width 32, for set sums",
        config=_SET, params=3_459, datasets=["set_sum"], twin="mlp_set_sum"),
    "deepsets_set_max": make_preset(
        **_DEEPSETS, description="DeepSets, 2 equivariant layers of width 32, for set maxima",
        config=_SET, params=3_459, datasets=["set_max"], twin="mlp_set_max"),
    "dihedral_signal_net": make_preset(
        **_SIGNAL_NET, description="Symmetric-circulant (D_16) network, 3 layers of 8 channels",
        config=_SIGNAL, params=1_321,
        equivariance=(DefiningRep(DihedralGroup(16)), DefiningRep(DihedralGroup(16)))),
    "cyclic_signal_net": make_preset(
        **_SIGNAL_NET, description="Circulant (C_16) network, 3 layers of 8 channels",
        config={**_SIGNAL, "group": "cyclic"}, params=2_329,
        equivariance=(DefiningRep(CyclicGroup(16)), DefiningRep(CyclicGroup(16)))),
    "mlp_set_sum": make_preset(
        **_MLP, description="Unconstrained MLP twin of deepsets_set_sum on the flattened set",
        config={**_SET, "width": 64, "constrained": False}, params=10_371,
        datasets=["set_sum"], twin="deepsets_set_sum"),
    "mlp_set_max": make_preset(
        **_MLP, description="Unconstrained MLP twin of deepsets_set_max on the flattened set",
        config={**_SET, "width": 64, "constrained": False}, params=10_371,
        datasets=["set_max"], twin="deepsets_set_max"),
    "mlp_cyclic_signal": make_preset(
        **_MLP, description="Unconstrained MLP twin of dihedral_signal_net",
        config={**_SIGNAL, "num_outputs": 16, "width": 64, "constrained": False},
        params=10_704, datasets=["cyclic_signal"], twin="dihedral_signal_net"),
}

register_presets(PRESETS)
