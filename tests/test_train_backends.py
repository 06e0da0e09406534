"""train.py on every Keras backend: --backend, strategies refused where they have no equivalent,
keras.distribution.DataParallel over two host devices on JAX, and what a run does on TensorFlow
(the run folder, W&B offline records, Ctrl-C and --resume, the NaN stop, --compare) on the
active backend.

`tests/test_backends.py` runs this module under JAX and PyTorch as well.
"""

import json
import os

import keras
import pytest

from eqzoo import distribute, train
from eqzoo.runs import read_history
from tests.extras import installed, marks, requires
from tests.interrupts import ctrl_c_after_epoch
from tests.layer_checks import assert_saved_kernels_bitwise_symmetric
from tests.processes import isolated_environment
from tests.test_train_processes import Process
from tests.wandb_records import read_records

BACKEND = keras.backend.backend()
TINY = ["--set", "width=8", "--epochs", "1", "--wandb", "offline"]


def test_backend_flag_is_read_from_argv_before_keras_is_imported():
    assert distribute.backend_from_argv(["--epochs", "1", "--backend", "jax"]) == "jax"
    assert distribute.backend_from_argv(["--backend=torch"]) == "torch"
    assert distribute.backend_from_argv(["--epochs", "1"]) is None


@pytest.mark.parametrize("strategy", [s for s, backends in distribute.STRATEGY_BACKENDS.items()
                                      if BACKEND not in backends])
def test_strategies_without_an_equivalent_on_this_backend_exit_2_at_once(strategy, tmp_path,
                                                                         capsys):
    code = train.main([*TINY, "--strategy", strategy, "--run-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"--strategy {strategy} runs on the" in err and f"this run uses {BACKEND}" in err
    assert not (tmp_path / "runs").exists() and not list(tmp_path.iterdir())


def test_backend_flag_after_keras_is_imported_must_match(tmp_path, capsys):
    for other in (b for b in distribute.BACKENDS if b != BACKEND):
        code = train.main([*TINY, "--backend", other, "--run-dir", str(tmp_path)])
        err = capsys.readouterr().err
        # Without the other backend's package (no extra installed) that is what is said first.
        said = (f"came after Keras was imported with the {BACKEND} backend" if installed(other)
                else f'--backend {other} needs {distribute.PIP_EXTRAS[other][0]}, which is not '
                     f'installed here: run pip install -e ".[{other}]"')
        assert code == 2 and said in err, err
    assert train.main([*TINY, "--backend", "theano", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "expected tensorflow | jax | torch. Received: backend='theano'" in err


@pytest.mark.slow
@pytest.mark.parametrize("backend", [pytest.param(b, marks=marks(b)) for b in ("jax", "torch")])
def test_backend_flag_in_a_fresh_process_trains_on_that_backend(backend, tmp_path):
    env = isolated_environment(tmp_path)
    env.pop("KERAS_BACKEND", None)
    process = Process(tmp_path, *TINY, "--backend", backend, "--run-id", "b", env=env)
    assert process.wait() == 0, process.err
    config = json.loads((tmp_path / "runs" / "b" / "config.json").read_text())
    assert config["backend"] == backend and config["replicas"] == 1
    assert (tmp_path / "runs" / "b" / "wandb").is_dir()


@pytest.mark.slow
@requires("jax")
def test_data_parallel_on_jax_over_two_host_devices(tmp_path):
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2"
    env = isolated_environment(tmp_path, XLA_FLAGS=flags.strip())
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
    assert_saved_kernels_bitwise_symmetric(tmp_path / "s" / "model.keras")
    assert json.loads((tmp_path / "s" / "config.json").read_text())["backend"] == BACKEND


# --- a run on this backend: folder, W&B, Ctrl-C and resume, compare, NaN ----------------------
SMALL = ["--set", "width=8", "--epochs", "3", "--dataset-option", "train_size=256"]
STEPS = 256 // 32


def wandb_history(folder, run_id):
    """The rows a run logged to W&B offline, each as {name: value}, in order. A resumed run
    writes a second offline folder with the same id (named by start time); `wandb sync` joins
    them."""
    paths = sorted((folder / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    return [{item.key or "/".join(item.nested_key): json.loads(item.value_json)
             for item in record.history.item}
            for path in paths for record in read_records(path)
            if record.WhichOneof("record_type") == "history"]


def test_interrupted_run_resumes_logs_to_wandb_and_compares_on_this_backend(
        tmp_path, monkeypatch, capsys):
    ctrl_c_after_epoch(monkeypatch, 1)  # a real SIGINT after the second of three epochs
    runs = tmp_path / "runs"
    argv = [*SMALL, "--run-id", "r", "--run-dir", str(runs), "--wandb", "offline"]
    assert train.main(argv) == 130
    folder = runs / "r"
    assert json.loads((folder / "backup" / "training_metadata.json").read_text())["epoch"] == 2
    assert (folder / "interrupted.keras").exists() and not (folder / "metrics.json").exists()
    monkeypatch.undo()
    capsys.readouterr()

    assert train.main(["--resume", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Resuming from the backup of epoch 2" in out and "Epoch 3/3" in out
    assert "Epoch 2/3" not in out
    metrics = json.loads((folder / "metrics.json").read_text())
    # The optimizer state came back with the weights: 3 epochs of steps, not 1 after a restart.
    assert metrics["epochs_completed"] == 3 and metrics["optimizer_iterations"] == 3 * STEPS
    assert {"test/loss", "test/accuracy", "symmetry/block0_symmetric"} <= set(metrics)
    assert [row["epoch"] for row in read_history(folder / "history.csv")] == ["0", "1", "2"]
    assert {"config.json", "history.csv", "best.keras", "model.keras", "metrics.json",
            "wandb"} <= {p.name for p in folder.iterdir()}
    assert not (folder / "backup").exists()
    config = json.loads((folder / "config.json").read_text())
    assert config["backend"] == BACKEND
    assert_saved_kernels_bitwise_symmetric(folder / "model.keras")

    # The W&B run (one id, resumed) holds every epoch once, with TensorFlow's names.
    assert len(list((folder / "wandb").glob("offline-run-*-r"))) == 2
    rows = [row for row in wandb_history(folder, "r") if "epoch" in row]
    # Three epochs; W&B's step is the epoch, so the test metrics join the last epoch's row.
    assert [row["epoch"] for row in rows] == [1, 2, 3], rows
    assert [row["_step"] for row in rows] == [1, 2, 3], rows
    for row in rows:
        assert {"train/loss", "train/accuracy", "val/loss", "val/accuracy", "train/learning_rate",
                "time/epoch_seconds", "symmetry/block0_symmetric"} <= set(row), sorted(row)
        assert row["symmetry/block0_symmetric"] == 0.0
    assert rows[-1]["test/accuracy"] == pytest.approx(metrics["test/accuracy"])

    plot = tmp_path / "curves.png"
    assert train.main(["--compare", str(folder), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["run", "r"]
    assert any(line.startswith("test/accuracy") for line in out.splitlines())
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nan_loss_stops_with_a_clear_message_on_this_backend(tmp_path, capsys):
    code = train.main(["--set", "width=8", "--epochs", "3", "--learning-rate", "1e10",
                       "--run-id", "n", "--run-dir", str(tmp_path), "--wandb", "disabled"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "TerminateOnNaN stopped the run" in err and "lower --learning-rate" in err
    assert "no epoch ended with finite weights, so no model was saved" in err
    folder = tmp_path / "n"
    assert not (folder / "best.keras").exists() and not (folder / "model.keras").exists()
    assert not (folder / "metrics.json").exists()
