"""digits_rotated: the digits split, with only the test images rotated or reflected (D_4)."""

import numpy as np
import pytest

from eqzoo import datasets
from eqzoo.datasets.image_symmetry import transform_images


def collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def d4_images(image):
    rotations = [np.rot90(image, k) for k in range(4)]
    return rotations + [np.flip(r, axis=0) for r in rotations]


def test_only_the_test_images_move_each_by_a_d4_element():
    upright = datasets.load("digits", batch_size=500, seed=3)
    rotated = datasets.load("digits_rotated", batch_size=500, seed=3)
    for split in ("train", "validation"):
        np.testing.assert_array_equal(collect(getattr(rotated, split))[0],
                                      collect(getattr(upright, split))[0])
    (x_up, y_up), (x_rot, y_rot) = collect(upright.test), collect(rotated.test)
    np.testing.assert_array_equal(y_rot, y_up)
    kinds = []
    for a, b in zip(x_up, x_rot, strict=True):
        matches = [i for i, candidate in enumerate(d4_images(a)) if np.array_equal(candidate, b)]
        assert matches, "a test image is not a rotation or reflection of the upright one"
        kinds.append(matches[0])
    # Uniform over the 8 elements: all of them occur, the identity in about 1/8 of 359 images.
    assert set(kinds) == set(range(8))
    assert np.mean(np.array(kinds) == 0) < 0.3
    assert rotated.info.name == "digits_rotated" and rotated.info.input_shape == (8, 8, 1)
    assert "rotated or reflected" in rotated.info.preprocessing


def test_the_seed_fixes_the_drawn_elements():
    images = np.random.default_rng(0).normal(size=(50, 6, 6, 2))
    a, drawn_a = transform_images(images, seed=1)
    b, drawn_b = transform_images(images, seed=1)
    _, drawn_c = transform_images(images, seed=2)
    np.testing.assert_array_equal(a, b)
    assert np.array_equal(drawn_a, drawn_b) and not np.array_equal(drawn_a, drawn_c)
    rotated = np.rot90(images, 1, axes=(1, 2))
    one = np.flatnonzero(drawn_a == 1)  # permutations()[1] is the generator, a quarter turn
    np.testing.assert_array_equal(a[one], rotated[one])


def test_options_are_checked():
    unknown = r"Unknown option\(s\) \['size'\] for dataset 'digits_rotated'"
    with pytest.raises(ValueError, match=unknown):
        datasets.load("digits_rotated", size=3)
    small = datasets.load("digits_rotated", train_size=100, batch_size=500)
    assert small.info.train_size == 100 and small.info.test_size == 359
