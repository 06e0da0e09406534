"""W&B model artifacts: what train.py records offline, and create_model(weights=...) reading runs
back.

One tiny offline run (width 8, two epochs on digits, seed 3) serves the module; its `.wandb` file
is read record by record with tests/wandb_records.py. The tests that start W&B are marked slow.
"""

import base64
import hashlib
import json
import os
import shutil
import socket

import keras
import numpy as np
import pytest
import wandb

from eqzoo import train, zoo
from eqzoo.runs import read_history
from eqzoo.zoo import artifacts
from tests.wandb_records import read_records

NAME = "symmetric_mlp_digits"
REFERENCE = f"wandb:me/eqzoo/{NAME}:best"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A finished offline run, started with a relative --run-dir as a user would."""
    base, cwd = tmp_path_factory.mktemp("artifacts"), os.getcwd()
    os.chdir(base)
    try:
        code = train.main(["--set", "width=8", "--epochs", "2", "--seed", "3", "--run-id", "art",
                           "--run-dir", "runs", "--wandb", "offline"])
    finally:
        os.chdir(cwd)
    assert code == 0
    return base / "runs" / "art"


def artifact_records(folder):
    (path,) = (folder / "wandb").glob("offline-run-*-art/run-art.wandb")
    return [record.artifact for record in read_records(path)
            if record.WhichOneof("record_type") == "artifact"]


def read(folder, name):
    with open(folder / name) as f:
        return json.load(f)


def md5_base64(path):
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


@pytest.mark.slow
def test_offline_run_records_its_best_then_final_model_as_artifacts(run_folder):
    config, metrics = read(run_folder, "config.json"), read(run_folder, "metrics.json")
    best, final = artifact_records(run_folder)
    for record in (best, final):
        assert record.type == "model" and record.name == NAME and record.run_id == "art"
        assert record.project == "eqzoo" and record.finalize
        metadata = json.loads(record.metadata)
        assert metadata["config"] == config  # the resolved config, as config.json holds it
        contents = {entry.path: entry for entry in record.manifest.contents}
        assert set(contents) == {"model.keras", "config.json"}
        # Referenced in the run folder by absolute path, so that `wandb sync`, from anywhere,
        # uploads these very files.
        assert contents["config.json"].local_path == str(run_folder / "config.json")
        assert contents["config.json"].digest == md5_base64(run_folder / "config.json")
    assert "best" in best.aliases and "seed-3" not in best.aliases
    assert {"latest", "seed-3"} <= set(final.aliases) and "best" not in final.aliases

    final_meta = json.loads(final.metadata)
    assert final_meta["role"] == "final" and final_meta["epoch"] == 2
    assert final_meta["metrics"] == metrics and final_meta["weights_sha256"] == metrics[
        "weights_sha256"]
    assert {"test/accuracy", "val/loss", "symmetry/block0_symmetric"} <= set(final_meta["metrics"])
    final_file = {e.path: e for e in final.manifest.contents}["model.keras"]
    assert final_file.local_path == str(run_folder / "model.keras")
    assert final_file.digest == md5_base64(run_folder / "model.keras")

    best_meta = json.loads(best.metadata)
    best_model = keras.saving.load_model(run_folder / "best.keras")
    assert best_meta["weights_sha256"] == artifacts.weights_digest(best_model)
    history = read_history(str(run_folder / "history.csv"))
    best_row = min(history, key=lambda row: float(row["val_loss"]))
    assert best_meta["epoch"] == int(best_row["epoch"]) + 1
    assert best_meta["metrics"]["val/loss"] == pytest.approx(float(best_row["val_loss"]))
    best_file = {e.path: e for e in best.manifest.contents}["model.keras"]
    assert best_file.local_path == str(run_folder / "best.keras")


@pytest.mark.slow
def test_offline_run_keeps_the_symmetry_metrics(run_folder):
    (path,) = (run_folder / "wandb").glob("offline-run-*-art/run-art.wandb")
    summaries = [record.summary for record in read_records(path)
                 if record.WhichOneof("record_type") == "summary"]
    keys = {item.key or "/".join(item.nested_key) for s in summaries for item in s.update}
    assert "symmetry/block0_symmetric" in keys and "weights_sha256" in keys


@pytest.mark.slow
def test_a_failing_artifact_upload_never_stops_training(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ConnectionError("storage said 503")

    monkeypatch.setattr(wandb.Run, "log_artifact", broken)
    code = train.main(["--set", "width=8", "--epochs", "1", "--run-id", "broken",
                       "--run-dir", str(tmp_path / "runs"), "--wandb", "offline"])
    assert code == 0 and (tmp_path / "runs" / "broken" / "metrics.json").exists()
    assert ("W&B model artifacts failed (storage said 503); training goes on."
            in capsys.readouterr().err)


# --- create_model(weights="runs/<id>") --------------------------------------------------------
def test_create_model_loads_a_run_folder_and_checks_its_digest(run_folder):
    model = zoo.create_model(NAME, width=8, weights=str(run_folder))
    trained = keras.saving.load_model(run_folder / "model.keras")
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(trained(x)))
    assert artifacts.weights_digest(model) == read(run_folder, "metrics.json")["weights_sha256"]
    best = zoo.create_model(NAME, width=8, weights=run_folder / "best.keras")
    best_trained = keras.saving.load_model(run_folder / "best.keras")
    np.testing.assert_array_equal(np.asarray(best(x)), np.asarray(best_trained(x)))


def test_weights_of_another_preset_or_shape_are_refused_naming_both(run_folder):
    with pytest.raises(ValueError, match="trained as preset 'symmetric_mlp_digits', not "
                                         "'mlp_digits': load them with zoo.create_model"
                                         r"\('symmetric_mlp_digits', width=8, weights="):
        zoo.create_model("mlp_digits", width=8, weights=str(run_folder))
    with pytest.raises(ValueError) as error:
        zoo.create_model(NAME, weights=str(run_folder))  # the run overrode width=8
    message = str(error.value)
    assert "do not fit preset 'symmetric_mlp_digits'" in message
    assert "weight 'projection/kernel' has shape (64, 8) in the file but (64, 64)" in message
    assert ("its run overrode {'width': 8}: pass the same, zoo.create_model("
            "'symmetric_mlp_digits', width=8, weights=") in message
    with pytest.raises(ValueError, match="the file holds 12 weights, 'tied_autoencoder_digits' "
                                         "has 6"):
        # a .keras file without its run folder: no preset to name, the structure still checked
        zoo.create_model("tied_autoencoder_digits", weights=str(no_config(run_folder)))


def no_config(run_folder):
    """model.keras alone in a folder of its own."""
    lone = run_folder.parent / "lone"
    lone.mkdir(exist_ok=True)
    shutil.copy(run_folder / "model.keras", lone / "model.keras")
    return lone / "model.keras"


def test_a_changed_model_file_and_bad_paths_are_refused(run_folder, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_folder, copy, ignore=shutil.ignore_patterns("wandb"))
    metrics = read(copy, "metrics.json")
    (copy / "metrics.json").write_text(json.dumps({**metrics, "weights_sha256": "0" * 64}))
    with pytest.raises(ValueError, match="its run recorded 0000.*changed after the run"):
        zoo.create_model(NAME, width=8, weights=str(copy))
    with pytest.raises(FileNotFoundError, match="no run folder there"):
        zoo.create_model(NAME, weights=str(tmp_path / "runs" / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no model file at .*model.keras"):
        zoo.create_model(NAME, weights=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="expected None, 'pretrained', a run folder .*"
                                         "Received: weights='imagenet'"):
        zoo.create_model(NAME, weights="imagenet")


# --- create_model(weights="wandb:...") --------------------------------------------------------
@pytest.mark.parametrize("mode", ["offline", "disabled", "dryrun"])
def test_wandb_weights_fail_at_once_when_wandb_is_offline(mode, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", mode)
    monkeypatch.setattr(artifacts.socket, "create_connection", pytest.fail)  # no network try
    with pytest.raises(ConnectionError, match=f"needs W&B online, but WANDB_MODE={mode}.*"
                                              f"wandb artifact get me/eqzoo/{NAME}:best"):
        zoo.create_model(NAME, weights=REFERENCE)


def test_wandb_weights_fail_at_once_without_an_api_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setattr(artifacts.socket, "create_connection", pytest.fail)
    with pytest.raises(ConnectionError, match="needs a W&B API key, and none is configured"):
        zoo.create_model(NAME, weights=REFERENCE)


@pytest.fixture
def online(monkeypatch):
    """W&B online with a key and no proxy in the environment; yields a closed local port."""
    for variable in list(os.environ):
        if variable.lower().endswith("_proxy"):
            monkeypatch.delenv(variable)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_wandb_weights_fail_at_once_when_the_server_is_unreachable(online, monkeypatch):
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{online}")
    monkeypatch.setattr(wandb, "Api", pytest.fail)  # refused before any API call
    with pytest.raises(ConnectionError, match=f"cannot reach W&B at http://127.0.0.1:{online}"):
        zoo.create_model(NAME, weights=REFERENCE)


def test_behind_a_proxy_wandb_itself_reports_what_failed(online, monkeypatch):
    def api(**kwargs):
        raise RuntimeError("proxy said 502\nmore detail")

    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{online}")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")
    monkeypatch.setattr(wandb, "Api", api)  # reached: the probe is skipped via a proxy
    with pytest.raises(ValueError, match=r"W&B could not fetch the artifact \(proxy said 502\)"):
        zoo.create_model(NAME, weights=REFERENCE)


@pytest.mark.parametrize("reference", ["wandb:symmetric_mlp_digits:best",
                                       "wandb:me/eqzoo/symmetric_mlp_digits"])
def test_malformed_wandb_references_are_refused(reference):
    with pytest.raises(ValueError, match="expected 'wandb:ENTITY/PROJECT/NAME:ALIAS'"):
        zoo.create_model(NAME, weights=reference)


def test_wandb_weights_download_the_artifact_when_online(run_folder, tmp_path, monkeypatch,
                                                        online):
    """W&B's Api is replaced by one serving the run folder as the downloaded artifact."""
    downloaded = tmp_path / "download"
    shutil.copytree(run_folder, downloaded, ignore=shutil.ignore_patterns("wandb", "*.json"))
    shutil.copy(run_folder / "config.json", downloaded / "config.json")
    shutil.copy(run_folder / "best.keras", downloaded / "model.keras")  # the `best` version
    best_digest = artifacts.weights_digest(keras.saving.load_model(run_folder / "best.keras"))
    requests = []

    class Artifact:
        metadata = {"weights_sha256": best_digest}

        def download(self):
            return str(downloaded)

    class Api:
        def __init__(self, api_key, timeout):
            requests.append(api_key)

        def artifact(self, spec, type):
            requests.append((spec, type))
            return Artifact()

    server = socket.socket()  # something to connect to
    server.bind(("127.0.0.1", 0))
    server.listen()
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setattr(wandb, "Api", Api)
    try:
        model = zoo.create_model(NAME, width=8, weights=REFERENCE)
        assert requests == ["k" * 40, (f"me/eqzoo/{NAME}:best", "model")]
        assert artifacts.weights_digest(model) == best_digest
        Artifact.metadata = {"weights_sha256": "f" * 64}
        with pytest.raises(ValueError, match="its run recorded ffff"):
            zoo.create_model(NAME, width=8, weights=REFERENCE)
    finally:
        server.close()
