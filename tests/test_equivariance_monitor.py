"""EquivarianceMonitor and train.py: every equivariant preset's run logs equivariance/<group>."""

import csv
import json

import keras
import numpy as np
import pytest
import wandb

from eqzoo import train
from eqzoo.layers import EquivariantDense, equivariance_error
from eqzoo.layers.equivariance_monitor import EquivarianceMonitor, float64_copy, metric_name
from eqzoo.layers.groups import CyclicGroup, ImageDihedralGroup, SymmetricGroup
from eqzoo.layers.representations import DefiningRep
from tests.backend_tools import FLOAT64_EXACT, to_numpy

# Where Keras computes float64 throughout (TensorFlow) the monitor measures a float64 copy and
# sees past float32 rounding; elsewhere it measures the float32 model, whose rounding is ~1e-7
# per unit of output (a few 1e-6 for the image preset's logits).
EXACT_BELOW = 1e-13 if FLOAT64_EXACT else 1e-5

REP = DefiningRep(CyclicGroup(6))


def signal_model(leak=0.0):
    """An equivariant two-layer net, plus `leak` times a non-equivariant Dense path."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    h = EquivariantDense(REP, REP, activation="tanh")(inputs)
    outputs = EquivariantDense(REP, REP)(h)
    if leak:
        dense = keras.layers.Dense(6, use_bias=False)
        path = dense(inputs)
        dense.set_weights([leak * np.random.default_rng(0).normal(size=(6, 6))])
        outputs = keras.layers.Add()([outputs, path])
    return keras.Model(inputs, outputs)


def monitored(model, inputs):
    monitor = EquivarianceMonitor(REP.get_config(), REP.get_config(), inputs)
    monitor.set_model(model)
    monitor.on_train_begin()
    return monitor


def test_errors_are_measured_in_float64_where_keras_computes_it():
    x = np.random.default_rng(1).normal(size=(8, 6)).astype("float32")
    exact = monitored(signal_model(), x)
    assert exact.measure()["equivariance/CyclicGroup_6"] < EXACT_BELOW
    if not FLOAT64_EXACT:  # says so, rather than claim float64
        assert exact.precision == "float32 model, float64 differences"
        return
    assert exact.precision == "float64"
    assert equivariance_error(signal_model(), REP.group, REP, REP, inputs=x) > 1e-9
    # A 1e-9 breach of equivariance is seen for what it is, well above float64 rounding.
    leaky = monitored(signal_model(leak=1e-9), x).measure()["equivariance/CyclicGroup_6"]
    assert 1e-11 < leaky < 1e-8


def test_the_float64_copy_follows_the_trained_weights():
    model = signal_model(leak=1.0)
    x = np.random.default_rng(2).normal(size=(8, 6)).astype("float32")
    monitor = monitored(model, x)
    before = monitor.measure()["equivariance/CyclicGroup_6"]
    model.layers[-2].set_weights([np.zeros((6, 6), "float32")])  # training removes the leak
    assert before > 0.1 and monitor.measure()["equivariance/CyclicGroup_6"] < EXACT_BELOW
    copy = float64_copy(model)
    if not FLOAT64_EXACT:
        assert copy is None
        return
    assert {w.dtype for w in copy.weights} == {"float64"}
    np.testing.assert_allclose(to_numpy(copy(x.astype("float64"))), to_numpy(model(x)),
                               atol=1e-5)


def test_metric_names_are_plain_keys():
    assert metric_name(ImageDihedralGroup(8, 8)) == "equivariance/ImageDihedralGroup_8_8"
    assert metric_name(SymmetricGroup(8)) == "equivariance/SymmetricGroup_8"


def test_measure_without_a_model_says_what_to_do():
    with pytest.raises(ValueError, match="pass the monitor to fit"):
        EquivarianceMonitor(REP, REP, np.zeros((1, 6))).measure()


def test_an_equivariant_preset_logs_its_error_every_epoch(tmp_path, monkeypatch):
    logged = []
    real_log = wandb.Run.log
    monkeypatch.setattr(wandb.Run, "log",
                        lambda self, data, *a, **k: (logged.append(dict(data)),
                                                     real_log(self, data, *a, **k))[1])
    code = train.main(["--model", "d4_invariant_digits", "--set", "width=2", "--set",
                       "pooled=8", "--epochs", "2", "--run-dir", str(tmp_path),
                       "--run-id", "d4", "--wandb", "offline"])
    assert code == 0
    key = "equivariance/ImageDihedralGroup_8_8"
    with open(tmp_path / "d4" / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(0 <= float(row[key]) < EXACT_BELOW for row in rows)
    with open(tmp_path / "d4" / "metrics.json") as f:
        assert 0 <= json.load(f)[key] < EXACT_BELOW
    epochs = [entry for entry in logged if key in entry]
    assert [entry["epoch"] for entry in epochs] == [1, 2]
