"""EGNNLayer: the E(n)-equivariant graph convolution of Satorras, Hoogeboom & Welling, ICML 2021."""

import keras
from keras import ops

from eqzoo.layers import _graphs
from eqzoo.layers._validation import check_choice, check_units

REQUIRED = ("features", "positions")
# phi_x's last layer starts near zero (Glorot uniform with gain 0.001, as the reference code), so
# a fresh network barely moves the points.
_SMALL = keras.initializers.VarianceScaling(1e-6, mode="fan_avg", distribution="uniform")


@keras.saving.register_keras_serializable(package="eqzoo")
class EGNNLayer(keras.layers.Layer):
    """E(n)-equivariant graph convolution on named point-cloud tensors (eqs. 3-7 of the paper).

    `m_ij = phi_e(h_i, h_j, |x_i - x_j|^2, a_ij)` on every edge i <- j;
    `x_i' = x_i + C sum_j (x_i - x_j) phi_x(m_ij)`, C = 1 / #neighbours (`coordinate_aggregation=
    "mean"`, the reference code's choice, 1/(n-1) on a full graph) or 1 ("sum");
    `h_i' = h_i + phi_h(h_i, sum_j m_ij)`. With velocities (eq. 7):
    `v_i' = phi_v(h_i) v_i + C sum_j (x_i - x_j) phi_x(m_ij)`, `x_i' = x_i + v_i'`.
    Rotating, reflecting or translating the positions (velocities: rotating, reflecting) moves
    `x'` and `v'` the same way and leaves `h'` unchanged; permuting the points permutes all three.

    Args:
        units: width of `h'` and of the messages; None keeps the input's feature width (needed
            for the residual connection).
        activation: of every MLP's hidden layer (SiLU as in the reference code).
        aggregation: "sum" (eq. 5) or "mean" of the messages into `h'`.
        coordinate_aggregation: "mean" (C = 1 / neighbours) or "sum" (C = 1).
        normalize: divide `x_i - x_j` by `|x_i - x_j| + 1` (the reference code's `norm_diff`).
        tanh: bound `phi_x` by a tanh (the reference code's option for stability).
        soft_edges: weigh each message by `e_ij = sigmoid(phi_inf(m_ij))` (section 3.3).
        residual: `h' = h + phi_h(...)`; needs `units` equal to the input's feature width.
        clip: bound on the norm of each term `(x_i - x_j) phi_x(m_ij)`. The reference code
            clamps each component at 100, which a rotation does not commute with; bounding
            the norm does, and is the same while inactive (the reference notes it never acts).
        update_features: compute `h'`; False returns `h` unchanged and skips `phi_h` (the last
            layer of a network that outputs positions only, whose `phi_h` would get no
            gradient).

    Inputs: a dict with `features` `(batch, n, f)`, `positions` `(batch, n, d)` and optionally
    `velocities` `(batch, n, d)`, `mask` `(batch, n)` (1 real point, 0 padding: padding sends and
    receives nothing and does not move), `edge_attributes` `(batch, n, n, e)`, `adjacency`
    `(batch, n, n)` (default: fully connected, no self-loops). Any d.

    Output: a dict with `features` `(batch, n, units)`, `positions` `(batch, n, d)`, and
    `velocities` `(batch, n, d)` when they were given.

    Example:

    >>> layer = EGNNLayer(units=8)
    >>> out = layer({"features": np.ones((2, 5, 8), "float32"),
    ...              "positions": np.random.randn(2, 5, 3).astype("float32")})
    >>> tuple(out["features"].shape), tuple(out["positions"].shape)
    ((2, 5, 8), (2, 5, 3))
    """

    def __init__(self, units=None, activation="silu", aggregation="sum",
                 coordinate_aggregation="mean", normalize=False, tanh=False, soft_edges=False,
                 residual=True, clip=100.0, update_features=True, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.units = check_units(owner, units)
        self.activation = keras.activations.get(activation)
        self.aggregation = check_choice(owner, "aggregation", aggregation, ("sum", "mean"))
        self.coordinate_aggregation = check_choice(owner, "coordinate_aggregation",
                                                   coordinate_aggregation, ("sum", "mean"))
        self.normalize, self.tanh = bool(normalize), bool(tanh)
        self.soft_edges, self.residual = bool(soft_edges), bool(residual)
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0:
            raise ValueError(f"Invalid value for argument `clip` of {owner}: expected a positive "
                             f"number. Received: clip={clip!r}")
        self.clip = float(clip)
        self.update_features = bool(update_features)

    def build(self, input_shape):
        owner = type(self).__name__
        _graphs.check_inputs(owner, input_shape, REQUIRED)
        f, e, units = _graphs.widths(owner, input_shape, self.units, self.residual)
        _graphs.last_axis(owner, "positions", input_shape["positions"], 3)
        act, policy = self.activation, self.dtype_policy
        self.phi_e = _graphs.mlp("phi_e", [units, units], act, policy, last_activation=act)
        self.phi_x = _graphs.mlp("phi_x", [units, 1], act, policy, last_initializer=_SMALL,
                                 last_bias=False, last_activation="tanh" if self.tanh else None)
        _graphs.build_mlp(self.phi_e, 2 * f + 1 + e)
        _graphs.build_mlp(self.phi_x, units)
        if self.update_features:
            self.phi_h = _graphs.mlp("phi_h", [units, units], act, policy)
            _graphs.build_mlp(self.phi_h, f + units)
        if self.soft_edges:
            self.phi_inf = _graphs.mlp("phi_inf", [1], act, policy, last_activation="sigmoid")
            _graphs.build_mlp(self.phi_inf, units)
        if input_shape.get("velocities") is not None:
            self.phi_v = _graphs.mlp("phi_v", [units, 1], act, policy)
            _graphs.build_mlp(self.phi_v, f)

    def call(self, inputs):
        _graphs.check_inputs(type(self).__name__, inputs, REQUIRED)
        h, x = inputs["features"], inputs["positions"]
        n = ops.shape(x)[1]
        weights = _graphs.edge_weights(inputs, n, x.dtype)
        diff = x[:, :, None, :] - x[:, None, :, :]                      # x_i - x_j
        radial = ops.sum(ops.square(diff), axis=-1, keepdims=True)
        edge_in = [radial]
        if inputs.get("edge_attributes") is not None:
            edge_in.append(ops.cast(inputs["edge_attributes"], x.dtype))
        m = _graphs.edge_mlp(self.phi_e, h, edge_in)
        if self.soft_edges:
            m = m * _graphs.run_mlp(self.phi_inf, m)
        if self.normalize:  # the small shift keeps the gradient finite where x_i = x_j
            diff = diff / (ops.sqrt(radial + 1e-30) + 1.0)
        trans = diff * _graphs.run_mlp(self.phi_x, m)
        norm = ops.sqrt(ops.sum(ops.square(trans), axis=-1, keepdims=True) + 1e-30)
        trans = trans * ops.minimum(1.0, self.clip / norm)
        shift = _graphs.aggregate(trans, weights, self.coordinate_aggregation)
        if self.update_features:
            h_new = _graphs.run_mlp(self.phi_h, ops.concatenate(
                [h, _graphs.aggregate(m, weights, self.aggregation)], axis=-1))
            h_new = h + h_new if self.residual else h_new
        else:
            h_new = h
        mask = _graphs.node_mask(inputs, x.dtype)
        outputs = {}
        if inputs.get("velocities") is not None:
            v = inputs["velocities"]
            shift = _graphs.run_mlp(self.phi_v, h) * v + shift
            outputs["velocities"] = shift if mask is None else shift * mask + v * (1.0 - mask)
        if mask is not None:  # padding keeps its features and does not move
            if self.update_features:
                h_new = h_new * mask + h * (1.0 - mask) if self.residual else h_new * mask
            shift = shift * mask
        outputs.update(features=h_new, positions=x + shift)
        return outputs

    def compute_output_shape(self, input_shape):
        features = tuple(input_shape["features"])
        units = (self.units or features[-1]) if self.update_features else features[-1]
        shapes = {"features": features[:-1] + (units,),
                  "positions": tuple(input_shape["positions"])}
        if input_shape.get("velocities") is not None:
            shapes["velocities"] = tuple(input_shape["velocities"])
        return shapes

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "aggregation": self.aggregation,
            "coordinate_aggregation": self.coordinate_aggregation,
            "normalize": self.normalize,
            "tanh": self.tanh,
            "soft_edges": self.soft_edges,
            "residual": self.residual,
            "clip": self.clip,
            "update_features": self.update_features,
        }
