"""DenseTranspose: a dense layer that reuses another layer's kernel, transposed (tied weights)."""

import math

import keras
from keras import ops
from keras.src.backend.common import global_state


@keras.saving.register_keras_serializable(package="eqzoo")
class DenseTranspose(keras.layers.Layer):
    """Dense layer tied to another layer's kernel: `y = activation(x @ W_source^T + b)`.

    The decoder half of a tied autoencoder: `W_source` is the kernel of `source` (a
    `keras.layers.Dense`, a `SymmetricDense` or any `StructuredDense`, or any layer with a 2-D
    `kernel`), read afresh on every call, so both layers train one and the same variable. For a
    structured source the gradient flows through its assembly into its stored values. This layer
    owns only its bias.

    The tie survives `.keras` saving: the source is tracked as a sublayer and serialized inside
    this layer's config with Keras' shared-object mark, so after `keras.saving.load_model` the
    loaded decoder's `source` *is* the loaded encoder and the weights file holds its kernel
    once. This holds across nested submodels too (the textbook tied autoencoder stacks an
    encoder `Sequential` and a decoder `Sequential`), where Keras 3 on its own loses a shared
    layer. `.weights.h5` files load into an already tied model.
    Plain `Model.from_config(model.get_config())` (and so `keras.models.clone_model`) runs
    without that sharing and gives the decoder its own copy of the source.

    Because the source is a sublayer, `weights` of this layer include the source's variables
    (its kernel, and a bias this layer does not use); a model holding both layers lists each
    variable once. `count_params()`, and so this layer's row of `model.summary()`, counts only
    what the layer owns, its bias: the tied kernel is counted in the source's row, and the rows
    add up to the model's total.

    Args:
        source: the layer whose kernel is reused. It may be unbuilt when this layer is created;
            it must be built (called once) before this layer is.
        activation: activation function (name or callable); None means linear.
        use_bias: whether to add this layer's own bias vector.
        bias_initializer, bias_regularizer, activity_regularizer: as for `keras.layers.Dense`.

    Input shape:
        N-D tensor `(batch_size, ..., units)` where `units` is the source's output width.

    Output shape:
        N-D tensor `(batch_size, ..., input_dim)` where `input_dim` is the source's input width.

    Example:

    >>> inputs = keras.Input((8,))
    >>> encoder = keras.layers.Dense(3, activation="relu")
    >>> decoder = DenseTranspose(encoder, activation="sigmoid")
    >>> autoencoder = keras.Model(inputs, decoder(encoder(inputs)))
    >>> autoencoder.count_params()  # one 8 x 3 kernel, 3 + 8 biases
    35
    >>> decoder.count_params()  # its own 8 biases: the kernel is counted in the encoder's row
    8
    """

    def __init__(
        self,
        source,
        activation=None,
        use_bias=True,
        bias_initializer="zeros",
        bias_regularizer=None,
        activity_regularizer=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(source, keras.layers.Layer):
            raise ValueError(
                "Invalid value for argument `source` of DenseTranspose: expected a Keras layer "
                f"with a 2-D `kernel`. Received: source={source!r} of type {type(source).__name__}"
            )
        if source.built:
            _source_kernel_shape(source)
        self.source = source
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        if not self.source.built:
            raise ValueError(
                f"DenseTranspose '{self.name}' needs its source layer '{self.source.name}' to be "
                "built first, to know the kernel it transposes. Call the source on an input "
                "(or call `source.build(input_shape)`) before this layer."
            )
        source_input_dim, source_units = _source_kernel_shape(self.source)
        if input_shape[-1] is not None and int(input_shape[-1]) != source_units:
            raise ValueError(
                f"DenseTranspose '{self.name}' multiplies by the transpose of the "
                f"{source_input_dim} x {source_units} kernel of '{self.source.name}', so its "
                f"input's last dimension must be {source_units}. Received: "
                f"input_shape={tuple(input_shape)}"
            )
        self.units = source_input_dim
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        else:
            self.bias = None
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: source_units})

    def call(self, inputs):
        kernel = ops.cast(self.source.kernel, self.compute_dtype)
        outputs = ops.matmul(inputs, ops.transpose(kernel))
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        return self.activation(outputs)

    def count_params(self):
        """The scalars this layer owns: its bias, not the source's variables it tracks."""
        if not self.built:
            return super().count_params()  # Keras' error for an unbuilt layer
        tied = {id(weight) for weight in self.source.weights}
        return sum(math.prod(weight.shape) for weight in self.weights if id(weight) not in tied)

    def compute_output_shape(self, input_shape):
        source_input_dim, _ = _source_kernel_shape(self.source)
        return tuple(input_shape[:-1]) + (source_input_dim,)

    def get_config(self):
        config = {
            "source": _serialize_shared(self.source),
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["source"] = keras.saving.deserialize_keras_object(config["source"])
        return cls(**config)

    def to_dense(self):
        """A plain, built `keras.layers.Dense` holding a copy of `W_source^T` and this bias."""
        if not self.built:
            raise ValueError(
                f"DenseTranspose '{self.name}' is not built yet, so it has no kernel to copy. "
                "Call it on an input first."
            )
        dense = keras.layers.Dense(
            self.units,
            activation=self.activation,
            use_bias=self.use_bias,
            name=self.name,
            dtype=self.dtype_policy,
        )
        dense.build((None, self.source_units))
        weights = [ops.convert_to_numpy(ops.transpose(self.source.kernel))]
        if self.use_bias:
            weights.append(ops.convert_to_numpy(self.bias))
        dense.set_weights(weights)
        return dense

    @property
    def source_units(self):
        return _source_kernel_shape(self.source)[1]


def _serialize_shared(source):
    """The source's config, marked so that `.keras` loading rebuilds one object for the tie.

    Inside `model.save`, Keras records every serialized object and gives both configs of an
    object serialized twice a `shared_object_id`; loading then returns one instance for both.
    But each enclosing model copies its children's configs when it is serialized, so when the
    source sits in another submodel serialized earlier (the textbook tied autoencoder nests an
    encoder and a decoder `Sequential`), the mark reaches a stale copy and the tie is lost, as
    it is for any layer shared across submodels. So the mark is also set on this config
    (covering a source serialized later) and on the live copies of an earlier one.
    """
    config = keras.saving.serialize_keras_object(source)
    recorded = global_state.get_global_attribute("shared_objects/id_to_config_map")
    if recorded is None:  # not inside `model.save`: a plain, self-contained config
        return config
    config["shared_object_id"] = id(source)
    first = recorded.get(id(source))
    if first is None or first is config:
        return config
    unmarked = _without_mark(first)
    if any(key != id(source) and _without_mark(other) == unmarked
           for key, other in recorded.items()):
        raise ValueError(
            f"DenseTranspose cannot save its tie to '{source.name}': another layer in the model "
            "has exactly the same config (name included), so the saved file could not tell "
            "them apart. Give the layers distinct names."
        )
    for holder in list(recorded.values()):
        for candidate in _nested_dicts(holder):
            if candidate is not first and _without_mark(candidate) == unmarked:
                candidate["shared_object_id"] = id(source)
    return config


def _without_mark(value):
    """`value` with every `shared_object_id` removed, at any depth: marks come and go."""
    if isinstance(value, dict):
        return {k: _without_mark(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [_without_mark(v) for v in value]
    return value


def _nested_dicts(value):
    if isinstance(value, dict):
        yield value
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return
    for child in children:
        yield from _nested_dicts(child)


def _source_kernel_shape(source):
    """`(input_dim, units)` of a built layer's 2-D kernel; a clear error for any other layer."""
    kernel = getattr(source, "kernel", None)
    shape = getattr(kernel, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(
            "DenseTranspose needs a source layer with a 2-D `kernel` (Dense, SymmetricDense, any "
            f"StructuredDense). Received: layer '{source.name}' of type {type(source).__name__} "
            f"with kernel shape {None if shape is None else tuple(shape)}"
        )
    return int(shape[0]), int(shape[1])
