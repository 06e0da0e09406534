"""Rotated-MNIST style options of the tfds image sets, on tfds.testing.mock_data: quarter turns
are np.rot90 of the upright images, arbitrary angles interpolate, the other splits stay upright."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from eqzoo import datasets
from eqzoo.datasets import rotation
from tests.dataset_checks import collect


@pytest.fixture()
def mnist_dir(tmp_path):
    builder = tfds.builder("mnist", data_dir=str(tmp_path))
    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name="train", shard_lengths=[40], num_bytes=0),
        tfds.core.SplitInfo(name="test", shard_lengths=[12], num_bytes=0),
    ]))
    os.makedirs(builder.data_path, exist_ok=True)
    builder.info.write_to_directory(builder.data_path)
    return str(tmp_path)


def load(data_dir, **options):
    with tfds.testing.mock_data(num_examples=12, data_dir=data_dir):
        splits = datasets.load("mnist", data_dir=data_dir, batch_size=4, seed=3, **options)
        return [collect(split) for split in splits[:3]], splits.info


def test_quarter_turns_rotate_test_images_by_np_rot90_only(mnist_dir):
    upright, _ = load(mnist_dir)
    turned, info = load(mnist_dir, rotate="test")
    for split in (0, 1):  # train and validation untouched
        np.testing.assert_array_equal(turned[split][0], upright[split][0])
    x, y = upright[2]
    moved, labels = turned[2]
    np.testing.assert_array_equal(labels, y)
    ks = []
    for image, rotated in zip(x, moved, strict=True):
        matches = [k for k in range(4) if np.array_equal(np.rot90(image, k), rotated)]
        assert matches, "each test image is np.rot90 of its upright self"
        ks.append(matches[0])
    assert len(set(ks)) > 1, "different images get different turns"
    assert "rotated by k * 90 degrees" in info.preprocessing
    again, _ = load(mnist_dir, rotate="test")
    np.testing.assert_array_equal(again[2][0], moved)  # the same for the same seed


def test_any_angle_rotates_every_split_with_interpolation(mnist_dir):
    upright, _ = load(mnist_dir)
    turned, info = load(mnist_dir, rotate="all", angles="any")
    for split in range(3):
        x, moved = upright[split][0], turned[split][0]
        assert moved.shape == x.shape and np.all(np.isfinite(moved))
        assert not np.array_equal(moved, x)
        assert moved.min() >= 0 and moved.max() <= 1 + 1e-6  # bilinear stays in range
    # Bilinear resampling makes values that were not pixels of the image.
    assert len(np.unique(turned[2][0])) > len(np.unique(upright[2][0]))
    assert "bilinear" in info.preprocessing


def test_the_interpolating_rotation_turns_like_np_rot90():
    import tensorflow as tf

    image = np.random.default_rng(0).uniform(size=(3, 6, 6, 1)).astype("float32")
    quarter = np.full(3, np.pi / 2, "float32") * np.array([1, 2, 3], "float32")
    turned = rotation.rotate_by(tf.constant(image), tf.constant(quarter)).numpy()
    for k in (1, 2, 3):
        np.testing.assert_allclose(turned[k - 1], np.rot90(image[k - 1], k), atol=1e-5)


@pytest.mark.parametrize("options, fragment", [
    ({"rotate": "train"}, "Received: rotate='train'"),
    ({"rotate": "test", "angles": "45"}, "Received: angles='45'"),
    ({"angles": "any"}, "needs `rotate`"),
    ({"rotate": "test", "reconstruction": True}, "does not combine with reconstruction"),
    ({"spin": 1}, "Unknown option(s) ['spin']"),
])
def test_bad_rotation_options_are_refused_in_one_line(mnist_dir, options, fragment):
    with pytest.raises(ValueError) as error:
        load(mnist_dir, **options)
    assert fragment in str(error.value) and "\n" not in str(error.value)
