"""Test-time symmetry shift: digits whose test images are rotated or reflected (D_4).

`digits_rotated` is scikit-learn's digits with the same split, scaling and training order as
`digits` for the same seed; only the test split differs: each test image is moved by an element
of D_4 (rotation by 0, 90, 180 or 270 degrees, optionally followed by a mirror flip), drawn
uniformly and independently per image from the seed, the identity included (so about one in
eight stays upright). Training and validation images stay upright, so a model is trained and
selected on upright digits and scored on transformed ones. Labels are unchanged, even where a
half turn makes a 6 look like a 9: that is exactly what an upright-trained model gets wrong.
"""

import dataclasses

import numpy as np

from eqzoo.datasets import pipeline
from eqzoo.datasets.info import DatasetInfo, Splits
from eqzoo.datasets.registry import register, reject_options, reject_tfds_arguments
from eqzoo.datasets.sklearn_sets import make_arrays
from eqzoo.layers.groups import ImageDihedralGroup

# Mixed into the seed so the drawn elements do not correlate with the split's random state.
_ELEMENT_STREAM = 15


def transform_images(images, seed):
    """`images` (n, h, w, c) each moved by an element of `ImageDihedralGroup(h, w)` drawn from
    `seed`; returns the moved images and the index of each one's element in `permutations()`."""
    n, height, width, channels = images.shape
    permutations = ImageDihedralGroup(height, width).permutations()
    drawn = np.random.default_rng([seed, _ELEMENT_STREAM]).integers(0, len(permutations), size=n)
    pixels = images.reshape(n, height * width, channels)
    moved = pixels[np.arange(n)[:, None], permutations[drawn]]
    return moved.reshape(images.shape), drawn


def load(name, *, batch_size, seed, validation_fraction, test_fraction, reconstruction,
         data_dir, download, **options):
    reject_tfds_arguments(name, data_dir, download)
    reject_options(name, options, allowed=("train_size",))
    arrays, fields = make_arrays(
        "digits",
        seed=seed,
        train_size=options.get("train_size"),
        validation_fraction=validation_fraction or pipeline.DEFAULT_VALIDATION_FRACTION,
        test_fraction=test_fraction or pipeline.DEFAULT_TEST_FRACTION,
    )
    arrays.x["test"] = transform_images(arrays.x["test"], seed)[0]
    info = dataclasses.replace(
        DatasetInfo(**fields), name=name, description=DESCRIPTION,
        preprocessing=fields["preprocessing"] + "; each test image then rotated or reflected by "
        "an element of D_4 drawn uniformly from the seed (training and validation upright)")
    if reconstruction:
        arrays, info = pipeline.as_reconstruction(arrays, info)
    return Splits(*pipeline.to_pipelines(arrays, batch_size=batch_size, seed=seed), info)


DESCRIPTION = ("scikit-learn's digits, trained and validated upright; each test image rotated by a "
               "multiple of 90 degrees and/or mirrored, by a random D_4 element (seeded).")

register("digits_rotated", load, source="scikit-learn", description=DESCRIPTION)
