"""The EMLP task presets: shipped weights exported to SavedModel and TFLite, served in a fresh
process without eqzoo, equivariance measured again on the artifact, on the task's test data."""

import pytest

from eqzoo import datasets, zoo
from eqzoo.layers.representations import rep_from_config

PRESETS = zoo.list_models("emlp_*")


def test_each_task_has_a_preset_and_a_twin():
    assert PRESETS == ["emlp_inertia", "emlp_o5_synthetic", "emlp_particle_scattering"]
    for name in PRESETS:
        metadata = zoo.get_preset(name)["metadata"]
        twin = zoo.get_preset(metadata["twin"])
        assert twin["config"]["constrained"] is False and twin["metadata"]["twin"] == name
        # The dataset declares the representations the preset is equivariant for.
        symmetry = datasets.get_info(metadata["datasets"][0], num_examples=50).symmetry
        assert rep_from_config(metadata["equivariance"]["rep_in"]) == symmetry.rep_in
        assert rep_from_config(metadata["equivariance"]["rep_out"]) == symmetry.rep_out
        assert zoo.create_model(name).input_shape[-1] == symmetry.rep_in.dim


@pytest.mark.slow
@pytest.mark.parametrize("fmt, artifact", [("saved_model", "saved_model"),
                                           ("tflite", "model.tflite")])
@pytest.mark.parametrize("name", PRESETS)
def test_shipped_weights_export_and_stay_equivariant_in_the_serving_runtime(name, fmt, artifact,
                                                                            tmp_path):
    metadata = zoo.get_preset(name)["metadata"]
    model = zoo.create_model(name, weights="pretrained")
    _, _, test, _ = datasets.load(metadata["datasets"][0], batch_size=64, seed=0)
    x = next(iter(test))[0].numpy()
    report = zoo.export_model(model, tmp_path / artifact, fmt, validation_inputs=x, preset=name,
                              verbose=False)
    assert report["passed"] and report["serving_process"]["eqzoo_modules"] == []
    assert report["relative_error"] <= 1e-5
    equivariance = report["equivariance"]
    assert equivariance["group"] == repr(datasets.get_info(metadata["datasets"][0]).symmetry.group)
    assert equivariance["group_elements"] > 2
    assert equivariance["exported"] <= equivariance["allowed"]
