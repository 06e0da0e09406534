"""The 28 x 28 MNIST G-CNN presets through train.py on tfds.testing.mock_data (no network): they
train (upright, tested on `--dataset-option rotate=test`), save, and the saved model gives the
same logits on the test images turned by np.rot90 (and, for p4m, flipped) as on the upright
ones, and on the `rotate="test"` split as upright; train.py logs its equivariance error."""

import csv
import json
import os

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds

from eqzoo import datasets, train
from tests.dataset_checks import collect


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    builder = tfds.builder("mnist", data_dir=data_dir)
    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name="train", shard_lengths=[20], num_bytes=0),
        tfds.core.SplitInfo(name="test", shard_lengths=[8], num_bytes=0),
    ]))
    os.makedirs(builder.data_path, exist_ok=True)
    builder.info.write_to_directory(builder.data_path)
    return data_dir


@pytest.mark.parametrize("preset, flips", [("p4_cnn_mnist", False), ("p4m_cnn_mnist", True)])
def test_mnist_gcnn_trains_on_mocked_mnist_and_stays_invariant(preset, flips, mnist_dir,
                                                                 tmp_path):
    with tfds.testing.mock_data(num_examples=8, data_dir=mnist_dir):
        code = train.main(["--model", preset, "--dataset", "mnist", "--data-dir", mnist_dir,
                           "--dataset-option", "rotate=test", "--epochs", "1", "--batch-size", "8",
                           "--run-dir", str(tmp_path), "--run-id", preset, "--wandb", "disabled"])
        assert code == 0
        splits = {rotate: datasets.load("mnist", data_dir=mnist_dir, batch_size=8, seed=0,
                                        **({"rotate": rotate} if rotate else {}))
                  for rotate in (None, "test")}
        upright, _ = collect(splits[None].test)
        rotated, _ = collect(splits["test"].test)
    folder = os.path.join(tmp_path, preset)
    with open(os.path.join(folder, "metrics.json")) as f:
        metrics = json.load(f)
    assert np.isfinite(metrics["test/loss"]), metrics
    # train.py's per-epoch equivariance logging, through the preset's ImageRep -> TrivialRep
    group = "ImageDihedralGroup_28_28" if flips else "ImageRotationGroup_28_28"
    with open(os.path.join(folder, "history.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and 0 <= float(rows[0][f"equivariance/{group}"]) < 1e-4
    assert 0 <= metrics[f"equivariance/{group}"] < 1e-4
    model = keras.saving.load_model(os.path.join(folder, "model.keras"))
    assert model.count_params() == {"p4_cnn_mnist": 15_222, "p4m_cnn_mnist": 14_796}[preset]
    logits = np.asarray(model.predict(upright, verbose=0))
    assert np.ptp(logits) > 1e-3  # not a constant function
    moved = [np.rot90(upright, k, axes=(1, 2)) for k in (1, 2, 3)]
    if flips:
        moved += [np.flip(upright, axis=1), np.rot90(np.flip(upright, axis=2), axes=(1, 2))]
    for images in [*moved, rotated]:
        np.testing.assert_allclose(np.asarray(model.predict(images.copy(), verbose=0)), logits,
                                   atol=1e-4)
    assert not np.array_equal(rotated, upright)  # rotate="test" did turn some test images
