"""train.py on every Keras backend: --backend, strategies refused where they have no equivalent,
and keras.distribution.DataParallel over two host devices on JAX.

`tests/test_backends.py` runs this module (with test_train.py, which drives train.py's whole
run in-process) under JAX and PyTorch as well.
"""

import json

import keras
import numpy as np
import pytest

from eqzoo import train
from eqzoo.layers.inspection import symmetric_matrices
from eqzoo.processes import isolated_environment
from tests.test_train_processes import Process

BACKEND = keras.backend.backend()
TINY = ["--set", "width=8", "--epochs", "1", "--wandb", "offline"]


def test_backend_flag_is_read_from_argv_before_keras_is_imported():
    assert train.backend_from_argv(["--epochs", "1", "--backend", "jax"]) == "jax"
    assert train.backend_from_argv(["--backend=torch"]) == "torch"
    assert train.backend_from_argv(["--epochs", "1"]) is None


@pytest.mark.parametrize("strategy", [s for s, backends in train.STRATEGY_BACKENDS.items()
                                      if BACKEND not in backends])
def test_strategies_without_an_equivalent_on_this_backend_exit_2_at_once(strategy, tmp_path,
                                                                         capsys):
    code = train.main([*TINY, "--strategy", strategy, "--run-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"--strategy {strategy} runs on the" in err and f"this run uses {BACKEND}" in err
    assert not (tmp_path / "runs").exists() and not list(tmp_path.iterdir())


def test_backend_flag_after_keras_is_imported_must_match(tmp_path, capsys):
    other = next(b for b in train.BACKENDS if b != BACKEND)
    code = train.main([*TINY, "--backend", other, "--run-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and f"came after Keras was imported with the {BACKEND} backend" in err
    assert train.main([*TINY, "--backend", "theano", "--run-dir", str(tmp_path)]) == 2
    assert "expected tensorflow | jax | torch. Received: backend='theano'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_flag_in_a_fresh_process_trains_on_that_backend(backend, tmp_path):
    env = isolated_environment(tmp_path)
    env.pop("KERAS_BACKEND", None)
    process = Process(tmp_path, *TINY, "--backend", backend, "--run-id", "b", env=env)
    assert process.wait() == 0, process.err
    config = json.loads((tmp_path / "runs" / "b" / "config.json").read_text())
    assert config["backend"] == backend and config["replicas"] == 1
    assert (tmp_path / "runs" / "b" / "wandb").is_dir()


@pytest.mark.slow
def test_data_parallel_on_jax_over_two_host_devices(tmp_path):
    env = isolated_environment(tmp_path, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    env.pop("KERAS_BACKEND", None)
    # Batch 6: a split whose last batch is odd loses that batch's tail, with a warning.
    process = Process(tmp_path, *TINY, "--backend", "jax", "--strategy", "data_parallel",
                      "--batch-size", "6", "--run-id", "dp", env=env)
    assert process.wait() == 0, process.err
    folder = tmp_path / "runs" / "dp"
    config = json.loads((folder / "config.json").read_text())
    assert config["backend"] == "jax" and config["replicas"] == 2
    assert json.loads((folder / "metrics.json").read_text())["train/accuracy"] > 0.5
    assert (folder / "model.keras").exists() and (folder / "history.csv").exists()
    assert "examples are left out (a batch must split evenly over 2 devices)" in process.err
    odd = Process(tmp_path, *TINY, "--backend", "jax", "--strategy", "data_parallel",
                  "--batch-size", "5", env=env, name="odd")
    assert odd.wait() == 2 and "--batch-size must be a multiple of 2" in odd.err


def test_symmetric_kernels_stay_exact_after_training_on_this_backend(tmp_path):
    code = train.main([*TINY, "--run-dir", str(tmp_path), "--run-id", "s"])
    assert code == 0
    model = keras.saving.load_model(tmp_path / "s" / "model.keras")
    kernels = [m for ms in symmetric_matrices(model).values() for m in ms]
    assert kernels and all(np.array_equal(k, k.T) for k in kernels)
    assert json.loads((tmp_path / "s" / "config.json").read_text())["backend"] == BACKEND
