"""What the message-passing layers share: named inputs, edge weights from masks and adjacency,
pair broadcasting, and small MLPs built as named Dense stacks (keras.ops only)."""

import keras
from keras import ops

OPTIONAL_INPUTS = ("velocities", "mask", "edge_attributes", "adjacency")
# PyTorch's default for nn.Linear, U(+-1 / sqrt(fan_in)), which the EGNN reference code trains
# with: Glorot's wider spread compounds through the residual stack into outputs ~10x larger.
KERNEL_INITIALIZER = keras.initializers.VarianceScaling(1 / 3, mode="fan_in",
                                                        distribution="uniform")


def check_inputs(owner, inputs, required):
    """`inputs` is a dict holding every `required` name and no unknown one."""
    if not isinstance(inputs, dict):
        raise TypeError(f"{owner} takes a dict of named tensors with keys {list(required)} (and "
                        f"optionally {list(OPTIONAL_INPUTS)}). Received: {type(inputs).__name__}")
    missing = [key for key in required if key not in inputs]
    unknown = sorted(set(inputs) - set(required) - set(OPTIONAL_INPUTS))
    if missing or unknown:
        raise ValueError(f"{owner} takes inputs {list(required)} and optionally "
                         f"{list(OPTIONAL_INPUTS)}. Received keys {sorted(inputs)}: missing "
                         f"{missing}, unknown {unknown}.")


def edge_weights(inputs, n, dtype):
    """`w_ij` of shape `(batch, n, n, 1)`: 1 for an edge i <- j, 0 for none (no self-loops),
    none to or from a masked point; the graph is fully connected unless `adjacency` is given."""
    w = 1.0 - ops.eye(n, dtype=dtype)[None]
    if inputs.get("adjacency") is not None:
        w = w * ops.cast(inputs["adjacency"], dtype)
    if inputs.get("mask") is not None:
        mask = ops.cast(inputs["mask"], dtype)
        w = w * mask[:, :, None] * mask[:, None, :]
    return w[..., None]


def node_mask(inputs, dtype):
    """`(batch, n, 1)`: 1 for real points, 0 for padding (all ones without a mask)."""
    if inputs.get("mask") is None:
        return None
    return ops.cast(inputs["mask"], dtype)[..., None]


def pairs(h):
    """`(batch, n, f)` -> `h_i` and `h_j` broadcast to `(batch, n, n, f)` (i receives from j)."""
    n = ops.shape(h)[1]
    return (ops.repeat(h[:, :, None, :], n, axis=2), ops.repeat(h[:, None, :, :], n, axis=1))


def aggregate(values, weights, how):
    """`sum_j w_ij values_ij` over senders j, or their mean over each receiver's neighbours."""
    total = ops.sum(values * weights, axis=2)
    if how == "sum":
        return total
    return total / ops.maximum(ops.sum(weights, axis=2), 1.0)


def mlp(prefix, widths, activation, dtype, last_activation=None,
        last_initializer=KERNEL_INITIALIZER, last_bias=True):
    """Named Dense layers `prefix_0 .. prefix_k` with the owner's dtype policy `dtype`; the
    activation between them."""
    layers = []
    for k, width in enumerate(widths):
        last = k == len(widths) - 1
        layers.append(keras.layers.Dense(
            width, activation=last_activation if last else activation,
            kernel_initializer=last_initializer if last else KERNEL_INITIALIZER,
            use_bias=last_bias if last else True, dtype=dtype, name=f"{prefix}_{k}"))
    return layers


def build_mlp(layers, width_in):
    for layer in layers:
        layer.build((None, width_in))
        width_in = layer.units


def edge_mlp(layers, h, pair_inputs):
    """`layers` applied to `[h_i, h_j, *pair_inputs]` on every pair, without building that
    `(batch, n, n, 2f + ...)` concatenation: the first layer's kernel is split by rows, so
    `h_i W_i` and `h_j W_j` are computed once per node and broadcast over the pairs (the same
    sums, n times fewer products)."""
    first = layers[0]
    kernel = ops.cast(first.kernel, h.dtype)
    f = ops.shape(h)[-1]
    pre = (ops.matmul(h, kernel[:f])[:, :, None, :] + ops.matmul(h, kernel[f:2 * f])[:, None])
    offset = 2 * f
    for values in pair_inputs:
        width = values.shape[-1]
        pre = pre + ops.matmul(values, kernel[offset:offset + width])
        offset += width
    if first.use_bias:
        pre = pre + ops.cast(first.bias, h.dtype)
    return run_mlp(layers[1:], first.activation(pre))


def run_mlp(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def widths(owner, input_shape, units, residual):
    """`(f, e, units)` of a message-passing layer: the widths of its `features` and (0 when
    absent) `edge_attributes`, and of its messages, `units` or `f`; a residual connection needs
    them equal."""
    f = last_axis(owner, "features", input_shape["features"], 3)
    e = (last_axis(owner, "edge_attributes", input_shape["edge_attributes"], 4)
         if input_shape.get("edge_attributes") is not None else 0)
    units = units or f
    if residual and units != f:
        raise ValueError(f"{owner}: the residual connection needs units equal to the input's "
                         f"feature width. Received: units={units}, features of width {f}; "
                         "pass residual=False or units=None.")
    return f, e, units


def last_axis(owner, name, shape, expected_rank):
    if shape is None or len(shape) != expected_rank or shape[-1] is None:
        raise ValueError(f"{owner}: input {name!r} must have rank {expected_rank} with a known "
                         f"last axis. Received: shape={shape}")
    return int(shape[-1])
