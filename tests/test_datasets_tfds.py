"""tensorflow-datasets adapter: real prepared data in a temporary data_dir, mocks, offline errors.

Tiny builders are prepared into a temporary directory (their generators need no download), then
read back by name through `datasets.load`, as data prepared on another machine would be.
"""

import os
import socket
import sys
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from eqzoo import datasets


def images(seed, n):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 6, 6, 1), dtype=np.uint8), np.arange(n) % 4


class TinyImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """6x6 grey images in 4 classes, with train, validation and test splits."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(6, 6, 1)),
            "label": tfds.features.ClassLabel(num_classes=4),
        })
        return tfds.core.DatasetInfo(
            builder=self, features=features, supervised_keys=("image", "label")
        )

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(0, 40),
            "validation": self._generate_examples(1, 8),
            "test": self._generate_examples(2, 12),
        }

    def _generate_examples(self, seed, n):
        x, y = images(seed, n)
        for i in range(n):
            yield i, {"image": x[i], "label": y[i]}


class TinyVectors(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Float vectors, a float target, and only a train split (validation and test get carved)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self, features=self.vector_features(), supervised_keys=("x", "y")
        )

    @staticmethod
    def vector_features():
        return tfds.features.FeaturesDict({
            "x": tfds.features.Tensor(shape=(3,), dtype=np.float32),
            "y": tfds.features.Scalar(np.float32),
        })

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(50):
            yield i, {"x": np.full(3, i, np.float32), "y": np.float32(i)}


class TinyUnsupervised(TinyVectors, skip_registration=True):
    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=self.vector_features())


class EqzooTinyDownload(TinyVectors):
    """Registered under its name, so `download=True` can prepare it like any tfds set."""


def collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds-prepared"))
    for builder in (TinyImages, TinyVectors, TinyUnsupervised):
        builder(data_dir=data_dir).download_and_prepare()
    return data_dir


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError(f"test forbids network access (tried {address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield attempts
    assert not attempts, f"network was attempted: {attempts}"


def test_prepared_images_load_by_name(prepared_dir, no_network):
    train, validation, test, info = datasets.load(
        "tfds:tiny_images", data_dir=prepared_dir, batch_size=8
    )
    assert (info.train_size, info.validation_size, info.test_size) == (40, 8, 12)
    assert info.task == "classification" and info.num_classes == 4 and info.input_shape == (6, 6, 1)
    assert info.structure == "image" and "tiny_images/1.0.0" in info.source
    x, y = collect(test)
    assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (12, 6, 6, 1)
    raw, labels = images(2, 12)
    # tfds shuffles examples when preparing: compare as sets of (label, pixels).
    pixels = np.round(x * 255).astype(np.uint8)
    got = sorted((int(label), bytes(img)) for img, label in zip(pixels, y, strict=True))
    assert got == sorted((int(label), bytes(img)) for img, label in zip(raw, labels, strict=True))
    assert sum(len(b[1]) for b in train) == 40 and next(iter(train))[0].shape[0] == 8


def test_train_order_is_fixed_by_seed_and_reshuffled_each_epoch(prepared_dir):
    a = datasets.load("tfds:tiny_images", data_dir=prepared_dir, seed=3).train
    b = datasets.load("tfds:tiny_images", data_dir=prepared_dir, seed=3).train
    first = collect(a)[0]
    np.testing.assert_array_equal(first, collect(b)[0])
    second = collect(a)[0]
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(
        np.sort(first.reshape(40, -1), axis=0), np.sort(second.reshape(40, -1), axis=0)
    )


def test_missing_splits_are_carved_from_train(prepared_dir):
    train, validation, test, info = datasets.load(
        "tfds:tiny_vectors", data_dir=prepared_dir, test_fraction=0.3
    )
    assert (info.train_size, info.validation_size, info.test_size) == (30, 5, 15)
    assert info.task == "regression" and info.output_shape == (1,) and info.structure == "vector"
    parts = [collect(ds) for ds in (train, validation, test)]
    assert [len(x) for x, _ in parts] == [30, 5, 15]
    assert sorted(np.concatenate([y[:, 0] for _, y in parts]).tolist()) == list(range(50))
    np.testing.assert_array_equal(parts[1][0][:, 0], parts[1][1][:, 0])


def test_reconstruction(prepared_dir):
    _, _, test, info = datasets.load("tfds:tiny_images", data_dir=prepared_dir, reconstruction=True)
    x, y = collect(test)
    np.testing.assert_array_equal(x, y)
    assert info.task == "reconstruction" and info.output_shape == (6, 6, 1)
    assert info.num_classes is None


def test_own_splits_exclude_fractions(prepared_dir):
    own_validation = "its own 'validation' split, so `validation_fraction` must"
    with pytest.raises(ValueError, match=own_validation):
        datasets.load("tfds:tiny_images", data_dir=prepared_dir, validation_fraction=0.2)


def test_no_supervised_keys(prepared_dir):
    unsupervised = r"'tiny_unsupervised' has no \(input, target\) supervised"
    with pytest.raises(ValueError, match=unsupervised):
        datasets.load("tfds:tiny_unsupervised", data_dir=prepared_dir)


def test_unprepared_set_fails_fast_offline_and_says_how_to_prepare(tmp_path, no_network):
    start = time.perf_counter()
    with pytest.raises(datasets.DatasetNotPreparedError) as caught:
        datasets.load("mnist", data_dir=str(tmp_path))
    # A plain tfds.load retries the network for minutes; the guard must not.
    assert time.perf_counter() - start < 20
    message = str(caught.value)
    assert f"'mnist' is not prepared in {tmp_path}" in message
    assert os.path.join(str(tmp_path), "mnist", "3.0.1") in message
    assert f"tfds.builder('mnist', data_dir='{tmp_path}').download_and_prepare()" in message


def test_download_prepares_a_registered_set(tmp_path, no_network):
    target = tmp_path / "new"
    with pytest.raises(datasets.DatasetNotPreparedError, match="does not exist"):
        datasets.load("tfds:eqzoo_tiny_download", data_dir=str(target))
    info = datasets.load("tfds:eqzoo_tiny_download", data_dir=str(target), download=True).info
    assert info.train_size == 35 and (target / "eqzoo_tiny_download" / "1.0.0").is_dir()


def test_data_dir_from_environment(prepared_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EQZOO_TFDS_DATA_DIR", prepared_dir)
    assert datasets.get_info("tfds:tiny_images").train_size == 40
    monkeypatch.delenv("EQZOO_TFDS_DATA_DIR")
    with pytest.raises(datasets.DatasetNotPreparedError, match=r"from \$TFDS_DATA_DIR"):
        datasets.load("cifar10")
    monkeypatch.delenv("TFDS_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    missing = r"tensorflow_datasets \(from the default\) does not exist"
    with pytest.raises(datasets.DatasetNotPreparedError, match=missing):
        datasets.load("fashion_mnist")


def test_bad_data_dirs(tmp_path, monkeypatch):
    missing = f"the data_dir {tmp_path}/absent .* does not exist"
    with pytest.raises(datasets.DatasetNotPreparedError, match=missing):
        datasets.load("mnist", data_dir=str(tmp_path / "absent"))
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        datasets.load("mnist", data_dir=str(tmp_path / "file"))
    with pytest.raises(ValueError, match="from a local directory. Received data_dir='gs://bucket'"):
        datasets.load("mnist", data_dir="gs://bucket")
    # Tests run as root, whom chmod does not stop, so unreadability is simulated.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match=f"data_dir {tmp_path} .* is not readable"):
        datasets.load("mnist", data_dir=str(tmp_path))


@pytest.mark.parametrize(
    "name, match",
    [
        ("tfds:mnsit", "Did you mean: 'tfds:mnist'"),
        ("tfds:tiny_imagez", "Neither tensorflow-datasets nor .* knows 'tiny_imagez'"),
    ],
)
def test_unknown_tfds_names(name, match, prepared_dir):
    with pytest.raises(datasets.UnknownDatasetError, match=match):
        datasets.load(name, data_dir=prepared_dir)


def test_community_namespaces_need_download(tmp_path, no_network):
    with pytest.raises(ValueError, match="community namespace 'huggingface'.*download=True"):
        datasets.load("tfds:huggingface:mnist", data_dir=str(tmp_path))


def test_missing_tensorflow_datasets_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ImportError, match="pip install -e .*importlib_resources"):
        datasets.load("mnist")


@pytest.mark.parametrize(
    "name, shape",
    [("mnist", (28, 28, 1)), ("fashion_mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))],
)
def test_short_names_with_mocked_data(name, shape, tmp_path, no_network):
    # Real metadata (features, split sizes) in data_dir; examples from tfds.testing.mock_data.
    builder = tfds.builder(name, data_dir=str(tmp_path))
    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name="train", shard_lengths=[100], num_bytes=0),
        tfds.core.SplitInfo(name="test", shard_lengths=[30], num_bytes=0),
    ]))
    os.makedirs(builder.data_path, exist_ok=True)
    builder.info.write_to_directory(builder.data_path)
    with tfds.testing.mock_data(num_examples=6, data_dir=str(tmp_path)):
        train, validation, test, info = datasets.load(name, data_dir=str(tmp_path), batch_size=4)
        x, y = collect(train)
    assert (info.train_size, info.validation_size, info.test_size) == (90, 10, 30)
    assert info.input_shape == shape and info.num_classes == 10
    assert info.source.startswith(f"tfds {name}/")
    assert x.shape == (6, *shape) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == np.int32 and set(y) <= set(range(10))
