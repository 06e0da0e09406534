"""zoo.export_model and `train.py --export`: fold, write, serve in a fresh process, compare.

Every export starts a serving process that imports TensorFlow (several seconds), so the tests that
export are marked slow; the refusals before anything is written are quick.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from eqzoo import train, zoo
from eqzoo.layers.equivariance import equivariance_error
from eqzoo.layers.fold import fold_to_dense
from eqzoo.layers.representations import rep_from_config
from eqzoo.zoo import export
from tests.extras import marks

ARTIFACTS = {"keras": "model.keras", "saved_model": "saved_model", "tflite": "model.tflite"}
RUNTIMES = {"keras": "keras.saving.load_model", "saved_model": "tf.saved_model.load",
            "tflite": "tf.lite.Interpreter"}
SMALL = {"symmetric_mlp_digits": {"width": 8}, "deepsets_set_sum": {"width": 4},
         "dihedral_signal_net": {"width": 2, "depth": 1},
         "p4m_cnn_digits": {"widths": (3, 3), "hidden": 8}}


def small_model(name):
    return zoo.create_model(name, **SMALL[name])


def representations(name):
    spec = zoo.get_preset(name)["metadata"]["equivariance"]
    return rep_from_config(spec["rep_in"]), rep_from_config(spec["rep_out"])


def read_report(folder):
    with open(os.path.join(folder, "export.json")) as f:
        return json.load(f)


# Each format with DeepSets; the symmetric MLP's keras export is the CLI test's; the signal net
# has one output channel, whose folded bias TFLite converts only when stored per channel; the
# G-CNN's group convolutions fold into Conv2D and its invariant pooling serves in SavedModel.
@pytest.mark.slow
@pytest.mark.parametrize("name, fmt", [("deepsets_set_sum", "keras"),
                                       ("deepsets_set_sum", "saved_model"),
                                       ("deepsets_set_sum", "tflite"),
                                       ("symmetric_mlp_digits", "tflite"),
                                       ("dihedral_signal_net", "tflite"),
                                       ("p4m_cnn_digits", "saved_model")])
def test_export_serves_the_trained_outputs_in_each_format(name, fmt, tmp_path, capsys):
    model = small_model(name)
    path = tmp_path / fmt / ARTIFACTS[fmt]
    returned = zoo.export_model(model, path, fmt, preset=name)

    report = read_report(path.parent)
    assert report == json.loads(json.dumps(returned))
    assert os.path.exists(path) and report["passed"]
    assert report["runtime"].startswith(RUNTIMES[fmt])
    assert report["serving_process"]["eqzoo_modules"] == []
    assert report["folded_layers"], "the structured layers were folded"
    assert report["validation_inputs"]["examples"] == export.RANDOM_INPUTS
    assert report["max_abs_error"] <= 1e-5 and report["relative_error"] <= 1e-5
    assert report["max_abs_trained_output"] > 0.1  # the comparison is of real outputs
    if zoo.get_preset(name)["metadata"]["constraint"] == "equivariant":
        equivariance = report["equivariance"]
        assert equivariance["exported"] <= 1e-5 and equivariance["trained"] <= 1e-5
        assert equivariance["group_elements"] > 2  # the generators and sampled elements
    else:
        assert report["equivariance"] is None
    printed = capsys.readouterr().out
    assert "Export verified" in printed and f"{report['max_abs_error']:.3g}" in printed
    assert not [p for p in os.listdir(path.parent) if p.startswith(".")], "scratch files left"


def perturbing_fold(layer_name, amount, weight=0):
    """A broken fold: the right plain layers, but the first entry of one weight (0: the kernel,
    1: the bias) off by `amount`."""

    def fold(model):
        folded = fold_to_dense(model)
        layer = folded.get_layer(layer_name)
        weights = layer.get_weights()
        weights[weight].flat[0] += amount
        layer.set_weights(weights)
        return folded

    return fold


@pytest.mark.slow
def test_a_broken_fold_is_caught_with_the_amount(tmp_path, monkeypatch):
    name = "deepsets_set_sum"
    model = small_model(name)
    x = np.random.default_rng(1).normal(size=(16, 8, 3)).astype("float32")
    broken = perturbing_fold("equivariant0", 0.05)
    monkeypatch.setattr(export, "fold_to_dense", broken)
    expected = float(np.max(np.abs(np.asarray(broken(model)(x)) - np.asarray(model(x)))))
    rep_in, rep_out = representations(name)
    expected_equivariance = equivariance_error(broken(model), rep_in.group, rep_in, rep_out,
                                               inputs=x[:export.PROBE_INPUTS])
    assert expected > 1e-3 and expected_equivariance > 1e-3

    path = tmp_path / "model.keras"
    with pytest.raises(zoo.ExportVerificationError,
                       match="differs from the trained model") as caught:
        zoo.export_model(model, path, "keras", validation_inputs=x, preset=name, verbose=False)
    report = read_report(tmp_path)
    message = str(caught.value)
    assert f"max |exported - trained| = {report['max_abs_error']:.3g}" in message
    assert (f"equivariance error under SymmetricGroup(8) is "
            f"{report['equivariance']['exported']:.3g}") in message
    assert report["passed"] is False
    np.testing.assert_allclose(report["max_abs_error"], expected, rtol=1e-4)
    np.testing.assert_allclose(report["equivariance"]["exported"], expected_equivariance,
                               rtol=1e-4)
    assert report["equivariance"]["trained"] <= 1e-5


@pytest.mark.slow
def test_a_serving_process_that_imports_eqzoo_fails_the_check(tmp_path, monkeypatch):
    with open(export._SERVING_SCRIPT) as f:
        source = f.read()
    tainted = tmp_path / "serving.py"
    tainted.write_text("import eqzoo.layers\n" + source)
    monkeypatch.setattr(export, "_SERVING_SCRIPT", str(tainted))
    with pytest.raises(zoo.ExportVerificationError, match=r"imported \[.*'eqzoo.layers'.*not "
                                                          "self-contained"):
        zoo.export_model(small_model("symmetric_mlp_digits"), tmp_path / "out" / "m.keras",
                         "keras", verbose=False)
    assert "eqzoo.layers" in read_report(tmp_path / "out")["serving_process"]["eqzoo_modules"]


@pytest.mark.parametrize("fmt, path, fragment", [
    ("onnx", "m.onnx", "expected one of ['keras', 'saved_model', 'tflite']. Received: "
                       "format='onnx'"),
    ("keras", "m.h5", "a file ending in '.keras'. Received: path="),
    ("tflite", "m.keras", "a file ending in '.tflite'"),
])
def test_bad_format_or_path_is_refused_before_writing(fmt, path, fragment, tmp_path):
    with pytest.raises(ValueError, match=None) as caught:
        zoo.export_model(small_model("symmetric_mlp_digits"), tmp_path / "out" / path, fmt)
    assert fragment in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_keras_format_refuses_layers_that_need_eqzoo(tmp_path):
    with pytest.raises(ValueError, match=r"keeps interaction \(PairwiseInteraction\).*"
                                         "'saved_model' or 'tflite'"):
        zoo.export_model(zoo.create_model("pairwise_quadratic_form"), tmp_path / "m.keras",
                         "keras")
    assert not list(tmp_path.iterdir())


def test_validation_inputs_of_the_wrong_shape_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(N, 8, 3\) for 'deepsets'. Received shape "
                                         r"\(4, 8\)"):
        zoo.export_model(small_model("deepsets_set_sum"), tmp_path / "m.keras", "keras",
                         validation_inputs=np.zeros((4, 8)))


# --- train.py --export ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    code = train.main(["--set", "width=8", "--epochs", "1", "--wandb", "disabled",
                       "--run-dir", str(runs), "--run-id", "tiny"])
    assert code == 0
    return runs / "tiny"


@pytest.mark.slow
def test_cli_exports_a_finished_run_and_verifies_it(finished_run, capsys):
    code = train.main(["--export", str(finished_run), "--format", "keras"])
    out, err = capsys.readouterr()
    assert code == 0, err
    folder = finished_run / "export" / "keras"
    report = read_report(folder)
    assert report["passed"] and report["max_abs_error"] <= 1e-5
    assert os.path.isfile(folder / "model.keras")
    assert report["metadata"]["dataset"] == "digits"
    assert report["validation_inputs"]["examples"] == 180  # all of digits' validation split
    assert report["serving_process"]["eqzoo_modules"] == []
    assert "Export verified" in out and str(folder / "export.json") in out
    # The served artifact computes what the run's model computes on the run's data.
    run_model = keras.saving.load_model(finished_run / "model.keras")
    served = keras.saving.load_model(folder / "model.keras")
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(served(x)), np.asarray(run_model(x)), atol=1e-5)


@pytest.mark.slow
def test_cli_mismatch_exits_1_with_the_amount(finished_run, tmp_path, monkeypatch, capsys):
    # The head's first bias off by 0.5: the first logit of every example is off by 0.5.
    monkeypatch.setattr(export, "fold_to_dense", perturbing_fold("head", 0.5, weight=1))
    code = train.main(["--export", str(finished_run), "--format", "keras",
                       "--export-dir", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: The exported keras "
                                                   "artifact differs"), err
    amount = read_report(tmp_path / "out")["max_abs_error"]
    np.testing.assert_allclose(amount, 0.5, rtol=1e-5)
    assert "max |exported - trained| = 0.5 " in lines[0]


@pytest.mark.parametrize("argv, fragments", [
    (["--export", "{missing}", "--format", "keras"], ["--export: cannot read", "config.json"]),
    (["--export", "{run}"], ["--export needs --format keras | saved_model | tflite",
                             "Received: none"]),
    (["--export", "{run}", "--format", "onnx"], ["Received: --format onnx"]),
    (["--format", "keras"], ["--format and --export-dir go with --export RUN_FOLDER"]),
    (["--export", "{unfinished}", "--format", "keras"], ["is not a finished train.py run",
                                                         "no model.keras"]),
])
def test_cli_bad_export_requests_exit_2_with_one_line(argv, fragments, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text(json.dumps(
        {"model": "symmetric_mlp_digits", "dataset": "digits", "dataset_options": {}, "seed": 0,
         "task": "classification", "data_dir": None}))
    places = {"missing": tmp_path / "nowhere", "run": unfinished, "unfinished": unfinished}
    code = train.main([arg.format(**places) for arg in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# A model built under JAX or PyTorch exports too: JAX through jax2tf, PyTorch by way of its .keras
# file exported under TensorFlow (`export._tf_saved_model`); either way the artifact is served and
# checked like a TensorFlow one. The script runs in a fresh process on that backend.
EXPORT_ON_BACKEND = """
import json, sys
from eqzoo import zoo
model = zoo.create_model("deepsets_set_sum", width=4)
reports = {fmt: zoo.export_model(model, f"{sys.argv[1]}/{fmt}/{name}", fmt,
                                 preset="deepsets_set_sum")
           for fmt, name in [("saved_model", "saved_model"), ("tflite", "model.tflite")]}
print(json.dumps(reports))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", [pytest.param(b, marks=marks(b)) for b in ("jax", "torch")])
def test_a_model_built_on_another_backend_exports_and_verifies(backend, tmp_path):
    done = subprocess.run([sys.executable, "-c", EXPORT_ON_BACKEND, str(tmp_path)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "KERAS_BACKEND": backend})
    assert done.returncode == 0, done.stderr[-3000:]
    reports = json.loads(done.stdout.strip().splitlines()[-1])
    for fmt, report in reports.items():
        assert report["passed"], (fmt, report)
        assert report["max_abs_error"] <= 1e-5
        assert report["equivariance"]["exported"] <= 1e-5
        assert report["serving_process"]["eqzoo_modules"] == []


# A trained EGNN with named inputs: served by SavedModel's signature and TFLite's interpreter in
# a fresh process, its E(3) x S_5 equivariance measured again on the artifact's outputs.
@pytest.mark.slow
@pytest.mark.tensorflow
@pytest.mark.parametrize("fmt", ["saved_model", "tflite"])
def test_egnn_with_named_inputs_exports_and_stays_equivariant(fmt, tmp_path):
    model = zoo.create_model("egnn_nbody", width=8, depth=2)
    rng = np.random.default_rng(0)
    x = {"positions": rng.normal(size=(16, 5, 3)), "velocities": rng.normal(size=(16, 5, 3)),
         "charges": rng.choice([-1.0, 1.0], size=(16, 5, 1))}
    x = {k: v.astype("float32") for k, v in x.items()}
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, x["positions"] + 0.1 * x["velocities"], epochs=3, verbose=0)
    path = tmp_path / fmt / ARTIFACTS[fmt]
    report = zoo.export_model(model, path, fmt, validation_inputs=x, preset="egnn_nbody",
                              verbose=False)
    assert report["passed"] and report["serving_process"]["eqzoo_modules"] == []
    assert report["validation_inputs"]["shape"] == {"positions": [5, 3], "velocities": [5, 3],
                                                    "charges": [5, 1]}
    assert report["max_abs_error"] <= report["allowed_error"]
    equivariance = report["equivariance"]
    assert equivariance["group"] == "E(3)xS(5)" and equivariance["group_elements"] == 12
    assert equivariance["exported"] <= 1e-4 and equivariance["trained"] <= 1e-4
    with pytest.raises(ValueError, match="must be a dict with keys"):
        zoo.export_model(model, tmp_path / "again" / ARTIFACTS[fmt], fmt,
                         validation_inputs=x["positions"], preset="egnn_nbody")
