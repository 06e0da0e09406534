"""E(n)-equivariant graph networks for particle systems (EGNN), and the paper's N-body baselines.

EGNN (Satorras, Hoogeboom & Welling, ICML 2021), as the reference `main_nbody.py` sets it up for
the charged N-body system: node features `|v_i|`, edge attributes `[q_i q_j, |x_i - x_j|^2]` of
the input frame, a linear embedding, then `EGNNLayer`s with the velocity update (eq. 7)

    h^0 = W |v| + b,   (h^{l+1}, x^{l+1}) = EGNNLayer(h^l, x^l, v, a)     x_out = x^L

on a fully connected graph, so rotating, reflecting, translating or relabelling the particles
moves the predicted positions the same way, exactly. The last layer's feature update, which
no output depends on, is left out (the reference computes it; 12,416 fewer parameters here).
With `constrained=False` the same widths make the paper's GNN baseline: positions and
velocities as plain node features, messages on `q_i q_j`, a decoder to positions, no
equivariance beyond S_n. `linear_dynamics` is the paper's linear baseline `x + c v` (one learnt
time step).
"""

import keras

from eqzoo.layers.egnn_layer import EGNNLayer
from eqzoo.layers.linear_dynamics import LinearDynamics
from eqzoo.layers.message_passing import MessagePassing
from eqzoo.layers.point_cloud_invariants import PointCloudInvariants
from eqzoo.layers.point_clouds import EuclideanGroup, PointCloudRep
from eqzoo.zoo.arguments import Activation, Boolean, Choice, Integer, Name
from eqzoo.zoo.registry import (
    BYTES_PER_PARAMETER,
    make_preset,
    register_architecture,
    register_presets,
    shipped_weights,
)

REFERENCE = ("Satorras, Hoogeboom & Welling, E(n) Equivariant Graph Neural Networks (ICML 2021), "
             "N-body experiment (section 5.1)")
NBODY_DATASETS = ["nbody_charged"]


def _memory(config):
    """Every weight, counted from the config (the pair tensors are activations, not state)."""
    w, d, depth = config["width"], config["dim"], config["depth"]
    if not config["constrained"]:  # embedding of [x, v], message passing on q_i q_j, decoder
        layer = (2 * w + 1) * w + w + w * w + w + 3 * w * w + 2 * w
        params = 2 * d * w + w + depth * layer + w * w + w + w * d + d
    else:  # embedding of |v|; phi_e on [h_i, h_j, r, q_i q_j, r_0], phi_x, phi_v, phi_h
        layer = (2 * w + 3) * w + w + w * w + w + (w * w + 2 * w) + (w * w + 2 * w + 1)
        params = 2 * w + depth * layer + (depth - 1) * (3 * w * w + 2 * w)
    return BYTES_PER_PARAMETER * params


def _inputs(points, dim):
    return {"positions": keras.Input((points, dim), name="positions"),
            "velocities": keras.Input((points, dim), name="velocities"),
            "charges": keras.Input((points, 1), name="charges")}


@register_architecture("egnn", memory=_memory)
def egnn(*, points: Integer(2, 4096) = 5, dim: Integer(1, 64) = 3, width: Integer(1, 4096) = 64,
         depth: Integer(1, 64) = 4, activation: Activation() = "silu",
         coordinate_aggregation: Choice("mean", "sum") = "mean", normalize: Boolean() = False,
         tanh: Boolean() = False, soft_edges: Boolean() = False, constrained: Boolean() = True,
         name: Name() = "egnn"):
    """EGNN on `{"positions", "velocities", "charges"}` predicting positions; the GNN twin with
    `constrained=False` (`coordinate_aggregation`, `normalize`, `tanh`, `soft_edges` are
    `EGNNLayer`'s and do not apply to it)."""
    inputs = _inputs(points, dim)
    if not constrained:
        return _gnn(inputs, width, depth, activation, dim, name)
    invariants = PointCloudInvariants(name="invariants")(inputs)
    h = keras.layers.Dense(width, name="embedding")(invariants["features"])
    x = inputs["positions"]
    for k in range(depth):
        out = EGNNLayer(width, activation=activation,
                        coordinate_aggregation=coordinate_aggregation, normalize=normalize,
                        tanh=tanh, soft_edges=soft_edges, update_features=k < depth - 1,
                        name=f"egnn{k}")(
            {"features": h, "positions": x, "velocities": inputs["velocities"],
             "edge_attributes": invariants["edge_attributes"]})
        h, x = out["features"], out["positions"]
    return keras.Model(inputs, keras.layers.Identity(name="predicted_positions")(x), name=name)


def _gnn(inputs, width, depth, activation, dim, name):
    # The reference GNN: [x, v] embedded, messages on q_i q_j, decoded to positions.
    nodes = keras.layers.Concatenate(name="coordinates_as_features")(
        [inputs["positions"], inputs["velocities"]])
    h = keras.layers.Dense(width, name="embedding")(nodes)
    charges = PointCloudInvariants(vector_norms=(), squared_distances=False,
                                   name="charge_products")(inputs)["edge_attributes"]
    for k in range(depth):
        h = MessagePassing(width, activation=activation, name=f"gcl{k}")(
            {"features": h, "edge_attributes": charges})
    h = keras.layers.Dense(width, activation=activation, name="decoder_hidden")(h)
    return keras.Model(inputs, keras.layers.Dense(dim, name="decoder")(h), name=name)


@register_architecture("linear_dynamics", memory=lambda config: BYTES_PER_PARAMETER)
def linear_dynamics(*, points: Integer(2, 4096) = 5, dim: Integer(1, 64) = 3,
                    name: Name() = "linear_dynamics"):
    """`x + c v` on `{"positions", "velocities", "charges"}` (charges unused)."""
    inputs = _inputs(points, dim)
    return keras.Model(inputs, LinearDynamics(name="linear_dynamics")(inputs), name=name)


def equivariance(points=5, dim=3):
    """N-body inputs and predicted positions under E(d) x S_n."""
    group = EuclideanGroup(dim, points)
    return (PointCloudRep(group, {"positions": "position", "velocities": "vector",
                                  "charges": ("scalar", 1)}), PointCloudRep(group, "position"))


PRESETS = {
    "egnn_nbody": make_preset(
        architecture="egnn",
        description="EGNN for the charged 5-body system: 4 layers of 64 features, velocity "
                    "update, node feature |v|, edge attributes [q_i q_j, |x_i - x_j|^2]",
        config={"width": 64, "depth": 4}, params=121_604, task="regression",
        datasets=NBODY_DATASETS, reference=REFERENCE, twin="gnn_nbody",
        constraint="equivariant", equivariance=equivariance(),
        # The final weights of 150 epochs with the paper's optimiser settings (Adam 5e-4, batch
        # 100; benchmarks/results/nbody.md): the test split alone reproduces the metrics.
        weights=shipped_weights(
            preset="egnn_nbody", dataset="nbody_charged",
            sha256="d220a7f8debe58ad07692822749b0a8b283c21e3c62af67748fb2d9e381c0d70",
            test_metrics={"test/loss": 0.008862, "test/mae": 0.042128},
            weights_digest="5a772aa4d598c2c696fc48ff0fb9d7e19305dc84f4ef0e0ce5e215e2b949e951",
            train_flags="--epochs 150 --batch-size 100 --lr 5e-4",
            test_options={"num_train": 1, "num_validation": 1})),
    "gnn_nbody": make_preset(
        architecture="egnn",
        description="The EGNN paper's GNN baseline: 4 message-passing layers of 64 features on "
                    "[x, v] and q_i q_j, decoded to positions",
        config={"width": 64, "depth": 4, "constrained": False}, params=104_387, task="regression",
        datasets=NBODY_DATASETS, reference=REFERENCE, twin="egnn_nbody", constraint=None),
    "linear_nbody": make_preset(
        architecture="linear_dynamics",
        description="The EGNN paper's linear baseline: x + c v with one learnt c",
        config={}, params=1, task="regression", datasets=NBODY_DATASETS,
        reference=REFERENCE, twin="egnn_nbody", constraint=None),
}

register_presets(PRESETS)
