"""Folding structured layers into plain Dense (and group convolutions into plain Conv2D) layers."""

import keras

from eqzoo.layers.dense_transpose import DenseTranspose
from eqzoo.layers.group_conv2d import GroupConv2D
from eqzoo.layers.structured_dense import StructuredDense


def fold_to_dense(model):
    """A copy of `model` with every structured dense layer and tied transpose made a plain `Dense`,
    and every `GroupConv2D` a plain `Conv2D` with `|G| * filters` outputs.

    Each replacement holds the assembled kernel (or the full filter bank) and the bias, so outputs
    match the original (up to float rounding of the same products) and inference runs at
    plain-Keras speed with no custom objects needed to load the result. Other layers are cloned
    with their weights copied.
    Works on Functional and Sequential models, nested ones included.
    """
    if not isinstance(model, (keras.Sequential, keras.Model)) or not _is_graph_model(model):
        raise ValueError(
            "fold_to_dense needs a built Functional or Sequential model. Received: "
            f"{type(model).__name__}. For a subclassed model, call `layer.to_dense()` on each "
            "structured layer instead."
        )

    def clone(layer):
        if isinstance(layer, GroupConv2D):
            return layer.to_conv2d()
        if _foldable(layer):
            return layer.to_dense()
        return layer.__class__.from_config(layer.get_config())

    folded = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for old, new in zip(_leaf_layers(model), _leaf_layers(folded), strict=True):
        if not folds(old) and old.weights:
            new.set_weights(old.get_weights())
    return folded


def folds(layer):
    """True for the layers `fold_to_dense` replaces with plain Keras ones."""
    return _foldable(layer) or isinstance(layer, GroupConv2D)


def _foldable(layer):
    """Structured dense layers and tied transposes: each knows its plain `Dense` equivalent."""
    return isinstance(layer, (StructuredDense, DenseTranspose))


def _is_graph_model(model):
    return isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False) or (
        model.__class__.__name__ == "Functional"
    )


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer
