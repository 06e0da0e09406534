"""GroupPooling: max or mean over the orientations of a p4 / p4m feature map (invariant maps)."""

import keras
from keras import ops

from eqzoo.layers._validation import check_choice
from eqzoo.layers.plane_groups import point_group


@keras.saving.register_keras_serializable(package="eqzoo")
class GroupPooling(keras.layers.Layer):
    """Pools a G-CNN feature map over its orientations: `F(u) = reduce_h F(u, h)`.

    The result is a planar map that moves with the input only by the pixel permutation, `F(g x)
    = g F(x)` as an `ImageRep` (rotated or flipped, no orientation left to shift): what a
    planar head or a plain `GlobalMaxPooling2D` can take invariantly.

    Args:
        group: "p4" or "p4m", the group of the incoming feature map.
        reduce: "max" or "mean" over the `|G|` orientations.

    Input shape: `(batch, h, w, |G| * c)`, orientation-major (see `GroupConv2D`).
    Output shape: `(batch, h, w, c)`.

    Example:

    >>> tuple(GroupPooling("p4m")(np.zeros((2, 5, 5, 16), "float32")).shape)
    (2, 5, 5, 2)
    """

    def __init__(self, group="p4", reduce="max", **kwargs):
        super().__init__(**kwargs)
        self.point_group = point_group(group, owner="group")
        self.group = group
        self.reduce = check_choice("GroupPooling", "reduce", reduce, ("max", "mean"))
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        self.channels = orientation_channels(self, input_shape)

    def call(self, inputs):
        stacked = ops.stack(ops.split(inputs, self.point_group.order, axis=-1), axis=-1)
        return ops.max(stacked, axis=-1) if self.reduce == "max" else ops.mean(stacked, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (orientation_channels(self, input_shape),)

    def get_config(self):
        return {**super().get_config(), "group": self.group, "reduce": self.reduce}


def orientation_channels(layer, input_shape):
    """c of a `(batch, h, w, |G| * c)` input; refuses a channel count that |G| does not divide."""
    channels, n = input_shape[-1], layer.point_group.order
    if channels is None or channels % n:
        raise ValueError(
            f"{type(layer).__name__}(group={layer.group!r}) takes a feature map with |G| * c = "
            f"{n} * c channels. Received: input shape {tuple(input_shape)}")
    return channels // n
