"""datasets/: the registry, argument checks, scikit-learn splits (no leaks) and pipelines."""

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn import datasets as sk_datasets
from sklearn.preprocessing import StandardScaler

from eqzoo import datasets
from eqzoo.datasets import emlp_tasks, nbody, registry, sklearn_sets, synthetic, tfds_sets
from eqzoo.datasets.info import DatasetInfo
from tests.dataset_checks import assert_splits_match_info, collect

IN_MEMORY = [n for n in datasets.list_datasets() if n not in tfds_sets.SHORT_NAMES]
TABULAR = ["iris", "wine", "breast_cancer", "diabetes"]


def small(name):
    """Options that keep a dataset tiny."""
    if name == nbody.NAME:
        return {"num_train": 20, "num_validation": 10, "num_test": 10}
    return {"num_examples": 100} if name in {**synthetic.TASKS, **emlp_tasks.TASKS} else {}


def test_marker_and_names():
    assert set(datasets.list_datasets()) == {
        "digits", "iris", "wine", "breast_cancer", "diabetes", "mnist", "fashion_mnist", "cifar10",
        "quadratic_form", "set_sum", "set_max", "cyclic_signal", "hopfield_patterns",
        "digits_rotated", "graph_triangles", "line_graph_degrees", "nbody_charged",
        "o5_synthetic", "inertia", "particle_scattering",
    }
    assert datasets.list_datasets("set_*") == ["set_max", "set_sum"]
    assert datasets.describe("digits")[0] == "scikit-learn"


def test_register_twice_warns(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        datasets.register("toy", sklearn_sets.load, source="test", description="toy")
    with pytest.warns(UserWarning, match="'toy' is already registered"):
        datasets.register("toy", sklearn_sets.load, source="test", description="toy")


@pytest.mark.parametrize("name", IN_MEMORY)
def test_every_in_memory_dataset_matches_its_info(name):
    splits = datasets.load(name, batch_size=16, seed=0, **small(name))
    info = splits.info
    assert_splits_match_info(splits, batch_size=16)
    json.dumps(info.to_dict())
    assert datasets.get_info(name, **small(name)) == info


@pytest.mark.parametrize("name", TABULAR)
def test_scaling_is_fitted_on_the_training_split_only(name):
    arrays, fields = sklearn_sets.make_arrays(
        name, seed=3, validation_fraction=0.15, test_fraction=0.25
    )
    loader = sklearn_sets.SETS[name][0]
    raw = loader()
    idx = arrays.indices
    assert sorted(np.concatenate(list(idx.values()))) == list(range(len(raw.data)))
    scaler = StandardScaler().fit(raw.data[idx["train"]])
    for split in idx:
        expected = scaler.transform(raw.data[idx[split]])
        np.testing.assert_allclose(arrays.x[split], expected, atol=1e-5)
    np.testing.assert_allclose(arrays.x["train"].mean(axis=0), 0, atol=1e-5)
    # Statistics of all the data would centre the union, and not the training split alone.
    everything = np.concatenate(list(arrays.x.values()))
    assert np.abs(everything.mean(axis=0)).max() > 1e-3
    if fields["task"] == "regression":
        t = raw.target[idx["train"]]
        expected = (raw.target[idx["test"]] - t.mean()) / t.std()
        np.testing.assert_allclose(arrays.y["test"][:, 0], expected, atol=1e-5)


def test_load_delivers_the_scaled_arrays_in_order():
    arrays, _ = sklearn_sets.make_arrays("wine", seed=5, validation_fraction=0.1, test_fraction=0.2)
    train, validation, test, _ = datasets.load("wine", seed=5)
    for ds, split in [(validation, "validation"), (test, "test")]:
        x, y = collect(ds)
        np.testing.assert_array_equal(x, arrays.x[split])
        np.testing.assert_array_equal(y, arrays.y[split])
    x, _ = collect(train)
    np.testing.assert_array_equal(np.sort(x, axis=0), np.sort(arrays.x["train"], axis=0))


def test_digits_pixels_are_divided_by_sixteen():
    arrays, fields = sklearn_sets.make_arrays(
        "digits", seed=0, validation_fraction=0.1, test_fraction=0.2
    )
    images = sk_datasets.load_digits().images
    expected = images[arrays.indices["test"]] / 16.0
    np.testing.assert_allclose(arrays.x["test"][..., 0], expected, atol=1e-7)
    assert fields["input_shape"] == (8, 8, 1) and fields["structure"] == "image"


def test_splits_are_stratified_and_sized_as_asked():
    arrays, _ = sklearn_sets.make_arrays("iris", seed=1, validation_fraction=0.2, test_fraction=0.2)
    for split, expected in [("train", 90), ("validation", 30), ("test", 30)]:
        counts = np.bincount(arrays.y[split], minlength=3)
        assert counts.sum() == expected and counts.max() - counts.min() <= 1


def test_seed_fixes_the_split_and_the_order():
    a = datasets.load("digits", batch_size=64, seed=7)
    b = datasets.load("digits", batch_size=64, seed=7)
    c = datasets.load("digits", batch_size=64, seed=8)
    np.testing.assert_array_equal(collect(a.train)[0], collect(b.train)[0])
    np.testing.assert_array_equal(collect(a.test)[0], collect(b.test)[0])
    assert not np.array_equal(collect(a.test)[0], collect(c.test)[0])
    first, second = collect(a.train)[1], collect(a.train)[1]
    assert not np.array_equal(first, second)  # reshuffled each epoch
    np.testing.assert_array_equal(np.sort(first), np.sort(second))
    np.testing.assert_array_equal(collect(a.validation)[0], collect(a.validation)[0])


@pytest.mark.parametrize("name", ["digits", "diabetes", "set_sum", "inertia"])
def test_reconstruction_targets_are_the_inputs(name):
    plain = datasets.get_info(name, **small(name))
    train, _, test, info = datasets.load(name, reconstruction=True, **small(name))
    for ds in (train, test):
        x, y = collect(ds)
        np.testing.assert_array_equal(x, y)
    assert info.task == "reconstruction" and info.output_shape == info.input_shape
    assert info.num_classes is None and info.test_size == plain.test_size
    if plain.symmetry is not None:
        assert info.symmetry.target == "equivariant" and info.symmetry.group == plain.symmetry.group


def test_a_keras_model_trains_on_a_split():
    train, validation, _, info = datasets.load("iris", batch_size=16)
    model = keras.Sequential([keras.Input(info.input_shape), keras.layers.Dense(info.num_classes)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # The training split is already shuffled by the pipeline, hence shuffle=False.
    history = model.fit(train, validation_data=validation, epochs=2, shuffle=False, verbose=0)
    assert np.isfinite(history.history["val_loss"]).all()


@pytest.mark.parametrize(
    "name, match",
    [
        ("digit", "Unknown dataset 'digit'. Did you mean: 'digits'"),
        ("nothing_like_it", r"datasets.list_datasets\(\) lists the 20 registered names"),
        (3, "Unknown dataset '3'"),
    ],
)
def test_unknown_names(name, match):
    with pytest.raises(datasets.UnknownDatasetError, match=match):
        datasets.load(name)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "expected a positive integer. Received: batch_size=0"),
        ({"batch_size": 2.5}, "batch_size=2.5"),
        ({"batch_size": True}, "batch_size=True"),
        ({"seed": -1}, "Received: seed=-1"),
        ({"validation_fraction": 0}, "strictly between 0 and 1. Received: validation_fraction=0"),
        ({"test_fraction": 1.0}, "Received: test_fraction=1.0"),
        ({"test_fraction": -0.2}, "Received: test_fraction=-0.2"),
        ({"validation_fraction": "0.1"}, "validation_fraction='0.1'"),
        ({"validation_fraction": 0.5, "test_fraction": 0.5}, "must be below 1"),
        ({"validation_fraction": 0.002}, "the validation split would hold 0 examples"),
        ({"validation_fraction": 0.45, "test_fraction": 0.549}, "the train split would hold 0"),
        ({"test_fraction": 0.01}, "hold at least 3 examples"),
        ({"reconstruction": "yes"}, "reconstruction='yes'"),
        ({"data_dir": "/tmp"}, "apply to tensorflow-datasets sets only"),
        ({"download": True}, "apply to tensorflow-datasets sets only"),
        ({"colour": "red"}, r"Unknown option\(s\) \['colour'\] for dataset 'iris'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.load("iris", **kwargs)


def test_info_rejects_inconsistent_fields():
    fields = datasets.get_info("iris").to_dict() | {"input_shape": (4,), "output_shape": (3,)}
    with pytest.raises(ValueError, match="num_classes must be set for classification"):
        DatasetInfo(**(fields | {"num_classes": None}))
    with pytest.raises(ValueError, match="task must be one of"):
        DatasetInfo(**(fields | {"task": "set"}))
    with pytest.raises(ValueError, match="target=.sideways."):
        datasets.Symmetry(group=None, axis=0, target="sideways")


def test_splits_distribute_over_two_replicas():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    train, _, _, info = datasets.load("digits", batch_size=16)
    batch = next(iter(strategy.experimental_distribute_dataset(train)))
    x_parts = strategy.experimental_local_results(batch[0])
    assert len(x_parts) == 2 and sum(int(x.shape[0]) for x in x_parts) == 16
    assert tuple(x_parts[0].shape[1:]) == info.input_shape


# Sets without fitted scaling, so the kept validation and test rows compare bitwise.
@pytest.mark.parametrize("name", ["digits", "quadratic_form"])
def test_train_size_cuts_the_training_split_only(name):
    options = small(name)
    full = datasets.load(name, seed=3, **options)
    cut = datasets.load(name, seed=3, train_size=40, **options)
    assert cut.info.train_size == 40 and collect(cut.train)[0].shape[0] == 40
    for split in ("validation", "test"):  # the same examples score every training size
        np.testing.assert_array_equal(collect(getattr(cut, split))[1],
                                      collect(getattr(full, split))[1])
    assert cut.info.test_size == full.info.test_size
    train_rows = {r.tobytes() for r in collect(full.train)[0]}
    assert all(r.tobytes() in train_rows for r in collect(cut.train)[0])
    again = datasets.load(name, seed=3, train_size=40, **options)
    np.testing.assert_array_equal(np.sort(collect(again.train)[1], axis=0),
                                  np.sort(collect(cut.train)[1], axis=0))


def test_train_size_is_stratified_and_checked():
    labels = collect(datasets.load("digits", seed=0, train_size=100).train)[1]
    assert np.bincount(labels, minlength=10).min() >= 9  # ten of each class, give or take one
    with pytest.raises(ValueError, match="expected an integer from 10 to"):
        datasets.load("digits", train_size=5)
    with pytest.raises(ValueError, match="Received: train_size=100000"):
        datasets.load("set_sum", num_examples=100, train_size=100000)
