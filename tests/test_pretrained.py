"""Shipped weights: every file a preset names loads, matches its hash and reproduces its metrics."""

import os
import re

import numpy as np
import pytest

from eqzoo import datasets, zoo
from eqzoo.layers.equivariance import assert_equivariant
from eqzoo.layers.representations import rep_from_config
from eqzoo.zoo import registry
from eqzoo.zoo.artifacts import weights_digest
from eqzoo.zoo.tasks import TASK_LOSS_AND_METRICS

SHIPPED = [name for name in zoo.list_models() if zoo.get_preset(name)["metadata"].get("weights")]
EQUIVARIANT = [name for name in SHIPPED
               if zoo.get_preset(name)["metadata"]["constraint"] == "equivariant"]
NUMBER_WORDS = dict(enumerate(["No", "One", "Two", "Three", "Four", "Five", "Six", "Seven",
                               "Eight", "Nine", "Ten"]))


def test_the_embedded_presets_ship_weights():
    assert {"symmetric_mlp_digits", "tied_autoencoder_digits", "pairwise_wine",
            "d4_invariant_digits"} <= set(SHIPPED)
    assert EQUIVARIANT, "at least one shipped preset is equivariant"


@pytest.mark.parametrize("name", EQUIVARIANT)
def test_shipped_equivariant_weights_are_equivariant_when_loaded(name):
    metadata = zoo.get_preset(name)["metadata"]
    rep_in = rep_from_config(metadata["equivariance"]["rep_in"])
    rep_out = rep_from_config(metadata["equivariance"]["rep_out"])
    model = zoo.create_model(name, weights="pretrained")
    _, _, test, _ = datasets.load(metadata["weights"]["dataset"], batch_size=64,
                                  seed=metadata["weights"]["seed"],
                                  **metadata["weights"].get("test_options", {}))
    real = next(iter(test))[0]
    real = {k: v.numpy() for k, v in real.items()} if isinstance(real, dict) else real.numpy()
    for inputs in (real, None):  # test examples, then standard normal draws
        assert_equivariant(model, rep_in.group, rep_in, rep_out, n_samples=16, atol=1e-4,
                           inputs=inputs)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_reproduce_the_recorded_test_metrics(name):
    preset = zoo.get_preset(name)
    info = preset["metadata"]["weights"]
    # Small: the largest, emlp_inertia's 269,259 float32 parameters (the EMLP paper's 384
    # channels), is about 1.1 MB.
    assert os.path.getsize(os.path.join(registry.ZOO_DIR, info["file"])) < 1_300_000
    model = zoo.create_model(name, weights="pretrained")  # checks the SHA-256 first
    # The values are exactly those train.py ended with (its printed "Final weights sha256").
    assert weights_digest(model) == info["weights_digest"]

    task = preset["metadata"]["task"]
    _, _, test, _ = datasets.load(info["dataset"], batch_size=32, seed=info["seed"],
                                  reconstruction=task == "reconstruction",
                                  **info.get("test_options", {}))
    make_loss, metrics = TASK_LOSS_AND_METRICS[task]
    model.compile(loss=make_loss(), metrics=metrics)
    measured = model.evaluate(test, verbose=0, return_dict=True)
    assert info["test_metrics"], "a shipped file records the test metrics it reaches"
    for key, recorded in info["test_metrics"].items():
        np.testing.assert_allclose(measured[key.removeprefix("test/")], recorded, atol=1e-4,
                                   err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_say_how_they_were_made(name):
    assert f"--model {name} " in zoo.get_preset(name)["metadata"]["weights"]["command"]


def test_the_readme_lists_exactly_the_presets_that_ship_weights():
    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")) as f:
        readme = f.read()
    section = readme.split("### Pretrained weights", 1)[1].split("\n### ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)
    assert sorted(listed) == sorted(SHIPPED)
    count = NUMBER_WORDS[len(SHIPPED)]
    assert f"{count} presets ship weights" in section, count
