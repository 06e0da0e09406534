"""EquivarianceMonitor: a Keras callback that logs a model's equivariance error every epoch."""

import re

import keras
import numpy as np

from eqzoo.layers.equivariance import equivariance_error
from eqzoo.layers.representations import rep_from_config


class EquivarianceMonitor(keras.callbacks.Callback):
    """Adds `equivariance/<group>` = `max |f(rho_in(g) x) - rho_out(g) f(x)|` to each epoch's logs.

    The error is `equivariance_error` on one fixed batch `x` (e.g. the first validation batch),
    over the group's generators and `n_samples` elements drawn from `seed` (the same elements
    every epoch), in the model's output units. Everything that receives the epoch's logs after
    this callback (CSVLogger, W&B, the progress bar) records it.

    Precision: at the start of training the model is rebuilt from its config with every layer's
    dtype policy (inputs included) set to float64, and before each measurement the current
    weights are copied into that copy (float32 to float64 is exact). The copy runs on the batch
    cast to float64, and the differences are taken in float64: the number is the architecture's
    error at the current weights, not float32 rounding. If the model cannot be rebuilt in float64
    (a layer that refuses the policy), the model itself runs in its own precision and only the
    differences are float64; `precision` then says "float32 model, float64 differences". So it
    does on JAX and PyTorch, where Keras does not compute float64 throughout (see `float64_copy`).

    Args:
        rep_in, rep_out: the `Representation`s (or `get_config()` dicts) of input and output.
        inputs: the batch to measure on (numpy or a tensor, or a dict of them for named
            inputs), laid out as the model's input.
        n_samples: sampled group elements on top of the generators.
        seed: seed of the sampled elements.
    """

    def __init__(self, rep_in, rep_out, inputs, n_samples=8, seed=0):
        super().__init__()
        self.rep_in, self.rep_out = rep_from_config(rep_in), rep_from_config(rep_out)
        self.inputs = keras.tree.map_structure(  # a tensor, or a dict of named tensors
            lambda t: np.asarray(keras.ops.convert_to_numpy(t)), inputs)
        self.n_samples, self.seed = n_samples, seed
        self.key = metric_name(self.rep_in.group)
        self.precision = None
        self._copy = None

    def on_train_begin(self, logs=None):
        self._copy = float64_copy(self.model)
        self.precision = "float64" if self._copy is not None else (
            "float32 model, float64 differences")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.measure())

    def measure(self):
        """`{"equivariance/<group>": error}` for the model's current weights."""
        if self.model is None:
            raise ValueError("EquivarianceMonitor.measure needs a model: pass the monitor to "
                             "fit(callbacks=...) or call set_model(model) first.")
        model, inputs = self.model, self.inputs
        if self._copy is not None:
            self._copy.set_weights([np.asarray(w, dtype="float64")
                                    for w in self.model.get_weights()])
            model = self._copy
            inputs = keras.tree.map_structure(lambda t: t.astype("float64"), inputs)
        error = equivariance_error(model, self.rep_in.group, self.rep_in, self.rep_out,
                                   n_samples=self.n_samples, seed=self.seed, inputs=inputs)
        return {self.key: error}


def metric_name(group):
    """`equivariance/<group>` with the group's name made a plain key: `DihedralGroup_16`."""
    return "equivariance/" + re.sub(r"[^A-Za-z0-9_.-]+", "_", group.name).strip("_")


def float64_copy(model):
    """A new model with `model`'s architecture and every dtype policy float64 (weights not
    copied); None when the model cannot be rebuilt that way, or the backend is not TensorFlow.

    Keras computes float64 throughout on TensorFlow only: on JAX and PyTorch its type promotion
    maps float64 to float32 (PyTorch's matmul, JAX's tanh and sin; JAX without x64 has no float64
    at all), so a float64 copy there would round to float32 while claiming float64.
    """
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        config = _as_float64(keras.saving.serialize_keras_object(model))
        copy = keras.saving.deserialize_keras_object(config)
        if len(copy.weights) != len(model.weights):
            return None
        copy.set_weights([np.asarray(w, dtype="float64") for w in model.get_weights()])
        return copy
    except Exception:  # any layer that cannot be rebuilt in float64: measure the model itself
        return None


def _as_float64(config):
    if isinstance(config, list):
        return [_as_float64(item) for item in config]
    if not isinstance(config, dict):
        return config
    out = {key: _as_float64(value) for key, value in config.items()}
    dtype = out.get("dtype")
    if isinstance(dtype, str) and _is_float_policy(dtype):
        out["dtype"] = "float64"
    elif isinstance(dtype, dict) and "Policy" in str(dtype.get("class_name", "")):
        out["dtype"] = {**dtype, "config": {**dtype.get("config", {}), "name": "float64"}}
    return out


def _is_float_policy(name):
    return "float" in name
