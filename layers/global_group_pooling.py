"""GlobalGroupPooling: max or mean over pixels and orientations, invariant features of a G-CNN."""

import keras
from keras import ops

from eqzoo.layers._validation import check_choice
from eqzoo.layers.group_pooling import orientation_channels
from eqzoo.layers.plane_groups import point_group


@keras.saving.register_keras_serializable(package="eqzoo")
class GlobalGroupPooling(keras.layers.Layer):
    """Invariant global pooling of a p4 / p4m feature map: `z_i = reduce_{u, h} F(u, h, i)`.

    Translations, rotations (and for p4m flips) of the input permute the pixels and orientations
    that are reduced over, so `z(g x) = z(x)`: a `TrivialRep` of `c` features for a head.

    Args:
        group: "p4" or "p4m", the group of the incoming feature map.
        reduce: "max" or "mean".

    Input shape: `(batch, h, w, |G| * c)`, orientation-major (see `GroupConv2D`).
    Output shape: `(batch, c)`.

    Example:

    >>> tuple(GlobalGroupPooling("p4")(np.zeros((2, 5, 5, 12), "float32")).shape)
    (2, 3)
    """

    def __init__(self, group="p4", reduce="max", **kwargs):
        super().__init__(**kwargs)
        self.point_group = point_group(group, owner="group")
        self.group = group
        self.reduce = check_choice("GlobalGroupPooling", "reduce", reduce, ("max", "mean"))
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        self.channels = orientation_channels(self, input_shape)

    def call(self, inputs):
        reduce = ops.max if self.reduce == "max" else ops.mean
        per_orientation = ops.reshape(reduce(inputs, axis=(1, 2)),
                                      (-1, self.point_group.order, self.channels))
        return reduce(per_orientation, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], orientation_channels(self, input_shape))

    def get_config(self):
        return {**super().get_config(), "group": self.group, "reduce": self.reduce}
