"""MessagePassing: a plain graph convolution (Gilmer et al. 2017), the EGNN paper's GNN baseline."""

import keras
from keras import ops

from eqzoo.layers import _graphs
from eqzoo.layers._validation import check_choice, check_units

REQUIRED = ("features",)


@keras.saving.register_keras_serializable(package="eqzoo")
class MessagePassing(keras.layers.Layer):
    """Message passing on named node tensors: no coordinates, no equivariance beyond S_n.

    `m_ij = phi_e(h_i, h_j, a_ij)`, `h_i' = h_i + phi_h(h_i, sum_j m_ij)`: the GCL of the EGNN
    reference code, which its GNN baseline stacks with coordinates fed in as plain features.
    Permuting the points permutes `h'`; nothing else is guaranteed.

    Args:
        units: width of `h'` and of the messages; None keeps the input's feature width.
        activation: of every MLP's hidden layer.
        aggregation: "sum" or "mean" of the messages.
        residual: `h' = h + phi_h(...)`; needs `units` equal to the input's feature width.

    Inputs: a dict with `features` `(batch, n, f)` and optionally `mask` `(batch, n)`,
    `edge_attributes` `(batch, n, n, e)`, `adjacency` `(batch, n, n)` (default: fully
    connected, no self-loops). Other keys (positions, velocities) are refused.

    Output shape: `(batch, n, units)`.

    Example:

    >>> layer = MessagePassing(units=8)
    >>> tuple(layer({"features": np.ones((2, 5, 8), "float32")}).shape)
    (2, 5, 8)
    """

    def __init__(self, units=None, activation="silu", aggregation="sum", residual=True,
                 **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.units = check_units(owner, units)
        self.activation = keras.activations.get(activation)
        self.aggregation = check_choice(owner, "aggregation", aggregation, ("sum", "mean"))
        self.residual = bool(residual)

    def build(self, input_shape):
        owner = type(self).__name__
        self._check(input_shape)
        f, e, units = _graphs.widths(owner, input_shape, self.units, self.residual)
        self.phi_e = _graphs.mlp("phi_e", [units, units], self.activation, self.dtype_policy,
                                 last_activation=self.activation)
        self.phi_h = _graphs.mlp("phi_h", [units, units], self.activation, self.dtype_policy)
        _graphs.build_mlp(self.phi_e, 2 * f + e)
        _graphs.build_mlp(self.phi_h, f + units)

    def call(self, inputs):
        self._check(inputs)
        h = inputs["features"]
        weights = _graphs.edge_weights(inputs, ops.shape(h)[1], h.dtype)
        edge_in = []
        if inputs.get("edge_attributes") is not None:
            edge_in.append(ops.cast(inputs["edge_attributes"], h.dtype))
        m = _graphs.edge_mlp(self.phi_e, h, edge_in)
        out = _graphs.run_mlp(self.phi_h, ops.concatenate(
            [h, _graphs.aggregate(m, weights, self.aggregation)], axis=-1))
        out = h + out if self.residual else out
        mask = _graphs.node_mask(inputs, h.dtype)
        if mask is not None:
            out = out * mask + h * (1.0 - mask) if self.residual else out * mask
        return out

    def _check(self, inputs):
        _graphs.check_inputs(type(self).__name__, inputs, REQUIRED)
        for key in ("positions", "velocities"):
            if key in inputs:
                raise ValueError(f"{type(self).__name__} has no coordinates: feed {key!r} in as "
                                 "features (or use EGNNLayer). Received keys "
                                 f"{sorted(inputs)}.")

    def compute_output_shape(self, input_shape):
        features = tuple(input_shape["features"])
        return features[:-1] + (self.units or features[-1],)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "aggregation": self.aggregation,
            "residual": self.residual,
        }
