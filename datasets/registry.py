"""Datasets by name: `load`, `list_datasets`, `get_info`, and `register` for the adapters.

Each adapter module (sklearn_sets, tfds_sets, synthetic) registers its names when imported. A
registered loader is called with every argument of `load` by keyword, already checked, and
returns a `Splits`.
"""

import fnmatch
import warnings
from collections.abc import Callable
from typing import NamedTuple

from eqzoo.datasets import pipeline
from eqzoo.messages import close_matches


class UnknownDatasetError(ValueError):
    """A dataset name that no adapter knows."""


class _Entry(NamedTuple):
    loader: Callable
    source: str
    description: str


_REGISTRY = {}
# "tfds:" -> loader for any name after the prefix.
_PREFIXES = {}


def register(name, loader, *, source, description):
    """Make `load(name, ...)` call `loader(name, ...)`; registering a name twice warns."""
    if name in _REGISTRY:
        warnings.warn(
            f"Dataset {name!r} is already registered; the new loader replaces it.", stacklevel=2
        )
    _REGISTRY[name] = _Entry(loader, source, description)


def register_prefix(prefix, loader):
    """Make `load(prefix + rest, ...)` call `loader(prefix + rest, ...)` for any `rest`."""
    _PREFIXES[prefix] = loader


def list_datasets(pattern="*"):
    """Registered names matching a shell-style wildcard, sorted: `list_datasets("set_*")`.

    Any tensorflow-datasets set is also reachable as "tfds:<name>" without being listed.
    """
    if not isinstance(pattern, str):
        raise TypeError("Invalid value for argument `pattern` of list_datasets: expected a "
                        f"shell-style wildcard string, e.g. 'set_*'. Received: pattern={pattern!r}")
    return sorted(fnmatch.filter(_REGISTRY, pattern))


def describe(name):
    """`(source, description)` of a registered name, without loading anything."""
    entry = _entry(name)
    return entry.source, entry.description


def load(
    name,
    *,
    batch_size=32,
    seed=0,
    validation_fraction=None,
    test_fraction=None,
    reconstruction=False,
    data_dir=None,
    download=False,
    **options,
):
    """Train, validation and test splits of a dataset as batched, prefetched `tf.data` pipelines.

    Args:
        name: a name from `list_datasets()`, "tfds:<name>" for any tensorflow-datasets set, or
            your own data: "csv:PATH", "npz:PATH", "images:DIR", "pointcloud:PATH" (see
            `datasets.files`, `datasets.images` and `datasets.point_clouds` for their options,
            e.g. `target="class"` for a CSV file).
        batch_size: examples per batch (the last batch of a split may be smaller).
        seed: fixes the split, the synthetic data and the training order (reshuffled each epoch).
        validation_fraction, test_fraction: the share of all examples in each split, strictly
            between 0 and 1; None means 0.1 and 0.2. A tensorflow-datasets set that ships its own
            validation or test split uses it, and then the matching fraction must stay None.
        reconstruction: serve the set to an autoencoder: every target is its input.
        data_dir: tensorflow-datasets only: where prepared data lives (default:
            $EQZOO_TFDS_DATA_DIR, else $TFDS_DATA_DIR, else ~/tensorflow_datasets).
        download: tensorflow-datasets only: download and prepare the data if it is missing.
            Off by default, so that nothing ever waits on the network unasked.
        **options: source-specific options, e.g. `num_examples` or `set_size` for synthetic tasks;
            `train_size` (scikit-learn and synthetic sets) keeps that many training examples,
            drawn by the seed and stratified by class, with validation and test unchanged.

    Returns:
        `Splits(train, validation, test, info)`, a named tuple; `info` is a `DatasetInfo`.

    Example:

    >>> train, validation, test, info = load("digits", batch_size=64, seed=1)
    >>> info.input_shape, info.num_classes
    ((8, 8, 1), 10)
    """
    batch_size = pipeline.check_batch_size(batch_size)
    seed = pipeline.check_seed(seed)
    pipeline.check_fractions(validation_fraction, test_fraction)
    for argument, value in [("reconstruction", reconstruction), ("download", download)]:
        if not isinstance(value, bool):
            raise ValueError(
                f"Invalid value for argument `{argument}`: expected True or False. "
                f"Received: {argument}={value!r}"
            )
    loader = _loader(name)
    return loader(
        name,
        batch_size=batch_size,
        seed=seed,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        reconstruction=reconstruction,
        data_dir=data_dir,
        download=download,
        **options,
    )


def get_info(name, **kwargs):
    """The `DatasetInfo` that `load(name, **kwargs)` would return (pipelines are built lazily)."""
    return load(name, **kwargs).info


def reject_tfds_arguments(name, data_dir, download):
    """For sources that read nothing from disk: `data_dir` and `download` would be ignored."""
    if data_dir is not None or download:
        raise ValueError(
            f"`data_dir` and `download` apply to tensorflow-datasets sets only, and {name!r} is "
            f"built in memory. Received: data_dir={data_dir!r}, download={download!r}"
        )


def reject_options(name, options, allowed):
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        expected = f"one of {sorted(allowed)}" if allowed else "none"
        raise ValueError(
            f"Unknown option(s) {unknown} for dataset {name!r}: its options are {expected}. "
            f"Received: {options!r}"
        )


def unknown_name_error(name, known, hint):
    close = close_matches(name, known, n=5)
    suggestion = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownDatasetError(f"Unknown dataset {name!r}.{suggestion} {hint}")


def _entry(name):
    if not isinstance(name, str) or name not in _REGISTRY:
        raise unknown_name_error(
            str(name),
            list(_REGISTRY),
            f"datasets.list_datasets() lists the {len(_REGISTRY)} registered names; any "
            "tensorflow-datasets set loads as 'tfds:<name>', your own data as 'csv:PATH', "
            "'npz:PATH', 'images:DIR' or 'pointcloud:PATH'.",
        )
    return _REGISTRY[name]


def _loader(name):
    if isinstance(name, str):
        for prefix, loader in _PREFIXES.items():
            if name.startswith(prefix):
                return loader
    return _entry(name).loader
