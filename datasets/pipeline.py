"""Split arithmetic and argument checks shared by every source, and arrays to tf.data pipelines."""

import math
import numbers
import os
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.2


class ArraySplits(NamedTuple):
    """In-memory splits before they become pipelines; `indices` say which rows went where."""

    x: dict
    y: dict
    indices: dict


def check_batch_size(batch_size):
    if not _is_integer(batch_size) or batch_size < 1:
        raise ValueError(
            "Invalid value for argument `batch_size`: expected a positive integer. "
            f"Received: batch_size={batch_size!r}"
        )
    return int(batch_size)


def check_seed(seed):
    if not _is_integer(seed) or not 0 <= seed < 2**63:  # tf.data takes int64 seeds
        raise ValueError(
            "Invalid value for argument `seed`: expected an integer in [0, 2**63 - 1]. "
            f"Received: seed={seed!r}"
        )
    return int(seed)


def available_memory():
    """Bytes the system can still give this process (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_fractions(validation_fraction, test_fraction):
    """Each given fraction lies strictly between 0 and 1, and together they leave training data."""
    given = {"validation_fraction": validation_fraction, "test_fraction": test_fraction}
    for argument, value in given.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
            raise ValueError(
                f"Invalid value for argument `{argument}`: expected a number strictly between 0 "
                f"and 1. Received: {argument}={value!r}"
            )
    total = (validation_fraction or 0) + (test_fraction or 0)
    if total >= 1:
        raise ValueError(
            "Invalid split fractions: validation_fraction + test_fraction must be below 1 so that "
            f"examples remain for training. Received: validation_fraction={validation_fraction!r}, "
            f"test_fraction={test_fraction!r} (sum {total:g})"
        )


def split_sizes(n, validation_fraction, test_fraction, *, name, min_size=1):
    """`(train, validation, test)` sizes of `n` examples; each must hold at least `min_size`.

    A fraction of exactly 0 asks for no split at all (a source that ships its own) and gives 0.
    """
    # Rounded to nearest, so a fraction too small for `n` gives an empty split (an error below)
    # rather than silently growing to one example.
    n_test = math.floor(test_fraction * n + 0.5)
    n_val = math.floor(validation_fraction * n + 0.5)
    sizes = {"train": n - n_val - n_test, "validation": n_val, "test": n_test}
    fractions = {"train": 1, "validation": validation_fraction, "test": test_fraction}
    for split, size in sizes.items():
        if size < min_size and fractions[split] > 0:
            need = "be non-empty" if min_size == 1 else (
                f"hold at least {min_size} examples (one per class)"
            )
            raise ValueError(
                f"Invalid split fractions for {name!r} ({n} examples): the {split} split would "
                f"hold {size} examples but must {need}. Received: validation_fraction="
                f"{validation_fraction!r}, test_fraction={test_fraction!r}"
            )
    return sizes["train"], sizes["validation"], sizes["test"]


def split_indices(n, validation_fraction, test_fraction, seed, *, name, stratify=None):
    """Disjoint index arrays `{"train", "validation", "test"}` covering `range(n)`, fixed by `seed`.

    With `stratify` (class labels) every split keeps the class proportions, as scikit-learn's
    `train_test_split` does.
    """
    min_size = 1 if stratify is None else len(np.unique(stratify))
    _, n_val, n_test = split_sizes(
        n, validation_fraction, test_fraction, name=name, min_size=min_size
    )
    rest, test = train_test_split(
        np.arange(n), test_size=n_test, random_state=seed, stratify=stratify
    )
    train, val = train_test_split(
        rest,
        test_size=n_val,
        random_state=seed,
        stratify=None if stratify is None else stratify[rest],
    )
    return {"train": np.sort(train), "validation": np.sort(val), "test": np.sort(test)}


def subsample_train(indices, train_size, seed, *, name, stratify=None):
    """`indices` with the training split cut to `train_size` rows drawn by `seed`; None keeps all.

    Validation and test stay as they are, so runs at different training sizes are scored on the
    same examples. With `stratify` (labels of all rows) the drawn rows keep the class proportions.
    """
    if train_size is None:
        return indices
    train = indices["train"]
    classes = 1 if stratify is None else len(np.unique(stratify[train]))
    if not _is_integer(train_size) or not classes <= train_size <= len(train):
        raise ValueError(
            f"Invalid value for option `train_size` of {name!r}: expected an integer from "
            f"{classes} to {len(train)} (the size of its training split). "
            f"Received: train_size={train_size!r}"
        )
    if train_size < len(train):
        train, _ = train_test_split(
            train, train_size=int(train_size), random_state=seed,
            stratify=None if stratify is None else stratify[train],
        )
    return {**indices, "train": np.sort(train)}


def to_pipelines(splits, *, batch_size, seed):
    """`(train, validation, test)` batched, prefetched datasets; train reshuffled each epoch."""
    return tuple(
        _batches(splits.x[split], splits.y[split], batch_size, seed if split == "train" else None)
        for split in ("train", "validation", "test")
    )


def _batches(x, y, batch_size, shuffle_seed):
    # The arrays already sit in memory (so `cache()` would only copy them again). Shuffling and
    # batching row indices, then gathering whole batches, costs one tf.data element per index
    # rather than per example tuple: about twice the batches per second.
    x, y = tf.nest.map_structure(tf.constant, x), tf.constant(y)  # x: a tensor or a dict of them
    n = int(y.shape[0])
    indices = tf.data.Dataset.range(n)
    if shuffle_seed is not None:
        indices = indices.shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(
        lambda i: (tf.nest.map_structure(lambda t: tf.gather(t, i), x), tf.gather(y, i)),
        num_parallel_calls=tf.data.AUTOTUNE
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def as_reconstruction(splits, info):
    """The same splits as an autoencoding task: every target is its own input."""
    return ArraySplits(splits.x, dict(splits.x), splits.indices), info.for_reconstruction()


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
