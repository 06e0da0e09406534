"""A refusal's advice works: following `--set input_shape=[...]` or `--set num_outputs=K` for an
equivariant preset leads to a run (its layers are built for the new shape; the preset's
equivariance measurement, declared for its own shape, is left out in one warning), and an output
activation that cannot fit the task is refused up front.
"""

import json

import numpy as np
import pytest

from eqzoo import train


def run(tmp_path, *args):
    return train.main([*args, "--epochs", "1", "--run-dir", str(tmp_path / "runs"),
                       "--wandb", "disabled", "--run-id", "r"])


def npz(tmp_path, x, y):
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    return f"npz:{path}"


def advice(err):
    line = err.strip().splitlines()[-1]
    return line.split("pass ", 1)[1].split(", or ")[0].split()  # ["--set", "key=value"]


@pytest.mark.parametrize("model, x, y, expected", [
    # Sets of 5 points in 2-d, not 8 in 3-d: DeepSets takes any set size.
    ("deepsets_set_sum", np.random.default_rng(0).normal(size=(90, 5, 2)),
     np.random.default_rng(1).normal(size=(90, 3)), "--set input_shape=[5,2]"),
    # 8x8 images of 3 classes, not 10.
    ("d4_invariant_digits", np.random.default_rng(0).uniform(size=(90, 8, 8, 1)),
     np.arange(90) % 3, "--set num_outputs=3"),
])
def test_following_the_shape_advice_of_an_equivariant_preset_leads_to_a_run(
        model, x, y, expected, tmp_path, capsys):
    dataset = npz(tmp_path, x, y)
    assert run(tmp_path, "--model", model, "--dataset", dataset) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    code = run(tmp_path, "--model", model, "--dataset", dataset, *advice(err))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    warning = [line for line in err.splitlines() if "equivariance is declared for" in line]
    assert len(warning) == 1 and expected.replace("--set ", "") in warning[0]
    metrics = json.loads((tmp_path / "runs" / "r" / "metrics.json").read_text())
    assert not any(key.startswith("equivariance/") for key in metrics)


def test_an_unchanged_equivariant_preset_still_measures_its_equivariance(tmp_path, capsys):
    assert run(tmp_path, "--model", "deepsets_set_sum", "--set", "width=4",
               "--dataset-option", "num_examples=128") == 0
    assert "equivariance is declared" not in capsys.readouterr().err
    metrics = json.loads((tmp_path / "runs" / "r" / "metrics.json").read_text())
    assert any(key.startswith("equivariance/") for key in metrics)


@pytest.mark.parametrize("args, expected", [
    (["--model", "symmetric_mlp_diabetes", "--set", "output_activation=softmax"],
     "over one output it is the constant 1.0"),
    (["--model", "mlp_set_sum", "--set", "output_activation=softmax"],
     "its 3 outputs always sum to 1, which regression targets do not"),
])
def test_an_output_activation_that_cannot_fit_the_task_is_refused(args, expected, tmp_path,
                                                                 capsys):
    assert run(tmp_path, *args, "--set", "width=8") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "leave output_activation unset" in err
    assert not (tmp_path / "runs" / "r" / "history.csv").exists()


def test_an_output_activation_on_a_classifier_is_one_warning(tmp_path, capsys):
    assert run(tmp_path, "--set", "width=8", "--set", "output_activation=sigmoid") == 0
    err = capsys.readouterr().err
    assert err.count("the classification loss takes logits") == 1


def test_a_model_built_with_another_shape_exports_without_the_presets_measurement(tmp_path):
    from eqzoo import zoo

    model = zoo.create_model("deepsets_set_sum", input_shape=(5, 2), width=4)
    x = np.random.default_rng(0).normal(size=(16, 5, 2)).astype("float32")
    report = zoo.export_model(model, tmp_path / "m", "saved_model", validation_inputs=x,
                              preset="deepsets_set_sum", verbose=False)
    assert report["passed"] and report["equivariance"] is None
