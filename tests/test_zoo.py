"""Every registered preset gets the same checks; plus the registry's own behaviour."""

import os

import keras
import numpy as np
import pytest

from eqzoo import fileio, zoo
from eqzoo.layers.dense_transpose import DenseTranspose
from eqzoo.layers.equivariance import assert_equivariant
from eqzoo.layers.inspection import symmetry_residuals
from eqzoo.layers.representations import rep_from_config
from eqzoo.zoo import registry
from eqzoo.zoo.tasks import TASK_LOSS_AND_METRICS
from tests.backend_tools import to_numpy
from tests.test_dense_transpose import summary_rows

ALL = zoo.list_models()


def fake_batch(model, preset, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    shape = registry.example_input_shape(model)  # a dict of shapes for named inputs

    def draw(example_shape):
        return rng.choice([-1.0, 1.0], size=(batch,) + example_shape).astype("float32")

    x = {k: draw(v) for k, v in shape.items()} if isinstance(shape, dict) else draw(shape)
    outputs = model.output_shape[-1]
    task = preset["metadata"]["task"]
    if task == "classification":
        y = rng.integers(0, outputs, size=(batch,))
    elif task == "reconstruction":
        y = x
    else:
        y = rng.normal(size=(batch,) + tuple(model.output_shape[1:])).astype("float32")
    return x, y


def assert_ties_survive(model):
    """Every tied decoder uses the model's own encoder layer (one variable), not a copy."""
    layers_by_name = {layer.name: layer for layer in model._flatten_layers(include_self=False)}
    for layer in layers_by_name.values():
        if isinstance(layer, DenseTranspose):
            assert layer.source is layers_by_name[layer.source.name], f"{layer.name} lost its tie"
    kernels = [id(v) for v in model.weights]
    assert len(kernels) == len(set(kernels))


def test_registry_holds_at_least_twelve_presets_each_with_a_registered_twin():
    assert len(ALL) >= 12
    for name in ALL:
        twin = zoo.get_preset(name)["metadata"]["twin"]
        assert twin in ALL, f"{name}'s twin {twin} is not registered"
        assert twin != name


@pytest.mark.parametrize("name", ALL)
def test_preset_builds_trains_saves_and_keeps_its_structure(name, tmp_path):
    preset = zoo.get_preset(name)
    model = zoo.create_model(name)
    assert model.count_params() == preset["metadata"]["params"], "metadata params is stale"
    x, y = fake_batch(model, preset)
    out = to_numpy(model(x))
    assert np.all(np.isfinite(out))
    make_loss, _ = TASK_LOSS_AND_METRICS[preset["metadata"]["task"]]  # the loss train.py uses
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=make_loss())
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for layer_name, residual in symmetry_residuals(model).items():
        assert residual == 0.0, f"{layer_name}: max |W - W^T| = {residual}"
    path = os.path.join(tmp_path, f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    assert_ties_survive(loaded)
    if preset["metadata"]["constraint"] == "equivariant":
        spec = preset["metadata"]["equivariance"]
        rep_in, rep_out = rep_from_config(spec["rep_in"]), rep_from_config(spec["rep_out"])
        # float32 round-off grows with the outputs (EGNN's positions reach ~100 after one
        # large step), so the bound is relative to them once they exceed 1.
        atol = 1e-4 * max(1.0, float(np.max(np.abs(to_numpy(model(x))))))
        for candidate in (model, loaded):
            assert_equivariant(candidate, rep_in.group, rep_in, rep_out, n_samples=8, atol=atol)
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    assert any(f"{preset['metadata']['params']:,}" in line for line in lines)


@pytest.mark.parametrize("name", ALL)
def test_constraint_claims_match_the_model_and_the_twin(name):
    constraint = zoo.get_preset(name)["metadata"]["constraint"]
    twin = zoo.get_preset(zoo.get_preset(name)["metadata"]["twin"])
    assert (constraint is None) != (twin["metadata"]["constraint"] is None), (
        "one of a pair is the twin")
    claims = symmetry_residuals(zoo.create_model(name))
    if constraint == "equivariant":
        assert "equivariance" in zoo.get_preset(name)["metadata"]
    if constraint == "symmetric":
        assert claims, f"{name} says it is symmetric but no layer claims a symmetric matrix"
    if constraint is None:
        assert not claims, f"{name} is an unconstrained twin but claims {sorted(claims)}"
    ties = [layer for layer in zoo.create_model(name)._flatten_layers()
            if isinstance(layer, DenseTranspose)]
    assert bool(ties) == (constraint == "tied"), (
        f"{name}: constraint {constraint!r}, {len(ties)} ties")


def test_list_models_by_wildcard():
    assert zoo.list_models("symmetric_mlp_*") == sorted(
        n for n in ALL if n.startswith("symmetric_mlp_"))
    assert "symmetric_mlp_digits" in zoo.list_models("*digits")
    assert zoo.list_models("no_such_*") == []


def test_unknown_name_lists_close_matches():
    expected = "Unknown model 'symetric_mlp_digits'.*symmetric_mlp_digits"
    with pytest.raises(ValueError, match=expected):
        zoo.create_model("symetric_mlp_digits")


def test_unknown_override_key_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"'widht' \(did you mean 'width'\?\)"):
        zoo.create_model("symmetric_mlp_digits", widht=8)


def test_overrides_apply():
    model = zoo.create_model("symmetric_mlp_digits", width=8, depth=1)
    assert model.get_layer("projection").units == 8
    assert "block1_symmetric" not in [layer.name for layer in model.layers]


def test_get_preset_returns_a_copy():
    preset = zoo.get_preset("symmetric_mlp_digits")
    preset["config"]["width"] = 1
    assert zoo.get_preset("symmetric_mlp_digits")["config"]["width"] != 1


def test_registering_a_name_twice_warns():
    name = "symmetric_mlp_digits"
    with pytest.warns(UserWarning, match="registered twice"):
        registry.register_presets({name: zoo.get_preset(name)})


def test_presets_without_weights_say_so():
    no_weights = "ships no pretrained weights.*python train.py --model mlp_digits"
    with pytest.raises(ValueError, match=no_weights):
        zoo.create_model("mlp_digits", weights="pretrained")
    unknown = "expected None, 'pretrained', .*Received: weights='imagenet'"
    with pytest.raises(ValueError, match=unknown):
        zoo.create_model("mlp_digits", weights="imagenet")


def test_pretrained_mechanism_verifies_the_hash(tmp_path):
    source = zoo.create_model("symmetric_mlp_wine")
    path = os.path.join(tmp_path, "wine.weights.h5")
    source.save_weights(path)
    preset = zoo.get_preset("symmetric_mlp_wine")
    preset["metadata"]["weights"] = {"file": path, "sha256": fileio.file_sha256(path)}
    registry._PRESETS["_test_pretrained"] = preset
    try:
        x = np.random.default_rng(0).normal(size=(3, 13)).astype("float32")
        loaded = zoo.create_model("_test_pretrained", weights="pretrained")
        np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(source(x)))
        preset["metadata"]["weights"]["sha256"] = "0" * 64
        with pytest.raises(ValueError, match="has SHA-256 .* but the preset records 0000"):
            zoo.create_model("_test_pretrained", weights="pretrained")
    finally:
        del registry._PRESETS["_test_pretrained"]


@pytest.mark.parametrize("name", ["symmetric_mlp_digits", "tied_autoencoder_digits_symmetric",
                                  "dihedral_signal_net", "deepsets_set_sum"])
def test_fold_to_dense_serves_zoo_models_with_plain_layers(name):
    from eqzoo.layers import StructuredDense, fold_to_dense

    model = zoo.create_model(name)
    x, _ = fake_batch(model, zoo.get_preset(name))
    folded = fold_to_dense(model)
    assert not [layer for layer in folded._flatten_layers()
                if isinstance(layer, (StructuredDense, DenseTranspose))]
    np.testing.assert_allclose(to_numpy(folded(x)), to_numpy(model(x)), rtol=1e-5, atol=1e-5)


def test_tied_decoder_rows_show_their_own_bias_and_the_tie_survives_saving(tmp_path):
    """Issue 16: `decoder1 (DenseTranspose)` showed 560 (the tied kernel and the encoder's
    bias again); it owns its 32 biases, and the rows add up to the total."""
    model = zoo.create_model("tied_autoencoder_digits")
    path = os.path.join(tmp_path, "tied.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for candidate in (model, loaded):
        rows, text = summary_rows(candidate)
        assert rows["decoder1"] == "32" and rows["decoder0"] == "64", text
        assert rows["encoder1"] == "528" and rows["encoder0"] == "2,080", text
        assert candidate.count_params() == 2_704 and "Total params: 2,704" in text
    decoder, encoder = loaded.get_layer("decoder1"), loaded.get_layer("encoder1")
    assert decoder.source is encoder
    # Training the encoder alone moves the kernel the loaded decoder multiplies by.
    encoder_only = keras.Model(loaded.inputs, encoder.output)
    encoder_only.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    x, _ = fake_batch(loaded, zoo.get_preset("tied_autoencoder_digits"))
    code = to_numpy(encoder_only(x))
    before = to_numpy(decoder(code))
    encoder_only.fit(x, code + 1.0, batch_size=4, verbose=0)
    kernel, bias = to_numpy(encoder.kernel), to_numpy(decoder.bias)
    after = to_numpy(decoder(code))
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, np.maximum(code @ kernel.T + bias, 0), rtol=1e-5, atol=1e-6)
