"""ImageDihedralGroup and ImageRep: the pixel permutations are np.rot90 / np.flip of the image."""

import json

import numpy as np
import pytest

from eqzoo.layers.groups import ImageDihedralGroup, group_from_config
from eqzoo.layers.representations import ImageRep, rep_from_config


def square_transforms(image):
    """The 8 images of D_4, written with numpy's own rotations and flips."""
    rotations = [np.rot90(image, k) for k in range(4)]
    return rotations + [np.flip(r, axis=0) for r in rotations]


def as_images(group, image):
    """Every group element applied to one image through its pixel permutation."""
    flat = image.reshape(group.degree, -1)
    return [flat[p].reshape(image.shape) for p in group.permutations()]


def same_set(a, b):
    return sorted(x.tobytes() for x in a) == sorted(x.tobytes() for x in b)


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_square_grid_gives_d4_and_its_permutations_are_numpy_rotations_and_flips(n):
    group = ImageDihedralGroup(n, n)
    image = np.random.default_rng(n).normal(size=(n, n))
    assert group.order == (1 if n == 1 else 8)
    rotate, flip = group.generator_permutations
    assert np.array_equal(image.ravel()[rotate].reshape(n, n), np.rot90(image))
    assert np.array_equal(image.ravel()[flip].reshape(n, n), np.flip(image, axis=0))
    if n > 1:
        assert same_set(as_images(group, image), square_transforms(image))
    assert ImageDihedralGroup(n) == group


def test_the_group_is_closed_and_has_inverses():
    group = ImageDihedralGroup(4, 4)
    elements = group.elements()
    keys = {g.tobytes() for g in elements}
    for g in elements:
        assert (g.T).tobytes() in keys  # inverse of a permutation matrix
        for h in elements:
            assert (g @ h).tobytes() in keys


def test_rectangular_grid_gives_the_subgroup_that_maps_it_to_itself():
    group = ImageDihedralGroup(3, 5)
    image = np.random.default_rng(0).normal(size=(3, 5))
    assert group.order == 4
    expected = [image, np.rot90(image, 2), np.flip(image, axis=0), np.flip(image, axis=1)]
    assert same_set(as_images(group, image), expected)


def test_readable_element_ids():
    group = ImageDihedralGroup(3, 3)
    names = sorted(group.describe(g) for g in group.elements())
    assert names == sorted(["image", "np.rot90(image, 1)", "np.rot90(image, 2)",
                            "np.rot90(image, 3)", "np.flip(image, axis=0)",
                            "np.flip(np.rot90(image, 1), axis=0)",
                            "np.flip(np.rot90(image, 2), axis=0)",
                            "np.flip(np.rot90(image, 3), axis=0)"])


def test_config_round_trip_and_identity():
    group = ImageDihedralGroup(8, 6)
    config = json.loads(json.dumps(group.get_config()))
    assert config == {"group": "ImageDihedralGroup", "height": 8, "width": 6}
    assert group_from_config(config) == group
    assert ImageDihedralGroup(6, 8) != group
    rep = ImageRep(group, channels=2)
    again = rep_from_config(json.loads(json.dumps(rep.get_config())))
    assert again == rep and again.shape == (8, 6, 2)


def test_image_rep_acts_on_image_batches_like_numpy():
    group = ImageDihedralGroup(5, 5)
    rep = ImageRep(group, channels=3)
    assert rep.shape == (5, 5, 3) and rep.dim == 75 and rep.is_permutation
    batch = np.random.default_rng(1).normal(size=(2, 5, 5, 3))
    rotate, flip = group.generators
    np.testing.assert_array_equal(rep.act(rotate, batch), np.rot90(batch, axes=(1, 2)))
    np.testing.assert_array_equal(rep.act(flip, batch), np.flip(batch, axis=1))
    np.testing.assert_array_equal(rep.act(rotate, batch.reshape(2, 75)),
                                  np.rot90(batch, axes=(1, 2)).reshape(2, 75))


@pytest.mark.parametrize("make, message", [
    (lambda: ImageDihedralGroup(0, 3), "positive integer n. Received: n=0"),
    (lambda: ImageDihedralGroup(3, 2.5), "Received: n=2.5"),
    (lambda: ImageRep(ImageDihedralGroup(3), channels=0), "positive integer number of channels"),
])
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_image_rep_needs_a_pixel_grid_group():
    from eqzoo.layers.groups import CyclicGroup

    with pytest.raises(ValueError, match="ImageRep needs a group acting on an image's pixel grid"):
        ImageRep(CyclicGroup(4))
