"""Your own arrays as a dataset: `from_arrays(x, y)`, and the checks, splits and scaling that the
csv:, npz: and images: sources share with it.

The steps are the built-in sets' own: `pipeline.split_indices` draws the splits from the seed
(stratified by class for classification), `pipeline.subsample_train` applies `train_size`, and
every fitted statistic (a StandardScaler) is fitted on the training split alone.
"""

import numbers

import numpy as np
from sklearn.preprocessing import StandardScaler

from eqzoo.datasets import pipeline
from eqzoo.datasets.info import DatasetInfo, Splits, Symmetry

CHOSEN_TASKS = ("classification", "regression")
# Stratified train, validation and test splits need one example of each class in each.
MIN_PER_CLASS = 3
FLOAT32_MAX = float(np.finfo(np.float32).max)


class DataFileNotFoundError(FileNotFoundError, ValueError):
    """A csv:, npz: or images: path that does not exist (also a ValueError, like all bad data)."""


def from_arrays(x, y, task=None, symmetry=None, *, name="arrays", structure=None,
                class_names=None, standardize=None, train_size=None, batch_size=32, seed=0,
                validation_fraction=None, test_fraction=None, reconstruction=False):
    """Train, validation and test splits of in-memory arrays, as `datasets.load` gives them.

    Args:
        x: inputs, shape `(examples, *input_shape)`, numeric; any input rank.
        y: one target per example: class labels (integers, strings or booleans) or numbers.
        task: "classification" or "regression"; None infers it from `y`: classification when
            it holds integers, strings or booleans, regression when it holds floats.
        symmetry: a `datasets.Symmetry` the ground truth has (kept in the info), or None.
        name: what the info and error messages call the data.
        structure: "vector", "image", "set", "signal" or "tensor"; None: "vector" for rank-1
            examples, "image" for `(h, w, 1 | 3 | 4)`, else "tensor".
        class_names: a name for each class, in the sorted order of the labels; None: the labels.
        standardize: True fits a StandardScaler (per input element, and per regression output)
            on the training split and applies it to all three; False leaves values as they are.
            None (default): True, except uint8 inputs, which are divided by 255 as image sets
            are, and data with a `symmetry`, left unscaled because a per-element scaler would
            break it (each position of a permuted axis would get its own mean).
        train_size, batch_size, seed, validation_fraction, test_fraction, reconstruction: as
            for `datasets.load`.

    Returns:
        `Splits(train, validation, test, info)`. Classes are mapped to `0..k-1` in sorted order
        of the labels; `info.class_names` keeps the labels.

    Example:

    >>> x = np.random.default_rng(0).normal(size=(60, 4))
    >>> splits = from_arrays(x, np.repeat(["cat", "dog", "eel"], 20), seed=0)
    >>> splits.info.num_classes, splits.info.class_names
    (3, ('cat', 'dog', 'eel'))
    """
    batch_size = pipeline.check_batch_size(batch_size)
    seed = pipeline.check_seed(seed)
    pipeline.check_fractions(validation_fraction, test_fraction)
    if not isinstance(reconstruction, bool):
        raise ValueError("Invalid value for argument `reconstruction`: expected True or False. "
                         f"Received: reconstruction={reconstruction!r}")
    arrays, fields = make_splits(
        name, x, y, task=task, symmetry=symmetry, structure=structure, class_names=class_names,
        standardize=standardize, train_size=train_size, seed=seed,
        validation_fraction=validation_fraction, test_fraction=test_fraction,
        source="in-memory arrays", description=f"Arrays given to datasets.from_arrays ({name}).")
    return to_splits(arrays, fields, batch_size=batch_size, seed=seed,
                     reconstruction=reconstruction)


def check_arrays(name, x, y, x_label="x", y_label="y"):
    """`x` and `y` as arrays: numeric inputs of shape `(examples, *input_shape)`, at least one
    example, one target per example, every value finite and within float32's range."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{name}: {x_label} must hold numbers. Received: dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(
            f"{name}: {x_label} must have shape (examples, *input_shape). Received: shape "
            f"{x.shape}" + ("" if x.ndim == 0 else "; one feature per example is "
                            "x.reshape(-1, 1)"))
    if len(x) == 0:
        raise ValueError(f"{name}: {x_label} holds no examples. Received: shape {x.shape}; "
                         "expected at least one example per split, (examples, *input_shape)")
    if y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"{name}: {x_label} and {y_label} must hold one target per example, so the same "
            f"length. Received: {x_label} of shape {x.shape}, {y_label} of shape {y.shape}")
    _check_finite(name, x, x_label)
    return x, y


def check_float32_range(name, values, label):
    """Refuses finite values beyond float32's range, which the model (and the float32 cast of
    the inputs) would turn into inf, and which overflow the scaler's variance."""
    if values.dtype.kind not in "iuf" or values.size == 0:
        return
    largest = float(np.max(np.abs(values.astype(np.float64))))
    if largest > FLOAT32_MAX:
        raise ValueError(f"{name}: {label} holds values up to {largest:.4g} in magnitude, beyond "
                         f"float32's range (±{FLOAT32_MAX:.4g}) that training uses; rescale it "
                         "(e.g. take logarithms or change units)")


def make_splits(name, x, y, *, task, symmetry, structure, class_names, standardize, train_size,
                seed, validation_fraction, test_fraction, source, description,
                x_label="x", y_label="y"):
    """Checked, split and scaled numpy arrays and the `DatasetInfo` fields that describe them."""
    x, y = check_arrays(name, x, y, x_label, y_label)
    check_float32_range(name, x, x_label)
    scaling = _scaling(name, standardize, x, symmetry)
    task = check_task(name, task)
    if task is None:
        task = "classification" if y.dtype.kind in "biuUSO" else "regression"
    if symmetry is not None:
        _check_symmetry(name, symmetry, x.shape[1:])
    if task == "classification":
        labels, class_names = encode_classes(name, y, y_label, class_names)
        stratify = labels
    else:
        if y.dtype.kind not in "biuf":
            raise ValueError(
                f"{name}: {y_label} must hold numbers for regression. Received: dtype {y.dtype}; "
                "pass task='classification' for class labels")
        if class_names is not None:
            raise ValueError(f"{name}: class_names apply to classification only. "
                             f"Received: class_names={class_names!r} for a regression task")
        labels = y.astype(np.float64).reshape(len(y), -1)
        _check_finite(name, labels, y_label)
        check_float32_range(name, labels, y_label)
        stratify = None

    indices = split(name, len(x), stratify, seed=seed, validation_fraction=validation_fraction,
                    test_fraction=test_fraction, train_size=train_size)

    xs, preprocessing = scale_inputs({s: x[i] for s, i in indices.items()}, scaling)
    ys = {s: labels[i] for s, i in indices.items()}
    if task == "classification":
        ys = {s: v.astype(np.int32) for s, v in ys.items()}
        output_shape = (len(class_names),)
    else:
        output_shape = tuple(int(d) for d in y.shape[1:]) or (1,)
        if scaling == "standard":
            ys, target_text = _standardize_targets(ys)
            preprocessing += f"; {target_text}"
        ys = {s: v.reshape(len(v), *output_shape).astype(np.float32) for s, v in ys.items()}
    input_shape = tuple(int(d) for d in x.shape[1:])
    fields = dict(
        name=name, task=task, structure=structure or infer_structure(input_shape),
        input_shape=input_shape, output_shape=output_shape,
        num_classes=len(class_names) if task == "classification" else None,
        train_size=len(indices["train"]), validation_size=len(indices["validation"]),
        test_size=len(indices["test"]), symmetry=symmetry, source=source,
        description=description, preprocessing=preprocessing,
        class_names=class_names if task == "classification" else None,
    )
    return pipeline.ArraySplits(xs, ys, indices), fields


def split(name, n, stratify, *, seed, validation_fraction, test_fraction, train_size):
    """`{"train", "validation", "test"}` row indices, drawn as for every built-in set."""
    validation_fraction = validation_fraction or pipeline.DEFAULT_VALIDATION_FRACTION
    test_fraction = test_fraction or pipeline.DEFAULT_TEST_FRACTION
    sizes = pipeline.split_sizes(n, validation_fraction, test_fraction, name=name, min_size=0)
    need = 1 if stratify is None else len(np.unique(stratify))
    for split_name, size in zip(("train", "validation", "test"), sizes, strict=True):
        if size < need:
            enough = fewest_examples(need, validation_fraction, test_fraction)
            would_do = (f"{enough} examples would do" if stratify is None else
                        f"{-(-enough // need)} of each of the {need} classes would do "
                        f"({enough} examples at least)")
            raise ValueError(
                f"{name}: {n} examples are too few for the splits: with validation_fraction="
                f"{validation_fraction:g} and test_fraction={test_fraction:g} the {split_name} "
                f"split would get {size}, but it needs at least {need}"
                f"{' (one per class)' if stratify is not None else ''}; {would_do}. Add "
                "examples or change the fractions")
    try:
        indices = pipeline.split_indices(n, validation_fraction, test_fraction, seed,
                                         name=name, stratify=stratify)
    except ValueError as error:  # scikit-learn's stratification, in rare roundings
        raise ValueError(f"{name}: {n} examples cannot be split by class ({error})") from None
    return pipeline.subsample_train(indices, train_size, seed, name=name, stratify=stratify)


def fewest_examples(need, validation_fraction, test_fraction):
    """The fewest examples whose splits each get at least `need` (rounded as `split_sizes`)."""
    # A split of fraction f gets floor(f n + 1/2) examples: at least `need` from (need - 1/2) / f
    # on; the search starts just below that, so a tiny fraction costs no long loop.
    n = max(need, *(int((need - 0.5) / f) - 1 for f in (validation_fraction, test_fraction)))
    while min(pipeline.split_sizes(n, validation_fraction, test_fraction, name="",
                                   min_size=0)) < need:
        n += 1
    return n


def to_splits(arrays, fields, *, batch_size, seed, reconstruction):
    info = DatasetInfo(**fields)
    if reconstruction:
        arrays, info = pipeline.as_reconstruction(arrays, info)
    return Splits(*pipeline.to_pipelines(arrays, batch_size=batch_size, seed=seed), info)


def scale_inputs(xs, scaling):
    """`xs` per split as float32, scaled as `scaling` says, and a sentence saying how."""
    if scaling == "unit":
        return ({s: (v / 255.0).astype(np.float32) for s, v in xs.items()},
                "uint8 inputs divided by 255 (no fitted statistics)")
    if scaling == "none":
        return {s: v.astype(np.float32) for s, v in xs.items()}, "inputs cast to float32, unscaled"
    flat = {s: v.reshape(len(v), -1).astype(np.float64) for s, v in xs.items()}
    scaler = StandardScaler().fit(flat["train"])
    return ({s: scaler.transform(v).reshape(xs[s].shape).astype(np.float32)
             for s, v in flat.items()},
            "inputs standardized by the training split's mean and standard deviation")


def check_task(name, task):
    if task is not None and task not in CHOSEN_TASKS:
        raise ValueError(f"Invalid value for option `task` of {name!r}: expected one of "
                         f"{list(CHOSEN_TASKS)} or None (inferred). Received: task={task!r}")
    return task


def check_bool_or_none(name, option, value):
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"Invalid value for option `{option}` of {name!r}: expected True, False "
                         f"or None. Received: {option}={value!r}")
    return value


def reject_tfds_arguments(name, data_dir, download):
    if data_dir is not None or download:
        raise ValueError(
            f"`data_dir` and `download` apply to tensorflow-datasets sets only, not to {name!r}. "
            f"Received: data_dir={data_dir!r}, download={download!r}")


def infer_structure(input_shape):
    if len(input_shape) == 1:
        return "vector"
    if len(input_shape) == 3 and input_shape[-1] in (1, 3, 4):
        return "image"
    return "tensor"


def too_few_classes_error(name, what, classes):
    shown = ", ".join(repr(c) for c in classes) or "none"
    return ValueError(f"{name}: {what} holds {len(classes)} class(es) ({shown}), but "
                      "classification needs at least 2")


def encode_classes(name, y, y_label, class_names):
    """Labels as class ids `0..k-1` in sorted order of the labels, and a name for each class."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name}: classification needs one label per example. Received: "
                         f"{y_label} of shape {y.shape}")
    if y.dtype.kind == "f":
        _check_finite(name, y, y_label)
    try:
        classes, labels = np.unique(y, return_inverse=True)
    except TypeError as error:
        raise ValueError(f"{name}: the labels in {y_label} cannot be sorted ({error}); use labels "
                         "of one type") from None
    if len(classes) < 2:
        raise too_few_classes_error(name, y_label, classes.tolist())
    counts = np.bincount(labels)
    if counts.min() < MIN_PER_CLASS:
        rare = classes[np.argmin(counts)].item()
        if class_names is not None and len(class_names) == len(classes):  # name it, not its id
            rare = class_names[int(np.argmin(counts))]
        # Unnamed integer labels may be a count or a year, inferred as classes.
        quantity = y.dtype.kind in "iu" and class_names is None
        raise ValueError(
            f"{name}: class {rare!r} has {counts.min()} example(s), fewer than the "
            f"{MIN_PER_CLASS} that stratified train, validation and test splits need (one in "
            "each); add examples or merge rare classes"
            + (", or pass task='regression' if the target is a quantity" if quantity else ""))
    if class_names is None:
        class_names = tuple(str(c) for c in classes.tolist())
    elif len(class_names) != len(classes) or not all(isinstance(c, str) for c in class_names):
        raise ValueError(f"{name}: class_names must be {len(classes)} strings, one for each class "
                         f"{classes.tolist()}. Received: class_names={class_names!r}")
    return labels, tuple(class_names)


def _check_finite(name, values, label):
    if values.dtype.kind != "f":
        return
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        raise ValueError(f"{name}: {label} holds NaN or inf in {int(bad.sum())} of "
                         f"{len(values)} examples (the first is example {int(np.argmax(bad))}); "
                         "drop or fill them")


def _check_symmetry(name, symmetry, input_shape):
    if not isinstance(symmetry, Symmetry):
        raise ValueError(f"{name}: symmetry must be a datasets.Symmetry or None. "
                         f"Received: {type(symmetry).__name__}")
    if symmetry.rep_in is not None:
        if symmetry.rep_in.dim != int(np.prod(input_shape)):
            raise ValueError(f"{name}: the symmetry's rep_in acts on {symmetry.rep_in.dim} values,"
                             f" but examples have shape {input_shape}")
        return
    if not (isinstance(symmetry.axis, numbers.Integral) and 0 <= symmetry.axis < len(input_shape)
            and input_shape[symmetry.axis] == symmetry.group.dim):
        raise ValueError(f"{name}: the symmetry's group acts on {symmetry.group.dim} coordinates "
                         f"along axis {symmetry.axis} of an example, but examples have shape "
                         f"{input_shape}")


def _scaling(name, standardize, x, symmetry):
    standardize = check_bool_or_none(name, "standardize", standardize)
    if standardize is None:
        if x.dtype == np.uint8:
            return "unit"
        return "none" if symmetry is not None else "standard"
    return "standard" if standardize else "none"


def _standardize_targets(ys):
    scaler = StandardScaler().fit(ys["train"])
    scaled = {s: scaler.transform(v) for s, v in ys.items()}
    if scaler.mean_.size == 1:
        text = (f"target standardized with the training split's mean {scaler.mean_[0]:.4g} and "
                f"standard deviation {scaler.scale_[0]:.4g}")
    else:
        text = "targets standardized by the training split's mean and standard deviation"
    return scaled, text
