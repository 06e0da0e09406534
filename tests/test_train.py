"""train.py: config resolution, refusals, the run folder, W&B, comparison and strategies in-process.

Kill, Ctrl-C, unreachable W&B, the default run and multi-worker training run as subprocesses in
tests/test_train_processes.py. Every run here is tiny (width 8, one or two epochs on digits).
"""

import json
import os
import shutil
import signal

import keras
import pytest
import wandb
import yaml

from eqzoo import checkpoints, checks, datasets, train, zoo
from eqzoo.interrupts import Interrupted, Interrupts
from eqzoo.layers.inspection import symmetry_residuals
from eqzoo.runs import read_history
from eqzoo.zoo.tasks import OPTIMIZERS
from tests.interrupts import ctrl_c_after_epoch
from tests.layer_checks import assert_saved_kernels_bitwise_symmetric

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--set", "width=8", "--epochs", "1"]


def run(tmp_path, *args, wandb="disabled"):
    """`train.main` on a tiny config in a temporary run directory; returns (exit code, folder)."""
    argv = [*args, "--run-dir", str(tmp_path / "runs"), "--wandb", wandb]
    code = train.main(argv)
    folders = sorted((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else []
    return code, (folders[-1] if folders else None)


def read(folder, name):
    with open(folder / name) as f:
        return json.load(f)


def assert_one_line_error(capsys, code, *fragments):
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: "), err
    assert "Traceback" not in err and "usage:" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# --- refusals: exit code 2, one line, nothing written ----------------------------------------
BAD = {
    "unknown model": (["--model", "symetric_mlp_digits"],
                      ["Unknown model", "symmetric_mlp_digits"]),
    "unknown dataset": (["--dataset", "digts"], ["Unknown dataset 'digts'", "'digits'"]),
    "unknown --set key": (["--set", "widht=8"], ["'widht'", "did you mean 'width'"]),
    "--set type": (["--set", "width=abc"], ["--set", "`width`", "expected an integer", "'abc'"]),
    "--set bool for int": (["--set", "depth=true"], ["--set", "`depth`", "expected an integer"]),
    "--set without =": (["--set", "width"], ["KEY=VALUE", "'width'"]),
    "negative epochs": (["--epochs", "-1"], ["`epochs`", "in [1, 2147483647]", "epochs=-1"]),
    "non-integer epochs": (["--epochs", "x"], ["--epochs", "invalid int value"]),
    "zero learning rate": (["--learning-rate", "0"], ["`learning_rate`", "positive"]),
    "unknown optimizer": (["--optimizer", "adagrad"], ["adam | adamw | sgd", "adagrad"]),
    "unknown dataset option": (["--dataset-option", "size=3"], ["Unknown option(s) ['size']"]),
    "unknown strategy": (["--strategy", "tpu"], ["default | mirrored | multiworker"]),
    "unknown wandb mode": (["--wandb", "sometimes"], ["`wandb_mode`", "auto | online"]),
    "unknown flag": (["--epoch", "3"], ["unrecognized arguments: --epoch"]),
    "bad run id": (["--run-id", "a/b"], ["`run_id`", "'a/b'"]),
    "input shape mismatch": (["--model", "mlp_wine", "--dataset", "digits"],
                             ["expects inputs of shape (13,)", "gives (8, 8, 1)",
                              "--set input_shape=[8,8,1]",
                              "d4_invariant_digits, mlp_digits, mlp_digits_d4_twin, "
                              "p4m_cnn_digits, symmetric_mlp_digits"]),
    "task mismatch": (["--dataset", "diabetes"],
                      ["is a classification model", "'diabetes' is a regression task",
                       "symmetric_mlp_diabetes"]),
    "output size mismatch": (["--set", "num_outputs=3"],
                             ["outputs shape (3,)", "needs (10,) (10 classes)",
                              "--set num_outputs=10"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_flags_exit_2_with_one_line(case, tmp_path, capsys):
    argv, fragments = BAD[case]
    wandb = [] if "--wandb" in argv else ["--wandb", "disabled"]
    code = train.main([*TINY, *argv, *wandb, "--run-dir", str(tmp_path / "runs")])
    assert_one_line_error(capsys, code, *fragments)
    assert not (tmp_path / "runs").exists(), "a refused run must write nothing"


def test_unprepared_tfds_dataset_is_refused(tmp_path, capsys):
    empty = tmp_path / "tfds"
    empty.mkdir()
    code, folder = run(tmp_path, "--model", "symmetric_mlp_mnist", "--dataset", "mnist",
                       "--data-dir", str(empty), *TINY)
    assert_one_line_error(capsys, code, "'mnist' is not prepared", str(empty), "--download")
    assert folder is None


def test_config_file_errors(tmp_path, capsys):
    assert_one_line_error(capsys, train.main(["--config", str(tmp_path / "missing.json")]),
                          "--config: cannot read")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epoch": 3}))
    assert_one_line_error(capsys, train.main(["--config", str(path)]),
                          "'epoch' (did you mean 'epochs'?)", "\"overrides\"")


def test_finished_or_different_run_is_not_overwritten(tmp_path, capsys):
    folder = tmp_path / "runs" / "r1"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({**train.DEFAULTS, "model": "mlp_digits"}))
    code, _ = run(tmp_path, *TINY, "--run-id", "r1")
    assert_one_line_error(capsys, code, "exists with different model", "'mlp_digits'")
    (folder / "metrics.json").write_text("{}")
    code, _ = run(tmp_path, *TINY, "--run-id", "r1")
    assert_one_line_error(capsys, code, "already finished")


# --- listing and help -----------------------------------------------------------------------
def test_help_and_listings(capsys):
    assert train.main(["--help"]) == 0
    text = capsys.readouterr().out
    for flag in ["--model", "--dataset", "--set", "--config", "--epochs", "--batch-size",
                 "--learning-rate", "--optimizer", "--lr-schedule", "--early-stopping", "--seed",
                 "--strategy", "--run-dir", "--run-id", "--resume", "--wandb", "--wandb-project",
                 "--wandb-entity", "--wandb-group", "--wandb-tags", "--list-models",
                 "--list-datasets", "--compare", "--download", "--data-dir"]:
        assert flag in text, flag
    assert train.main(["--list-models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == zoo.list_models()
    assert all(len(line.split()) > 2 for line in lines), "each model has a description"
    assert train.main(["--list-datasets", "set_*"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[:-1]]
    assert names == datasets.list_datasets("set_*")


def test_main_answers_listings_and_cards_without_the_training_function(monkeypatch, capsys):
    monkeypatch.setattr(train, "train", lambda *args: pytest.fail("train() was called"))
    assert train.main(["--list-models", "mlp_*"]) == 0
    assert train.main(["--list-datasets", "wine"]) == 0
    assert train.main(["--card", "mlp_wine"]) == 0
    assert train.main(["--compare", str(REPO)]) == 2  # no run folder there
    capsys.readouterr()


def test_every_optimizer_choice_has_an_optimizer():
    assert set(checks.CHOICES["optimizer"]) == set(OPTIMIZERS)
    assert all(isinstance(OPTIMIZERS[name](0.1), keras.optimizers.Optimizer) for name in OPTIMIZERS)


# --- config resolution ----------------------------------------------------------------------
def test_overrides_apply_in_order(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epochs": 5, "learning_rate": 0.01, "seed": 3,
                                "overrides": {"width": 16, "depth": 1}}))
    args = train.build_parser().parse_args(
        ["--config", str(path), "--epochs", "2", "--set", "width=8",
         "--set", "input_shape=[8,8,1]"])
    config, preset = train.resolve_config(args)
    assert config["epochs"] == 2  # flag beats file
    assert config["learning_rate"] == 0.01 and config["seed"] == 3  # file beats DEFAULTS
    assert config["overrides"] == {"width": 8, "depth": 1, "input_shape": (8, 8, 1)}  # --set last
    assert config["dataset"] == "digits"  # the preset's first dataset
    assert config["batch_size"] == train.DEFAULTS["batch_size"]
    assert preset == zoo.get_preset("symmetric_mlp_digits")


def test_set_values_parse_as_json_or_python_literals():
    assert checks.parse_assignments(["a=3", "b=0.5", "c=[1,2]", "d=(1, 2)", "e=relu", "f=None",
                                    "g=true"], "--set") == {
        "a": 3, "b": 0.5, "c": [1, 2], "d": (1, 2), "e": "relu", "f": None, "g": True}


# --- one tiny run: folder, config, metrics, model, W&B offline --------------------------------
def test_run_folder_config_metrics_and_wandb_offline(tmp_path, monkeypatch, capsys):
    logged, inits = [], []
    real_log, real_init = wandb.Run.log, wandb.init

    def log(self, data, *args, **kwargs):
        logged.append(dict(data))
        return real_log(self, data, *args, **kwargs)

    monkeypatch.setattr(wandb.Run, "log", log)
    monkeypatch.setattr(wandb, "init", lambda **k: (inits.append(k), real_init(**k))[1])
    code, folder = run(tmp_path, "--set", "width=8", "--epochs", "2", "--run-id", "tiny",
                       "--wandb-group", "g", "--wandb-tags", "a,b", wandb="offline")
    out = capsys.readouterr().out
    assert code == 0
    assert folder.name == "tiny"
    assert {"config.json", "history.csv", "best.keras", "model.keras", "metrics.json",
            "wandb"} <= {p.name for p in folder.iterdir()}
    assert not (folder / "backup").exists(), "BackupAndRestore removes its backup after success"

    config = read(folder, "config.json")
    model = keras.saving.load_model(folder / "model.keras")
    assert config["model"] == "symmetric_mlp_digits" and config["dataset"] == "digits"
    assert config["overrides"] == {"width": 8}
    assert config["model_config"]["width"] == 8 and config["preset_config"]["width"] == 64
    assert config["parameters"] == {"total": model.count_params(),
                                    "trainable": model.count_params()}
    assert config["dataset_info"]["train_size"] == 1258
    assert config["dataset_info"]["test_size"] == 359
    assert set(config["versions"]) == {"python", "tensorflow", "keras", "numpy", "wandb"}
    assert "commit" in config["git"]
    assert "Resolved config:" in out and "  model_config: " in out

    metrics = read(folder, "metrics.json")
    for split in ("train", "val", "test"):
        assert {f"{split}/loss", f"{split}/accuracy"} <= set(metrics)
    assert metrics["epochs_completed"] == 2
    evaluated = model.evaluate(datasets.load("digits", batch_size=32).test, return_dict=True,
                               verbose=0)
    assert evaluated["accuracy"] == pytest.approx(metrics["test/accuracy"], abs=1e-6)
    residuals = symmetry_residuals(model)
    assert residuals and all(r == 0.0 for r in residuals.values())
    assert all(metrics[f"symmetry/{name}"] == 0.0 for name in residuals)
    history = (folder / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "symmetry/block0_symmetric" in history[0]

    # W&B got the full config, the names train/*, val/*, symmetry/*, time/*, and the id.
    assert inits[0]["config"] == config and inits[0]["id"] == "tiny"
    assert inits[0]["group"] == "g" and inits[0]["tags"] == ["a", "b"]
    epochs = [entry for entry in logged if "epoch" in entry]
    assert [entry["epoch"] for entry in epochs] == [1, 2, 2]  # two epochs, then the test split
    assert set(epochs[-1]) == {"epoch", "test/loss", "test/accuracy"}
    assert {"train/loss", "train/accuracy", "val/loss", "val/accuracy", "train/learning_rate",
            "time/epoch_seconds", "symmetry/block0_symmetric"} <= set(epochs[0])
    runs = list((folder / "wandb").glob("offline-run-*-tiny"))
    assert len(runs) == 1 and (runs[0] / "run-tiny.wandb").stat().st_size > 0
    recorded = (runs[0] / "run-tiny.wandb").read_bytes()
    for name in [b"val/loss", b"train/accuracy", b"test/accuracy", b"dataset_info"]:
        assert name in recorded, name
    assert f"wandb sync {folder / 'wandb'}" in out


def test_wandb_log_failure_never_stops_training(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ConnectionError("server said 500")

    monkeypatch.setattr(wandb.Run, "log", broken)
    code, folder = run(tmp_path, *TINY, wandb="offline")
    assert code == 0 and (folder / "metrics.json").exists()
    assert "W&B log failed (server said 500); training goes on." in capsys.readouterr().err


def test_wandb_init_failure_downgrades_to_offline_then_disabled(tmp_path, monkeypatch, capsys):
    modes = []

    def failing_init(**kwargs):
        modes.append(kwargs["mode"])
        raise TimeoutError("init timed out")

    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setattr(wandb, "init", failing_init)
    code, folder = run(tmp_path, *TINY, wandb="online")
    err = capsys.readouterr().err
    assert code == 0 and (folder / "metrics.json").exists()
    assert modes == ["online", "offline"]
    assert "W&B online failed (init timed out); trying offline." in err
    assert "W&B offline failed (init timed out); continuing without W&B." in err


def test_nan_loss_stops_with_a_clear_message_and_saves_nothing_non_finite(tmp_path, capsys):
    code, folder = run(tmp_path, "--set", "width=8", "--epochs", "3", "--learning-rate", "1e10")
    err = capsys.readouterr().err
    assert code == 1
    assert "TerminateOnNaN stopped the run" in err and "lower --learning-rate" in err
    # Keras' ModelCheckpoint saves a first epoch whatever its val_loss; this one never saves NaN.
    assert "no epoch ended with finite weights, so no model was saved" in err
    assert not (folder / "best.keras").exists()
    assert not (folder / "metrics.json").exists() and not (folder / "model.keras").exists()


def test_cosine_schedule_sgd_and_early_stopping(tmp_path):
    code, folder = run(tmp_path, "--set", "width=8", "--epochs", "3", "--lr-schedule", "cosine",
                       "--optimizer", "sgd", "--early-stopping", "1", "--learning-rate", "1e-9")
    assert code == 0
    # With a learning rate that moves nothing, val_loss stops improving at once.
    assert read(folder, "metrics.json")["epochs_completed"] < 3


def test_regression_and_reconstruction_tasks_choose_their_loss(tmp_path):
    code, folder = run(tmp_path, "--model", "pairwise_quadratic_form", "--epochs", "1",
                       "--dataset-option", "num_examples=100")
    assert code == 0 and {"test/loss", "test/mae"} <= set(read(folder, "metrics.json"))
    config = read(folder, "config.json")
    assert config["dataset"] == "quadratic_form"
    assert config["dataset_options"] == {"num_examples": 100}
    assert config["dataset_info"]["train_size"] == 70
    reconstruction = next(m for m in zoo.list_models()
                          if zoo.get_preset(m)["metadata"]["task"] == "reconstruction"
                          and "digits" in zoo.get_preset(m)["metadata"]["datasets"])
    code, folder = run(tmp_path / "r", "--model", reconstruction, "--epochs", "1")
    assert code == 0 and read(folder, "config.json")["dataset_info"]["task"] == "reconstruction"


# --- comparing runs -------------------------------------------------------------------------
@pytest.mark.slow
def test_compare_prints_differences_and_plots_validation_curves(tmp_path, capsys):
    for seed in ("0", "1"):
        assert run(tmp_path, "--set", "width=8", "--epochs", "2", "--seed", seed,
                   "--run-id", f"seed{seed}")[0] == 0
    (tmp_path / "runs" / "not-a-run").mkdir()
    capsys.readouterr()
    plot = tmp_path / "curves.png"
    runs = sorted(str(p) for p in (tmp_path / "runs").iterdir())
    assert train.main(["--compare", *runs, "--plot", str(plot)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["run", "seed0", "seed1"]
    assert "-- config differences" in out and any(line.split()[:3] == ["seed", "0", "1"]
                                                   for line in lines)
    assert not any(line.startswith("learning_rate") for line in lines), "equal values show too"
    assert "-- final metrics" in out and any(line.startswith("test/accuracy") for line in lines)
    assert "skipping" in err and "not-a-run" in err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000


def test_compare_without_runs_is_refused(tmp_path, capsys):
    assert_one_line_error(capsys, train.main(["--compare", str(tmp_path)]), "no run folder")


# --- strategies and the sweep file ----------------------------------------------------------
@pytest.mark.slow
@pytest.mark.tensorflow
def test_mirrored_strategy_over_two_cpus_keeps_kernels_exactly_symmetric(tmp_path):
    code, folder = run(tmp_path, *TINY, "--strategy", "mirrored")
    assert code == 0
    assert read(folder, "config.json")["replicas"] == 2  # conftest's two logical CPUs
    assert_saved_kernels_bitwise_symmetric(folder / "model.keras")


def test_sweep_covers_every_constrained_preset_and_its_twin():
    with open(os.path.join(REPO, "sweeps", "compare_twins.yaml")) as f:
        sweep = yaml.safe_load(f)
    assert sweep["program"] == "train.py" and sweep["method"] == "grid"
    models = sweep["parameters"]["model"]["values"]
    constrained = [m for m in zoo.list_models() if zoo.get_preset(m)["metadata"]["constraint"]]
    twins = {zoo.get_preset(m)["metadata"]["twin"] for m in constrained}
    expected = sorted(set(constrained) | twins)
    assert sorted(models) == expected, (
        f"update sweeps/compare_twins.yaml: add {sorted(set(expected) - set(models))}, "
        f"remove {sorted(set(models) - set(expected))}")
    assert len(sweep["parameters"]["seed"]["values"]) >= 2
    # The agent calls `train.py --model=NAME --seed=N`: every combination must resolve.
    for model in models:
        args = train.build_parser().parse_args([f"--model={model}", "--seed=1"])
        config, _ = train.resolve_config(args)
        assert config["dataset"] in zoo.get_preset(model)["metadata"]["datasets"]


# --- Ctrl-C, damaged run-folder files, resuming -----------------------------------------------
SMALL = ["--set", "width=8", "--epochs", "3", "--dataset-option", "train_size=256",
         "--run-id", "r"]
STEPS = 256 // 32


@pytest.fixture(scope="module")
def interrupted_once(tmp_path_factory):
    """A run stopped by a real SIGINT at the end of its second epoch of three (in-process: the
    handler train.main installs turns it into a clean stop)."""
    with pytest.MonkeyPatch.context() as patch:
        ctrl_c_after_epoch(patch, 1)
        code, folder = run(tmp_path_factory.mktemp("interrupted"), *SMALL)
    assert code == 130
    return folder


@pytest.fixture
def interrupted(interrupted_once):
    """Copies of the interrupted run, one per test, to damage as it likes."""
    def copy(tmp_path):
        shutil.copytree(interrupted_once, tmp_path / "runs" / "r")
        return tmp_path / "runs" / "r"

    return copy


def resume(folder, *extra):
    return train.main(["--resume", str(folder), *extra])


def test_ctrl_c_backs_up_the_epoch_and_resume_finishes_with_the_optimizer_state(
        interrupted, tmp_path, capsys):
    folder = interrupted(tmp_path)
    assert read(folder, "backup/training_metadata.json")["epoch"] == 2
    assert (folder / "interrupted.keras").exists() and not (folder / "metrics.json").exists()
    assert resume(folder) == 0
    out = capsys.readouterr().out
    assert "Resuming from the backup of epoch 2" in out and "Epoch 3/3" in out
    assert "Epoch 2/3" not in out
    metrics = read(folder, "metrics.json")
    assert metrics["epochs_completed"] == 3 and metrics["optimizer_iterations"] == 3 * STEPS
    assert [row["epoch"] for row in read_history(folder / "history.csv")] == ["0", "1", "2"]
    assert not (folder / "backup").exists()


def test_a_half_written_backup_falls_back_with_one_note(interrupted, tmp_path, capsys):
    folder = interrupted(tmp_path)
    latest = folder / "backup" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    assert resume(folder) == 0
    out, err = capsys.readouterr()
    notes = [line for line in err.splitlines() if "previous checkpoint" in line]
    assert len(notes) == 1 and "latest.weights.h5 is missing or does not match" in notes[0]
    assert "resuming from the previous checkpoint (epoch 1)" in notes[0]
    assert "Epoch 2/3" in out and "Traceback" not in err
    assert read(folder, "metrics.json")["optimizer_iterations"] == 3 * STEPS


def test_an_unusable_backup_is_one_line_naming_it(interrupted, tmp_path, capsys):
    folder = interrupted(tmp_path)
    (folder / "backup" / "training_metadata.json").write_text("garbage")
    (folder / "backup" / "training_metadata.json.bkp").write_text("{}")
    assert_one_line_error(capsys, resume(folder), f"{folder / 'backup'} holds no usable "
                          "checkpoint", "training_metadata.json is broken",
                          "Delete that folder to restart this run from epoch 1")


def test_a_garbage_history_row_is_dropped_with_a_warning_and_compare_skips_it(
        interrupted, tmp_path, capsys):
    folder = interrupted(tmp_path)
    with open(folder / "history.csv", "a") as f:
        f.write("1,not a number\r\n")
    capsys.readouterr()
    assert train.main(["--compare", str(folder), "--plot", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    assert "history.csv: line 4 is not a history row" in err and "fix or delete that line" in err
    assert "Traceback" not in err

    assert resume(folder) == 0
    err = capsys.readouterr().err
    assert "history.csv: line 4 is not a history row ('1,not a number': 2 fields" in err
    assert [row["epoch"] for row in read_history(folder / "history.csv")] == ["0", "1", "2"]


def test_compare_skips_broken_runs_with_a_warning(interrupted, tmp_path, capsys):
    good = interrupted(tmp_path)
    broken = {"bad-config": ("config.json", "{"), "bad-metrics": ("metrics.json", "[1]"),
              "bad-history": ("history.csv", "epoch,loss\r\nx\r\n")}
    for name, (file, text) in broken.items():
        shutil.copytree(good, tmp_path / "runs" / name)
        (tmp_path / "runs" / name / file).write_text(text)
    capsys.readouterr()
    runs = sorted(str(p) for p in (tmp_path / "runs").iterdir())
    assert train.main(["--compare", *runs, "--plot", str(tmp_path / "c.png")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["run", "r"]
    warnings = err.strip().splitlines()
    assert len(warnings) == 3
    assert all(warning.startswith("train.py: warning: skipping ") for warning in warnings)
    assert "config.json is not readable JSON" in err and "restore or delete that file" in err
    assert "metrics.json holds a list, expected a JSON object" in err
    assert "history.csv: line 2 is not a history row" in err


def test_a_kill_after_training_resumes_at_the_final_evaluation(tmp_path, monkeypatch, capsys):
    saved = checkpoints.save_model

    def killed_while_saving(model, path):
        if str(path).endswith("model.keras"):
            raise KeyboardInterrupt  # as a second Ctrl-C would, in the middle of the save
        saved(model, path)

    monkeypatch.setattr(checkpoints, "save_model", killed_while_saving)
    code, folder = run(tmp_path, *SMALL)
    assert code == 130 and "Resume with: python train.py --resume" in capsys.readouterr().err
    assert read(folder, "backup/training_metadata.json")["finished"] == 3
    monkeypatch.undo()
    assert resume(folder) == 0
    out = capsys.readouterr().out
    assert "Resuming from the backup of epoch 3 (training had finished: evaluating)" in out
    assert "Epoch " not in out.replace("Resuming from the backup of epoch", "")
    metrics = read(folder, "metrics.json")
    assert metrics["epochs_completed"] == 3 and metrics["optimizer_iterations"] == 3 * STEPS
    assert (folder / "model.keras").exists() and not (folder / "backup").exists()


def test_ctrl_c_is_a_flag_once_the_run_folder_exists_and_a_second_one_forces(tmp_path):
    previous = signal.getsignal(signal.SIGINT)
    interrupts = Interrupts().install()
    try:
        with pytest.raises(KeyboardInterrupt):  # set-up: nothing to save, stop at once
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0.1)  # give the handler a bytecode boundary
        with pytest.raises(KeyboardInterrupt):  # ... even if a library had swallowed it
            interrupts.defer(str(tmp_path))
        interrupts.count = 0
        interrupts.defer(str(tmp_path))
        interrupts.check()
        os.kill(os.getpid(), signal.SIGINT)  # the first: only a flag
        signal.sigtimedwait([], 0.1)
        with pytest.raises(Interrupted):
            interrupts.check()
        with pytest.raises(KeyboardInterrupt):  # the second: at once
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0.1)
    finally:
        interrupts.uninstall()
    assert signal.getsignal(signal.SIGINT) is previous
