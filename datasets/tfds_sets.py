"""tensorflow-datasets sets: mnist, fashion_mnist, cifar10 by short name, any set as "tfds:<name>".

Images can be rotated, MNIST-rot style: `load("mnist", rotate="test", angles="any")` (see
`datasets.rotation`).

Offline unless asked: data must already be prepared in the data directory. If it is not, loading
fails at once with the command that prepares it on a machine with a network; only
`download=True` lets tensorflow-datasets download. (As installed, a plain `tfds.load` retries the
network for minutes before it gives up.)
"""

import math
import os

import tensorflow as tf

from eqzoo.datasets import pipeline, rotation
from eqzoo.datasets.info import DatasetInfo, Splits
from eqzoo.datasets.registry import register, register_prefix, reject_options, unknown_name_error

PREFIX = "tfds:"
SHORT_NAMES = {
    "mnist": "70000 handwritten digits as 28x28 grey images, 10 classes (tensorflow-datasets).",
    "fashion_mnist": "70000 Zalando clothing images, 28x28 grey, 10 classes (tensorflow-datasets).",
    "cifar10": "60000 32x32 colour images of 10 object classes (tensorflow-datasets).",
}
DATA_DIR_VARIABLES = ("EQZOO_TFDS_DATA_DIR", "TFDS_DATA_DIR")
# Splits whose decoded examples fit in this many bytes are cached in memory after the first epoch.
CACHE_LIMIT_BYTES = 2**30
SHUFFLE_BUFFER_LIMIT = 2**16


class DatasetNotPreparedError(FileNotFoundError):
    """A tensorflow-datasets set that is not in the data directory, with download off."""


def resolve_data_dir(data_dir, download, tfds_name):
    """`(path, origin)` of the local directory to read: the argument, else $EQZOO_TFDS_DATA_DIR,
    else $TFDS_DATA_DIR, else ~/tensorflow_datasets; checked to exist (created if `download`) and
    to be a readable directory."""
    origin = "argument `data_dir`"
    if data_dir is None:
        origin, data_dir = next(
            ((f"${var}", os.environ[var]) for var in DATA_DIR_VARIABLES if os.environ.get(var)),
            ("the default", "~/tensorflow_datasets"),
        )
    data_dir = str(data_dir)
    if "://" in data_dir:
        raise ValueError(
            "eqzoo reads tensorflow-datasets data from a local directory. "
            f"Received data_dir={data_dir!r} (from {origin})"
        )
    path = os.path.abspath(os.path.expanduser(data_dir))
    if not os.path.exists(path) and download:
        os.makedirs(path)
    if not os.path.exists(path):
        raise DatasetNotPreparedError(
            f"tensorflow-datasets set {tfds_name!r} is not prepared: the data_dir {path} (from "
            f"{origin}) does not exist. {_how_to_prepare(tfds_name, path)}"
        )
    if not os.path.isdir(path):
        raise NotADirectoryError(
            f"The tensorflow-datasets data_dir {path} (from {origin}) is not a directory."
        )
    if not os.access(path, os.R_OK | os.X_OK):
        raise PermissionError(
            f"The tensorflow-datasets data_dir {path} (from {origin}) is not readable by this user."
        )
    return path, origin


def prepare_command(tfds_name, data_dir):
    """The one command that prepares `tfds_name` in `data_dir` on a machine with a network."""
    return (
        "python -c \"import tensorflow_datasets as tfds; "
        f"tfds.builder('{tfds_name}', data_dir='{data_dir}').download_and_prepare()\""
    )


def _how_to_prepare(tfds_name, data_dir):
    return (
        "eqzoo does not download unless asked. On a machine with a network, prepare it with:\n"
        f"    {prepare_command(tfds_name, data_dir)}\n"
        "then copy that directory here, or pass download=True (train.py --download)."
    )


def load(name, *, batch_size, seed, validation_fraction, test_fraction, reconstruction,
         data_dir, download, **options):
    reject_options(name, options, allowed=("rotate", "angles"))
    rotate, angles = rotation.check_rotation_options(name, options, reconstruction=reconstruction)
    tfds_name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    tfds = _import_tfds()
    dataset_name = _check_offline_name(name, tfds_name, download)
    try:
        data_dir, origin = resolve_data_dir(data_dir, download, tfds_name)
    except DatasetNotPreparedError:
        # Without a data directory only registered names can exist: say so for a typo.
        if not dataset_name.namespace and dataset_name.name not in _registered(tfds):
            raise _unknown(tfds, name, tfds_name, "") from None
        raise
    builder = _builder(tfds, name, tfds_name, data_dir)
    if not builder.is_prepared():
        if not download:
            raise DatasetNotPreparedError(
                f"tensorflow-datasets set {tfds_name!r} is not prepared in {data_dir} (from "
                f"{origin}; looked for {builder.data_path}). {_how_to_prepare(tfds_name, data_dir)}"
            )
        builder.download_and_prepare()
    info = builder.info
    keys = info.supervised_keys
    if not keys or len(keys) != 2 or not all(isinstance(k, str) for k in keys):
        raise ValueError(
            f"tensorflow-datasets set {tfds_name!r} has no (input, target) supervised keys, so "
            f"eqzoo cannot tell inputs from targets. Received: supervised_keys={keys!r}, "
            f"features: {sorted(info.features.keys())}"
        )
    x_feature, y_feature = info.features[keys[0]], info.features[keys[1]]
    input_shape = _static_shape(tfds_name, keys[0], x_feature)
    rotation.check_rotation_options(name, options, input_shape)
    if isinstance(y_feature, tfds.features.ClassLabel):
        task, num_classes = "classification", y_feature.num_classes
        output_shape = (num_classes,)
    else:
        task, num_classes = "regression", None
        output_shape = _static_shape(tfds_name, keys[1], y_feature) or (1,)
    specs, sizes = _split_plan(tfds_name, info.splits, validation_fraction, test_fraction)
    x_dtype = tf.as_dtype(x_feature.dtype)
    scale = 1.0 / 255.0 if x_dtype == tf.uint8 else 1.0
    bytes_per_example = math.prod(input_shape) * x_dtype.size

    def convert(x, y):
        x = tf.cast(x, tf.float32) * scale
        if reconstruction:
            return x, x
        if task == "classification":
            return x, tf.cast(y, tf.int32)
        return x, tf.reshape(tf.cast(y, tf.float32), (-1, *output_shape))

    pipelines = []
    for split in ("train", "validation", "test"):
        ds = builder.as_dataset(split=specs[split], as_supervised=True, shuffle_files=False)
        if sizes[split] * bytes_per_example <= CACHE_LIMIT_BYTES:
            ds = ds.cache()
        if split == "train":
            buffer = min(sizes[split], SHUFFLE_BUFFER_LIMIT)
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        # Converting whole batches costs one op per batch rather than one per example.
        ds = ds.batch(batch_size).map(convert, num_parallel_calls=tf.data.AUTOTUNE)
        if rotate == "all" or (rotate == "test" and split == "test"):
            ds = rotation.rotate_batches(ds, angles, seed)
        pipelines.append(ds.prefetch(tf.data.AUTOTUNE))

    if isinstance(x_feature, tfds.features.Image):
        structure = "image"
    else:
        structure = "vector" if len(input_shape) == 1 else "tensor"
    dataset_info = DatasetInfo(
        name=name,
        task=task,
        structure=structure,
        input_shape=input_shape,
        output_shape=output_shape,
        num_classes=num_classes,
        train_size=sizes["train"],
        validation_size=sizes["validation"],
        test_size=sizes["test"],
        symmetry=None,
        source=f"tfds {info.full_name} from {data_dir} (splits {specs})",
        description=(info.description or tfds_name).strip().split("\n\n")[0],
        preprocessing=("uint8 inputs divided by 255" if scale != 1.0 else "inputs cast to float32")
        + (f"; {rotation.describe(rotate, angles)}" if rotate else ""),
    )
    if reconstruction:
        dataset_info = dataset_info.for_reconstruction()
    return Splits(*pipelines, dataset_info)


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
        from tensorflow_datasets.core.utils import gcs_utils
    except ImportError as error:
        raise ImportError(
            f"tensorflow-datasets could not be imported ({error}). Install the project with its "
            "dependencies, `pip install -e .`, which also declares importlib_resources: "
            "tensorflow-datasets needs it without declaring it."
        ) from error
    # Never look on Google Cloud Storage for prepared data or metadata: offline means offline.
    gcs_utils._is_gcs_disabled = True
    return tfds


def _check_offline_name(name, tfds_name, download):
    from tensorflow_datasets.core import naming

    try:
        dataset_name, _ = naming.parse_builder_name_kwargs(tfds_name)
    except (ValueError, TypeError) as error:
        hint = f"tensorflow-datasets cannot parse it: {error}"
        raise unknown_name_error(name, [], hint) from None
    # Community namespaces (huggingface:, kaggle:, ...) resolve their builders over the network.
    if dataset_name.namespace and not download:
        raise ValueError(
            f"tensorflow-datasets set {tfds_name!r} lives in the community namespace "
            f"{dataset_name.namespace!r}, which is resolved over the network; pass download=True "
            "to allow that."
        )
    return dataset_name


def _builder(tfds, name, tfds_name, data_dir):
    from tensorflow_datasets.core.registered import DatasetNotFoundError

    try:
        return tfds.builder(tfds_name, data_dir=data_dir)
    except DatasetNotFoundError:
        raise _unknown(tfds, name, tfds_name, f" nor {data_dir}") from None


def _registered(tfds):
    return tfds.list_builders(with_community_datasets=False)


def _unknown(tfds, name, tfds_name, where):
    return unknown_name_error(
        name,
        [PREFIX + n for n in _registered(tfds)] + list(SHORT_NAMES),
        f"Neither tensorflow-datasets{where} knows {tfds_name!r}; tfds.list_builders() lists "
        "its sets.",
    )


def _static_shape(tfds_name, key, feature):
    shape = tuple(feature.shape)
    dtype = tf.as_dtype(feature.dtype)
    if any(d is None for d in shape) or not (dtype.is_integer or dtype.is_floating):
        raise ValueError(
            f"tensorflow-datasets set {tfds_name!r}: feature {key!r} must be numeric with a fixed "
            f"shape. Received: shape={shape}, dtype={feature.dtype}"
        )
    return tuple(int(d) for d in shape)


def _split_plan(tfds_name, splits, validation_fraction, test_fraction):
    """tfds split strings and sizes. Validation and test come from the set when it has them, else
    from the end of "train": tfds shuffles examples when preparing, so that is a random subset,
    and the same one for every seed."""
    if "train" not in splits:
        raise ValueError(
            f"tensorflow-datasets set {tfds_name!r} has no 'train' split. "
            f"Received splits: {sorted(splits.keys())}"
        )
    asked = {"validation": validation_fraction, "test": test_fraction}
    defaults = {
        "validation": pipeline.DEFAULT_VALIDATION_FRACTION,
        "test": pipeline.DEFAULT_TEST_FRACTION,
    }
    for split, fraction in asked.items():
        if split in splits and fraction is not None:
            raise ValueError(
                f"tensorflow-datasets set {tfds_name!r} ships its own {split!r} split, so "
                f"`{split}_fraction` must be None. Received: {split}_fraction={fraction!r}"
            )
    carved = {s: 0 if s in splits else (asked[s] or defaults[s]) for s in asked}
    n_train, n_val, _ = pipeline.split_sizes(
        splits["train"].num_examples, carved["validation"], carved["test"], name=tfds_name
    )
    end_val = n_train + n_val
    specs = {
        "train": f"train[:{n_train}]",
        "validation": "validation" if carved["validation"] == 0 else f"train[{n_train}:{end_val}]",
        "test": "test" if carved["test"] == 0 else f"train[{end_val}:]",
    }
    return specs, {split: splits[spec].num_examples for split, spec in specs.items()}


register_prefix(PREFIX, load)
for _name, _description in SHORT_NAMES.items():
    register(_name, load, source="tensorflow-datasets", description=_description)
