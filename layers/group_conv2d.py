"""GroupConv2D: p4 / p4m group convolution (Cohen & Welling 2016), one plain conv of its bank."""

import keras
import numpy as np
from keras import ops

from eqzoo.layers._validation import check_choice, check_units
from eqzoo.layers.plane_groups import point_group


@keras.saving.register_keras_serializable(package="eqzoo")
class GroupConv2D(keras.layers.Layer):
    """Group convolution on p4 or p4m: `F'(u, h) = sum_{v, h'} F(v, h') psi(h^-1 (v - u), h^-1 h')`.

    Each of the `filters` filters `psi` is stored once; the layer builds the full bank, one copy
    of every filter per orientation `h` of the point group (C_4 for "p4", D_4 for "p4m"),
    transformed by np.rot90 and np.flip (spatially, and on the input's orientation axis by the
    regular representation), and runs it as the backend's own `ops.conv`. The bank is a gather of
    the stored weights through an index map built once, so rotated filters are the same numbers
    and `F_out(g x) = g F_out(x)` holds up to float rounding of the sums. With `lifting=True` the
    input is a planar image (`F(v)`, no orientation axis: the first layer of a G-CNN).

    Layout (`layers.representations.ImageRegularRep`): `(batch, h, w, |G| * c)`, channel
    `j * c + i` is orientation `j` of channel `i`, so a reshape to `(batch, h, w, |G|, c)`
    separates them. The bias, one per filter, is shared by its orientations.

    Equivariance-preserving options only: padding "same" needs an odd (dilated) kernel size, or
    the output grid sits half a pixel off the input's centre; strides > 1 need padding "valid"
    and a known input size with `(size - kernel) % strides == 0`, so that the sampled grid is
    symmetric about the centre; strides and dilation do not combine (nor do they in `Conv2D`).
    Anything else is refused when the layer is made or built.

    Args:
        filters: output channels per orientation (the output has `|G| * filters`).
        kernel_size: the square filter's side, an int.
        group: "p4" (rotations by 90 degrees) or "p4m" (and mirror flips).
        lifting: True for a planar input `(batch, h, w, c)`; False for a `(batch, h, w, |G| * c)`
            feature map of the same group.
        strides, dilation_rate: ints, see above.
        padding: "same" or "valid".
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer: as for `keras.layers.Conv2D`.

    Input shape: `(batch, h, w, c)` (lifting) or `(batch, h, w, |G| * c)`.
    Output shape: `(batch, h', w', |G| * filters)`.

    Example:

    >>> x = np.random.default_rng(0).normal(size=(2, 9, 9, 1)).astype("float32")
    >>> lift = GroupConv2D(4, 3, group="p4", lifting=True)
    >>> tuple(GroupConv2D(4, 3, group="p4")(lift(x)).shape)
    (2, 9, 9, 16)
    """

    def __init__(self, filters, kernel_size, group="p4", lifting=False, strides=1,
                 padding="same", dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        owner = "GroupConv2D"
        self.filters = check_units(owner, filters, allow_none=False, argument="filters")
        self.kernel_size = _square(owner, "kernel_size", kernel_size)
        self.strides = _square(owner, "strides", strides)
        self.dilation_rate = _square(owner, "dilation_rate", dilation_rate)
        self.padding = check_choice(owner, "padding", padding, ("same", "valid"))
        self.point_group = point_group(group, owner="group")
        self.group = group
        if not isinstance(lifting, bool):
            raise ValueError(f"Invalid value for argument `lifting` of {owner}: expected True or "
                             f"False. Received: lifting={lifting!r}")
        self.lifting = lifting
        extent = self.dilation_rate * (self.kernel_size - 1) + 1
        if self.padding == "same" and extent % 2 == 0:
            raise ValueError(
                f"{owner} with padding='same' needs an odd kernel extent, so that the filter "
                "has a centre pixel to rotate about (an even one shifts the output half a pixel "
                f"and breaks equivariance). Received: kernel_size={self.kernel_size}, "
                f"dilation_rate={self.dilation_rate}; use an odd kernel_size or padding='valid'.")
        if self.strides > 1 and self.padding != "valid":
            raise ValueError(
                f"{owner} keeps equivariance with strides > 1 only for padding='valid' (the "
                "'same' padding of a strided conv is lopsided). Received: "
                f"strides={self.strides}, padding={self.padding!r}")
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(f"{owner} takes strides or dilation_rate above 1, not both. "
                             f"Received: strides={self.strides}, "
                             f"dilation_rate={self.dilation_rate}")
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    @property
    def orientations(self):
        """|G|: 4 for p4, 8 for p4m."""
        return self.point_group.order

    def build(self, input_shape):
        channels = input_shape[-1]
        n = self.orientations
        if channels is None:
            raise ValueError("GroupConv2D needs a known number of input channels. Received: "
                             f"input shape {tuple(input_shape)}")
        if not self.lifting and channels % n:
            raise ValueError(
                f"GroupConv2D(group={self.group!r}) takes a feature map with |G| * c = {n} * c "
                f"channels. Received: input shape {tuple(input_shape)} ({channels} channels); "
                "for a planar image pass lifting=True.")
        self._check_strided_size(input_shape)
        k = self.kernel_size
        self.input_channels = channels if self.lifting else channels // n
        shape = (k, k, self.input_channels, self.filters) if self.lifting else (
            k, k, n, self.input_channels, self.filters)
        self.kernel = self.add_weight(name="kernel", shape=shape,
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None
        self._bank_index = self._filter_bank_index(shape)

    def _check_strided_size(self, input_shape):
        if self.strides == 1:
            return
        sizes = tuple(input_shape[1:3])
        if any(s is None for s in sizes) or any((s - self.kernel_size) % self.strides
                                                for s in sizes):
            raise ValueError(
                f"GroupConv2D with strides={self.strides} keeps equivariance only when "
                "(size - kernel_size) % strides == 0 on a known input size, so that the sampled "
                f"grid is centred. Received: input shape {tuple(input_shape)}, "
                f"kernel_size={self.kernel_size}")

    def _filter_bank_index(self, shape):
        """Where each entry of the full bank `(k, k, C_in, |G| * filters)` is read from the stored
        kernel: orientation h's filters are the stored ones moved by h, `psi(h^-1 w, h^-1 h')`."""
        stored = np.arange(int(np.prod(shape))).reshape(shape)
        bank = []
        for h in range(self.orientations):
            moved = self.point_group.transform(stored, h)
            if not self.lifting:
                moved = moved[:, :, self.point_group.orientation_permutation(h)]
            bank.append(moved.reshape(self.kernel_size, self.kernel_size, -1, self.filters))
        return np.concatenate(bank, axis=-1).astype("int32")

    def filter_bank(self):
        """The expanded kernel `(k, k, C_in, |G| * filters)` that `ops.conv` runs."""
        kernel = ops.reshape(ops.cast(self.kernel, self.compute_dtype), (-1,))
        return ops.take(kernel, self._bank_index)

    def tiled_bias(self):
        """The bias of every output channel: each filter's one bias, repeated per orientation."""
        return ops.tile(ops.cast(self.bias, self.compute_dtype), (self.orientations,))

    def call(self, inputs):
        outputs = ops.conv(inputs, self.filter_bank(), strides=self.strides, padding=self.padding,
                           dilation_rate=self.dilation_rate, data_format="channels_last")
        if self.use_bias:
            outputs = outputs + self.tiled_bias()
        return self.activation(outputs) if self.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        extent = self.dilation_rate * (self.kernel_size - 1) + 1

        def size(n):
            if n is None:
                return None
            return -(-n // self.strides) if self.padding == "same" else (
                (n - extent) // self.strides + 1)

        return (input_shape[0], size(input_shape[1]), size(input_shape[2]),
                self.orientations * self.filters)

    def to_conv2d(self):
        """A plain, built `keras.layers.Conv2D` holding the full filter bank and tiled bias."""
        if not self.built:
            raise ValueError(f"GroupConv2D '{self.name}' is not built yet, so it has no filter "
                             "bank. Call it on an input (or call `build(input_shape)`) first.")
        conv = keras.layers.Conv2D(
            self.orientations * self.filters, self.kernel_size, strides=self.strides,
            padding=self.padding, dilation_rate=self.dilation_rate, activation=self.activation,
            use_bias=self.use_bias, name=self.name, dtype=self.dtype_policy)
        in_channels = self.input_channels * (1 if self.lifting else self.orientations)
        conv.build((None, None, None, in_channels))
        weights = [np.take(ops.convert_to_numpy(self.kernel).ravel(), self._bank_index)]
        if self.use_bias:
            weights.append(np.tile(ops.convert_to_numpy(self.bias), self.orientations))
        conv.set_weights(weights)
        return conv

    def get_config(self):
        config = {
            "filters": self.filters, "kernel_size": self.kernel_size, "group": self.group,
            "lifting": self.lifting, "strides": self.strides, "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
        return {**super().get_config(), **config}


def _square(owner, argument, value):
    """A positive int, or a pair of two equal ones (a non-square filter has no rotation centre)."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    if isinstance(value, (tuple, list)):
        raise ValueError(f"Invalid value for argument `{argument}` of {owner}: expected one "
                         "positive integer (the same on both axes, or a quarter turn would not "
                         f"map the filter to itself). Received: {argument}={tuple(value)!r}")
    return check_units(owner, value, allow_none=False, argument=argument)
