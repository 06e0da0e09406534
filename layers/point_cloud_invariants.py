"""PointCloudInvariants: E(n)-invariant node and edge inputs of a point cloud (norms, products,
squared distances), the features EGNN's N-body model starts from."""

import keras
from keras import ops

from eqzoo.layers import _graphs


@keras.saving.register_keras_serializable(package="eqzoo")
class PointCloudInvariants(keras.layers.Layer):
    """Node features `|v_i|` and edge attributes `[q_i q_j, |x_i - x_j|^2]` from named inputs.

    Node features are the norms of the `vector_norms` inputs (e.g. velocities), one channel each;
    edge attributes are the products `s_i s_j` of each channel of the `products` inputs (e.g.
    charges) and, with `squared_distances`, `|x_i - x_j|^2` of the `positions`. Each is invariant
    under rotations, reflections and translations and moves with a permutation of the points.

    Args:
        vector_norms: names of `(batch, n, d)` inputs whose norms become node features.
        products: names of `(batch, n, c)` inputs whose pairwise products become edge attributes.
        squared_distances: add `|x_i - x_j|^2` of `positions` as the last edge attribute.

    Inputs: a dict holding those names (and `positions` for the distances); other keys pass
    unused. Output: a dict with `features` `(batch, n, len(vector_norms))` (when any) and
    `edge_attributes` `(batch, n, n, e)` (when any).

    Example:

    >>> layer = PointCloudInvariants()
    >>> out = layer({"positions": np.zeros((2, 5, 3), "float32"),
    ...              "velocities": np.ones((2, 5, 3), "float32"),
    ...              "charges": np.ones((2, 5, 1), "float32")})
    >>> tuple(out["features"].shape), tuple(out["edge_attributes"].shape)
    ((2, 5, 1), (2, 5, 5, 2))
    """

    def __init__(self, vector_norms=("velocities",), products=("charges",),
                 squared_distances=True, **kwargs):
        super().__init__(**kwargs)
        self.vector_norms = tuple(vector_norms)
        self.products = tuple(products)
        self.squared_distances = bool(squared_distances)
        if not (self.vector_norms or self.products or self.squared_distances):
            raise ValueError("PointCloudInvariants computes nothing: give vector_norms, products "
                             "or squared_distances=True. Received: vector_norms=(), products=(), "
                             "squared_distances=False")

    def _needed(self):
        return (*self.vector_norms, *self.products,
                *(("positions",) if self.squared_distances else ()))

    def build(self, input_shape):
        missing = [key for key in self._needed() if key not in input_shape]
        if not isinstance(input_shape, dict) or missing:
            raise ValueError(f"PointCloudInvariants needs inputs {list(self._needed())}. "
                             f"Received: {input_shape!r}")

    def call(self, inputs):
        outputs = {}
        if self.vector_norms:
            outputs["features"] = ops.concatenate(
                [ops.sqrt(ops.sum(ops.square(inputs[k]), axis=-1, keepdims=True))
                 for k in self.vector_norms], axis=-1)
        edges = []
        for key in self.products:
            s_i, s_j = _graphs.pairs(inputs[key])
            edges.append(s_i * s_j)
        if self.squared_distances:
            x = inputs["positions"]
            edges.append(ops.sum(ops.square(x[:, :, None, :] - x[:, None, :, :]), axis=-1,
                                 keepdims=True))
        if edges:
            outputs["edge_attributes"] = ops.concatenate(edges, axis=-1)
        return outputs

    def compute_output_shape(self, input_shape):
        key = (self.vector_norms + self.products + ("positions",))[0]
        batch, n = tuple(input_shape[key])[:2]
        shapes = {}
        if self.vector_norms:
            shapes["features"] = (batch, n, len(self.vector_norms))
        channels = sum(int(input_shape[k][-1]) for k in self.products) + self.squared_distances
        if channels:
            shapes["edge_attributes"] = (batch, n, n, channels)
        return shapes

    def get_config(self):
        return {**super().get_config(), "vector_norms": list(self.vector_norms),
                "products": list(self.products), "squared_distances": self.squared_distances}
