"""Your own images: "images:DIR" with one subfolder per class, as Keras'
`image_dataset_from_directory` reads them, split by the seed like every other source.

    datasets.load("images:photos", image_size=(64, 64), color_mode="grayscale")

The class of an image is the subfolder it sits in (at any depth below it); classes are the
subfolder names in sorted order. Every image is decoded once while loading, so an unreadable one
is refused by name before training; the pipelines then decode from the files again (TensorFlow's
own readers), cached in memory when a split fits in `CACHE_LIMIT_BYTES`. Pixel values are divided
by 255, which fits nothing, so nothing leaks from validation or test data.
"""

import numbers
import os
import re

import numpy as np
import tensorflow as tf

from eqzoo.datasets import arrays
from eqzoo.datasets.files import existing_path
from eqzoo.datasets.info import DatasetInfo, Splits
from eqzoo.datasets.registry import register_prefix, reject_options
from eqzoo.datasets.tfds_sets import CACHE_LIMIT_BYTES
from eqzoo.messages import first_line

PREFIX = "images:"
# keras.utils.image_dataset_from_directory's formats, its default size and its colour modes.
FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
DEFAULT_IMAGE_SIZE = (256, 256)
COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}


def load_images(name, *, batch_size, seed, validation_fraction, test_fraction, reconstruction,
                data_dir, download, **options):
    """A folder of images, one subfolder per class.

    Options: `image_size` ((height, width) every image is resized to, bilinear; default
    (256, 256) as in Keras), `color_mode` ("grayscale", "rgb" (default) or "rgba"),
    `train_size` (as for the other sources).
    """
    arrays.reject_tfds_arguments(name, data_dir, download)
    reject_options(name, options, allowed=("image_size", "color_mode", "train_size"))
    directory = existing_path(name, PREFIX, "directory")
    image_size = _check_image_size(name, options.get("image_size", DEFAULT_IMAGE_SIZE))
    color_mode = options.get("color_mode", "rgb")
    if color_mode not in COLOR_MODES:
        raise ValueError(f"Invalid value for option `color_mode` of {name!r}: expected one of "
                         f"{list(COLOR_MODES)}. Received: color_mode={color_mode!r}")
    plan, class_names = split_files(
        name, directory, seed=seed, validation_fraction=validation_fraction,
        test_fraction=test_fraction, train_size=options.get("train_size"))
    channels = COLOR_MODES[color_mode]
    _check_decodable(name, np.concatenate([paths for paths, _ in plan.values()]), channels,
                     color_mode)
    pipelines = [
        _pipeline(*plan[split], image_size=image_size, channels=channels,
                  batch_size=batch_size, shuffle_seed=seed if split == "train" else None,
                  reconstruction=reconstruction)
        for split in ("train", "validation", "test")
    ]
    size = "x".join(str(d) for d in image_size)
    info = DatasetInfo(
        name=name, task="classification", structure="image",
        input_shape=(*image_size, channels), output_shape=(len(class_names),),
        num_classes=len(class_names), train_size=len(plan["train"][0]),
        validation_size=len(plan["validation"][0]), test_size=len(plan["test"][0]),
        symmetry=None, source=f"image folder {directory}",
        description=f"Images from {os.path.basename(directory)}, one subfolder per class: "
                    f"{', '.join(class_names)}.",
        preprocessing=f"decoded as {color_mode}, resized to {size} (bilinear, as "
                      "keras.utils.image_dataset_from_directory), pixel values divided by 255 "
                      "(no fitted statistics)",
        class_names=class_names,
    )
    if reconstruction:
        info = info.for_reconstruction()
    return Splits(*pipelines, info)


def list_images(name, directory):
    """`(paths, labels, class_names)`: every image file below each class subfolder, sorted."""
    entries = sorted(os.listdir(directory))
    classes = [e for e in entries
               if not e.startswith(".") and os.path.isdir(os.path.join(directory, e))]
    if not classes:
        loose = sum(e.lower().endswith(FORMATS) for e in entries)
        holds = f" (it holds {loose} image(s) directly)" if loose else ""
        raise ValueError(f"{name}: no class subfolders in {directory}{holds}; put each class's "
                         f"images in a subfolder named after the class, e.g. "
                         f"{os.path.join(directory, 'cat', '1.png')}")
    paths, labels = [], []
    for label, folder in enumerate(classes):
        found = sorted(
            os.path.join(root, file)
            for root, _, files in os.walk(os.path.join(directory, folder))
            for file in files if file.lower().endswith(FORMATS))
        if not found:
            raise ValueError(f"{name}: class folder {folder!r} holds no images "
                             f"({', '.join(FORMATS)})")
        paths += found
        labels += [label] * len(found)
    if len(classes) < 2:
        raise arrays.too_few_classes_error(name, f"the folder {directory}", classes)
    return np.array(paths), np.array(labels), tuple(classes)


def split_files(name, directory, *, seed, validation_fraction, test_fraction, train_size):
    """`({split: (paths, labels)}, class_names)`, split as every built-in set is."""
    paths, labels, class_names = list_images(name, directory)
    labels, class_names = arrays.encode_classes(name, labels, "the class folders", class_names)
    indices = arrays.split(name, len(paths), labels, seed=seed, train_size=train_size,
                           validation_fraction=validation_fraction, test_fraction=test_fraction)
    return {s: (paths[i], labels[i].astype(np.int32)) for s, i in indices.items()}, class_names


def _decode(path, channels):
    return tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)


def _check_decodable(name, paths, channels, color_mode):
    """Decode every image once (in parallel); refuse the folder naming the first that fails."""
    numbered = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
    # The shape is returned so that the decoding cannot be pruned away.
    decoded = numbered.map(lambda i, path: (i, tf.shape(_decode(path, channels))),
                           num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    ok = np.zeros(len(paths), bool)
    ok[[int(i) for i, _ in decoded.as_numpy_iterator()]] = True
    if not ok.all():
        first = paths[int(np.argmin(ok))]
        try:
            _decode(first, channels)
            reason = "it failed while decoding the folder"
        except (tf.errors.OpError, ValueError) as error:
            reason = first_line(getattr(error, "message", error))
            # "{{function_node ...}} Invalid PNG data, size 737 [Op:DecodeImage] name:"
            reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", reason)
        raise ValueError(f"{name}: {int((~ok).sum())} of {len(paths)} images cannot be read as "
                         f"{color_mode}; the first is {first} ({reason}); remove or replace them")


def _pipeline(paths, labels, *, image_size, channels, batch_size, shuffle_seed, reconstruction):
    def load(path, label):
        image = tf.image.resize(_decode(path, channels), image_size)
        image.set_shape((*image_size, channels))
        return image / 255.0, label

    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    n, shuffle = len(paths), shuffle_seed is not None
    cache = n * int(np.prod(image_size)) * channels * 4 <= CACHE_LIMIT_BYTES
    if shuffle and not cache:  # shuffling file names costs no memory
        ds = ds.shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if reconstruction:
        ds = ds.map(lambda x, _: (x, x))
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_image_size(name, image_size):
    if (isinstance(image_size, (list, tuple)) and len(image_size) == 2
            and all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0
                    for d in image_size)):
        return tuple(int(d) for d in image_size)
    raise ValueError(f"Invalid value for option `image_size` of {name!r}: expected (height, "
                     f"width), two positive integers. Received: image_size={image_size!r}")


register_prefix(PREFIX, load_images)
