"""One name for the twin flag (`constrained`), the preset builder, and the old spellings
(`tied`, `symmetric`) still read, with a FutureWarning, from overrides and earlier runs."""

import json
import shutil

import numpy as np
import pytest

from eqzoo import train, zoo
from eqzoo.runs import prepare_run_folder
from eqzoo.zoo import registry
from tests.test_train import read, run

OLD_SPELLINGS = {"tied_autoencoder": "tied", "pairwise_interaction": "symmetric",
                 "hopfield_network": "symmetric"}


def test_every_twin_of_its_own_architecture_is_constrained_false():
    own_twins = set()
    for name in zoo.list_models():
        preset = zoo.get_preset(name)
        twin = zoo.get_preset(preset["metadata"]["twin"])
        if twin["architecture"] != preset["architecture"]:
            continue
        flag = preset["config"].get(registry.TWIN_FLAG, True)
        assert flag is (preset["metadata"]["constraint"] is not None), name
        if preset["metadata"]["constraint"] is None:
            own_twins.add(name)
    # mlp_{digits,mnist,wine,diabetes}, autoencoder_*, three *_unconstrained and the gcnn twins
    # (plain CNNs of the same widths or of the same channel count, flag `constrained` False).
    assert {"mlp_digits", "mlp_mnist", "mlp_wine", "mlp_diabetes", "autoencoder_digits",
            "autoencoder_mnist", "hopfield_patterns_32_unconstrained",
            "pairwise_quadratic_form_unconstrained", "pairwise_wine_unconstrained",
            "cnn_digits_p4m_twin", "cnn_mnist_twin", "cnn_digits_p4m_channels_twin",
            "cnn_mnist_p4_channels_twin", "cnn_mnist_p4m_channels_twin"} <= own_twins, own_twins
    for architecture in zoo.list_architectures():
        arguments = set(registry.architecture_arguments(architecture))
        assert not {"tied", "symmetric"} & arguments, architecture


@pytest.mark.parametrize("name,old,twin", [
    ("tied_autoencoder_digits", "tied", "autoencoder_digits"),
    ("pairwise_wine", "symmetric", "pairwise_wine_unconstrained"),
    ("hopfield_patterns_32", "symmetric", "hopfield_patterns_32_unconstrained"),
])
def test_an_old_spelling_builds_the_twin_with_a_future_warning(name, old, twin):
    with pytest.warns(FutureWarning, match=rf"argument `{old}` of .* now spelt `constrained`.*"
                                           rf"read {old}=False as constrained=False"):
        model = zoo.create_model(name, **{old: False})
    assert model.count_params() == zoo.get_preset(twin)["metadata"]["params"]


def test_both_spellings_at_once_are_refused():
    with pytest.raises(ValueError, match=r"`tied` is the old spelling of `constrained`, and both "
                                         r"are given \(tied=False, constrained=True\)"):
        zoo.create_model("tied_autoencoder_digits", tied=False, constrained=True)


def test_a_flag_that_contradicts_the_constraint_is_refused():
    preset = zoo.get_preset("mlp_digits")
    preset["metadata"]["constraint"] = "symmetric"
    with pytest.raises(ValueError, match="constrained=False but metadata constraint='symmetric'"):
        registry.register_presets({"_contradiction": preset})
    assert "_contradiction" not in zoo.list_models()


def test_the_builders_take_keywords_only():
    with pytest.raises(TypeError):
        registry.make_preset("symmetric_mlp", {})
    with pytest.raises(TypeError):
        registry.shipped_weights("symmetric_mlp_digits")
    weights = registry.shipped_weights(preset="p", dataset="d", sha256="s", test_metrics={},
                                       weights_digest="w", seed=3)
    assert weights["file"] == "weights/p.weights.h5"
    assert weights["command"] == "python train.py --model p --seed 3 --wandb disabled"


# --- earlier runs, whose config.json spells the flag `tied` ----------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A one-epoch run of the untied autoencoder, and a copy as an earlier train.py wrote it."""
    tmp_path = tmp_path_factory.mktemp("twin_flag")
    code, new = run(tmp_path, "--model", "tied_autoencoder_digits", "--set", "constrained=false",
                    "--epochs", "1", "--dataset-option", "train_size=128", "--run-id", "new")
    assert code == 0 and read(new, "config.json")["overrides"] == {"constrained": False}
    old = new.parent / "old"
    shutil.copytree(new, old)
    config = read(old, "config.json")
    config["overrides"] = {"tied": False}
    config["model_config"] = {("tied" if key == "constrained" else key): value
                              for key, value in config["model_config"].items()}
    config["run_id"] = "old"
    (old / "config.json").write_text(json.dumps(config))
    return new, old


@pytest.mark.slow  # the module's one short run
def test_compare_reads_the_old_spelling_as_the_new(runs, capsys):
    new, old = runs
    capsys.readouterr()
    assert train.main(["--compare", str(new), str(old), "--plot", str(new.parent / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "-- same config apart from the id" in out, out
    assert "tied" not in out and "constrained" not in out, out


@pytest.mark.slow  # the module's one short run
def test_zoo_loads_an_earlier_run_and_its_hint_uses_the_new_spelling(runs):
    _, old = runs
    with pytest.raises(ValueError, match=r"pass the same, zoo.create_model\("
                                         r"'tied_autoencoder_digits', constrained=False, "):
        zoo.create_model("tied_autoencoder_digits", weights=str(old))
    loaded = zoo.create_model("tied_autoencoder_digits", constrained=False, weights=str(old))
    with pytest.warns(FutureWarning, match="`tied`"):
        again = zoo.create_model("tied_autoencoder_digits", tied=False, weights=str(old))
    x = np.random.default_rng(0).uniform(size=(2, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(loaded(x)))


@pytest.mark.slow  # the module's one short run
def test_an_unfinished_earlier_run_resumes_as_the_same_run(runs, tmp_path, capsys):
    _, old = runs
    folder = tmp_path / "runs" / "old"
    shutil.copytree(old, folder)
    (folder / "metrics.json").unlink()
    args = train.build_parser().parse_args(["--resume", str(folder)])
    with pytest.warns(FutureWarning, match="read tied=False as constrained=False"):
        config, _ = train.resolve_config(args)
    assert config["overrides"] == {"constrained": False}
    capsys.readouterr()
    prepare_run_folder(str(folder), config)  # an old spelling is no different config
    assert "Resuming run" in capsys.readouterr().out
    assert read(folder, "config.json")["overrides"] == {"constrained": False}  # rewritten
