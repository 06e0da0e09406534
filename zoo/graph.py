"""Invariant and equivariant graph networks on n x n matrices, built from `EquivariantDense`.

Invariant Graph Network (Maron et al., "Invariant and Equivariant Graph Networks", ICLR 2019):
an adjacency or distance matrix `A` moves as `P A P^T` when the nodes are relabelled. Every
layer is one of the S_n-equivariant linear maps between matrices with channels (15 basis maps
per channel pair: identity, transpose, diagonals, row and column means, totals, broadcast back),

    H_{k+1} = act(L_k(H_k) + B_k)           (n x n x c -> n x n x c', equivariant)
    y = act(pool(H_K)) W + b                (2 invariant maps per channel pair, then a head)

so `f(P A P^T) = f(A)` for every permutation, exactly, with weights independent of n. The
equivariant network ends in a map to one n x n matrix (edge-level targets, `Y -> P Y P^T`) or
to one value per node (node-level, `y -> P y`). For a symmetric target the edge output is
symmetrised, `(Y + Y^T) / 2`, which keeps equivariance (transposition commutes with `P . P^T`),
so a symmetric target gets a symmetric prediction.

Each preset's unconstrained twin is `matrix_mlp`: a plain MLP on the flattened matrix.
"""

import math

import keras

from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.groups import SymmetricGroup
from eqzoo.layers.representations import DefiningRep, TrivialRep
from eqzoo.zoo.arguments import Activation, Boolean, Choice, Integer, Name, Shape
from eqzoo.zoo.registry import (
    BYTES_PER_PARAMETER,
    make_preset,
    register_architecture,
    register_presets,
    shipped_weights,
)

OUTPUTS = ("edges", "nodes")


def _group_memory(config):
    """The symmetric group's generators as float64 n x n matrices (the equivariant layers'
    coefficients are few: their number does not grow with n)."""
    n = config["input_shape"][0]
    return 2 * 8 * n * n


def _mlp_memory(config):
    """The MLP's kernels, biases left out."""
    width, depth = config["width"], config["depth"]
    parameters = (math.prod(config["input_shape"]) * width + (depth - 1) * width * width
                  + width * math.prod(config["output_shape"]))
    return BYTES_PER_PARAMETER * parameters


def _matrices(input_shape, architecture):
    shape = tuple(input_shape)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise ValueError(f"Invalid value for argument `input_shape` of {architecture}: expected "
                         f"(n, n), a square matrix per example. Received: input_shape={shape!r}")
    points = DefiningRep(SymmetricGroup(shape[0]))
    return points, points * points


def _equivariant_trunk(inputs, matrices, width, depth, activation):
    h, rep = inputs, matrices
    for k in range(depth):
        h = EquivariantDense(rep, matrices.channels(width), activation=activation,
                             name=f"equivariant{k}")(h)
        rep = matrices.channels(width)
    return h, rep


@register_architecture("invariant_graph_net", memory=_group_memory)
def invariant_graph_net(*, input_shape: Shape(ndim=2), num_outputs: Integer(1),
                        width: Integer(1) = 16, depth: Integer(1) = 2,
                        activation: Activation() = "relu", name: Name() = "invariant_graph_net"):
    """Graph-level regression on `(n, n)` matrices: equivariant layers, invariant pooling, head."""
    points, matrices = _matrices(input_shape, "invariant_graph_net")
    inputs = keras.Input(tuple(input_shape), name="inputs")
    h, rep = _equivariant_trunk(inputs, matrices, width, depth, activation)
    h = EquivariantDense(rep, TrivialRep(points.group, width), activation=activation,
                         name="invariant_pool")(h)
    outputs = keras.layers.Dense(num_outputs, name="head")(h)
    return keras.Model(inputs, outputs, name=name)


@register_architecture("equivariant_graph_net", memory=_group_memory)
def equivariant_graph_net(*, input_shape: Shape(ndim=2), output: Choice(*OUTPUTS) = "edges",
                          width: Integer(1) = 16, depth: Integer(1) = 2,
                          activation: Activation() = "relu", symmetric_output: Boolean() = True,
                          name: Name() = "equivariant_graph_net"):
    """Edge-level `(n, n)` or node-level `(n,)` outputs from `(n, n)` matrices, equivariantly."""
    if output not in OUTPUTS:
        raise ValueError(f"Invalid value for argument `output` of equivariant_graph_net: expected "
                         f"one of {list(OUTPUTS)}. Received: output={output!r}")
    points, matrices = _matrices(input_shape, "equivariant_graph_net")
    inputs = keras.Input(tuple(input_shape), name="inputs")
    h, rep = _equivariant_trunk(inputs, matrices, width, depth, activation)
    outputs = EquivariantDense(rep, matrices if output == "edges" else points,
                               name="equivariant_out")(h)
    if output == "edges" and symmetric_output:
        transposed = keras.layers.Permute((2, 1), name="transpose")(outputs)
        outputs = keras.layers.Average(name="symmetrize")([outputs, transposed])
    return keras.Model(inputs, outputs, name=name)


@register_architecture("matrix_mlp", memory=_mlp_memory)
def matrix_mlp(*, input_shape: Shape(), output_shape: Shape(), width: Integer(1) = 64,
               depth: Integer(1) = 2, activation: Activation() = "relu",
               name: Name() = "matrix_mlp"):
    """The unconstrained twin: an MLP on the flattened matrix, reshaped to `output_shape`."""
    inputs = keras.Input(tuple(input_shape), name="inputs")
    h = keras.layers.Flatten(name="flatten")(inputs)
    for k in range(depth):
        h = keras.layers.Dense(width, activation=activation, name=f"dense{k}")(h)
    h = keras.layers.Dense(math.prod(output_shape), name="head")(h)
    outputs = keras.layers.Reshape(tuple(output_shape), name="to_output")(h)
    return keras.Model(inputs, outputs, name=name)


_NODES = 8
_POINTS = DefiningRep(SymmetricGroup(_NODES))
_GRAPHS = {"input_shape": (_NODES, _NODES)}
_FAMILY = {"task": "regression",
           "reference": "Maron et al., Invariant and Equivariant Graph Networks (ICLR 2019)"}

PRESETS = {
    "invariant_graph_net_triangles": make_preset(
        **_FAMILY, architecture="invariant_graph_net",
        description="Invariant graph network, 2 matrix layers of 16 channels, for triangle "
                    "counts of 8-node graphs",
        config={**_GRAPHS, "num_outputs": 1}, params=4_689, datasets=["graph_triangles"],
        constraint="equivariant", twin="mlp_graph_triangles",
        equivariance=(_POINTS * _POINTS, TrivialRep(_POINTS.group, 1)),
        # The final weights of its train.py command (graph_triangles with its default 512
        # graphs), which tests/test_pretrained.py reproduces.
        weights=shipped_weights(
            preset="invariant_graph_net_triangles", dataset="graph_triangles",
            sha256="72a9e54f3e55ef8176cd0f8dc17288cec5e9635a21533a58f97d4074095fcc0f",
            test_metrics={"test/loss": 0.467972, "test/mae": 0.432748},
            weights_digest="697e7120a27f530bc854b3181b6a9a611422e60835e3332a1b29757d45f054af")),
    "equivariant_graph_net_line_degrees": make_preset(
        **_FAMILY, architecture="equivariant_graph_net",
        description="Equivariant graph network, 2 matrix layers of 16 channels, symmetric edge "
                    "output, for line-graph degrees of 8-node graphs",
        config=_GRAPHS, params=4_386, datasets=["line_graph_degrees"], constraint="equivariant",
        twin="mlp_line_graph_degrees", equivariance=(_POINTS * _POINTS, _POINTS * _POINTS)),
    "mlp_graph_triangles": make_preset(
        **_FAMILY, architecture="matrix_mlp",
        description="Unconstrained MLP twin of invariant_graph_net_triangles on the flattened "
                    "adjacency matrix",
        config={**_GRAPHS, "output_shape": (1,)}, params=8_385, datasets=["graph_triangles"],
        constraint=None, twin="invariant_graph_net_triangles"),
    "mlp_line_graph_degrees": make_preset(
        **_FAMILY, architecture="matrix_mlp",
        description="Unconstrained MLP twin of equivariant_graph_net_line_degrees on the "
                    "flattened adjacency matrix",
        config={**_GRAPHS, "output_shape": (_NODES, _NODES)}, params=12_480,
        datasets=["line_graph_degrees"], constraint=None,
        twin="equivariant_graph_net_line_degrees"),
}

register_presets(PRESETS)
