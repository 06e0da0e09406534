"""Your own data: csv:, npz:, images: and from_arrays, each refusal, and train.py end to end.

Every file is written into a temporary folder; sets are a few dozen rows or 8x8 images.
"""

import csv
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

from eqzoo import datasets, train
from eqzoo.datasets import images
from eqzoo.datasets.info import Symmetry
from eqzoo.layers.groups import SymmetricGroup
from tests.dataset_checks import assert_splits_match_info, collect


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def numbers(row):
    return [repr(float(v)) for v in row]


def table(n=60, seed=0):
    """`n` rows: 3 numeric features on different scales and a species label, 3 classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]
    species = np.array(["setosa", "versicolor", "virginica"])[np.arange(n) % 3]
    return x, species


def wine_like_csv(tmp_path, n=60):
    x, species = table(n)
    rows = [[*numbers(features), label] for features, label in zip(x, species, strict=True)]
    return write_csv(tmp_path / "flowers.csv", ["length", "width", "depth", "species"], rows), x


def write_png(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(array))


def image_folder(tmp_path, per_class=10, size=(8, 8)):
    """Two classes of 8x8 RGB images: dark ones in `dark/`, bright ones in `light/nested/`."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for k in range(per_class):
        dark = rng.integers(0, 100, size=(*size, 3), dtype=np.uint8)
        write_png(root / "dark" / f"{k}.png", dark)
        write_png(root / "light" / "nested" / f"{k}.png", 155 + dark)
    (root / "notes.txt").write_text("not an image, and not a class")
    return root


def every_source(tmp_path):
    """`(name, options)` of one small set per source; from_arrays is called as "arrays"."""
    csv_path, x = wine_like_csv(tmp_path)
    npz_path = tmp_path / "tensors.npz"
    np.savez(npz_path, x=np.random.default_rng(1).normal(size=(40, 3, 2)),
             y=np.random.default_rng(2).normal(size=(40, 2)))
    return {
        "csv classification": (f"csv:{csv_path}", {"target": "species"}),
        "csv regression": (f"csv:{csv_path}", {"target": "depth", "features": ["length"]}),
        "npz": (f"npz:{npz_path}", {}),
        "images": (f"images:{image_folder(tmp_path)}", {"image_size": (6, 4)}),
        "arrays": ("arrays", {"x": x, "y": table()[1]}),
    }


@pytest.mark.parametrize("source", ["csv classification", "csv regression", "npz", "images",
                                    "arrays"])
def test_every_source_matches_its_info(source, tmp_path):
    name, options = every_source(tmp_path)[source]
    load = datasets.from_arrays if name == "arrays" else lambda **kw: datasets.load(name, **kw)
    splits = load(batch_size=4, seed=0, **options)
    info = splits.info
    for _, y in assert_splits_match_info(splits, batch_size=4):
        if info.task == "classification":
            assert info.output_shape == (len(info.class_names),)
            assert set(np.unique(y)) == set(range(info.num_classes))  # stratified: every class
        else:
            assert info.class_names is None
    assert json.loads(json.dumps(info.to_dict()))["name"] == name
    if name != "arrays":
        assert datasets.get_info(name, seed=0, **options) == info
    reconstruction = load(seed=0, reconstruction=True, **options)
    assert reconstruction.info.task == "reconstruction"
    x, y = collect(reconstruction.test)
    np.testing.assert_array_equal(x, y)


# --- csv: -------------------------------------------------------------------------------------
def test_csv_classification_keeps_class_names_and_standardizes_on_train_only(tmp_path):
    path, x = wine_like_csv(tmp_path)
    splits = datasets.load(f"csv:{path}", target="species", seed=3, batch_size=8)
    info = splits.info
    assert info.task == "classification" and info.structure == "vector"
    assert info.input_shape == (3,) and info.output_shape == (3,) and info.num_classes == 3
    assert info.class_names == ("setosa", "versicolor", "virginica")
    assert (info.train_size, info.validation_size, info.test_size) == (42, 6, 12)
    arrays, _ = datasets.arrays.make_splits(
        "t", x, table()[1], task=None, symmetry=None, structure=None, class_names=None,
        standardize=None, train_size=None, seed=3, validation_fraction=None,
        test_fraction=None, source="", description="")
    # The scaler of the training rows alone, applied to the test rows.
    scaler = StandardScaler().fit(x[arrays.indices["train"]])
    test_x, test_y = collect(splits.test)
    np.testing.assert_allclose(test_x, scaler.transform(x[arrays.indices["test"]]), atol=1e-5)
    np.testing.assert_array_equal(test_y, np.arange(60)[arrays.indices["test"]] % 3)
    train_x, _ = collect(splits.train)
    np.testing.assert_allclose(train_x.mean(axis=0), 0, atol=1e-5)
    assert np.abs(np.concatenate([train_x, test_x]).mean(axis=0)).max() > 1e-3


def test_csv_task_follows_the_target_or_the_task_option(tmp_path):
    x, _ = table()
    integers = [[*numbers(row), str(5 + i % 2)] for i, row in enumerate(x)]
    path = write_csv(tmp_path / "ints.csv", ["a", "b", "c", "label"], integers)
    info = datasets.get_info(f"csv:{path}", target="label")
    assert info.task == "classification" and info.class_names == ("5", "6")
    info = datasets.get_info(f"csv:{path}", target="label", task="regression")
    assert info.task == "regression" and info.output_shape == (1,)

    floats = [numbers(row) for row in x]
    path = write_csv(tmp_path / "floats.csv", ["a", "b", "price"], floats)
    splits = datasets.load(f"csv:{path}", target="price", features=["b"], seed=1)
    assert splits.info.task == "regression" and splits.info.input_shape == (1,)
    assert "target standardized" in splits.info.preprocessing
    train_y = collect(splits.train)[1]
    assert train_y.shape == (splits.info.train_size, 1)
    np.testing.assert_allclose([train_y.mean(), train_y.std()], [0, 1], atol=1e-5)


def test_csv_from_a_spreadsheet_with_a_byte_order_mark_and_semicolons(tmp_path):
    x, species = table(30)
    lines = ["\ufeffid;Length;Species", *(f"{i};{float(v[0])!r};{s}" for i, (v, s) in
                                         enumerate(zip(x, species, strict=True))), ""]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    info = datasets.get_info(f"csv:{path}", target="Species", delimiter=";", features=["Length"])
    assert info.input_shape == (1,) and info.num_classes == 3
    with pytest.raises(ValueError, match=r"no feature column 'length'\. Did you mean 'Length'"):
        datasets.load(f"csv:{path}", target="Species", delimiter=";", features=["length"])
    with pytest.raises(ValueError, match=r"one column 'id;Length;Species' with delimiter ','.*"
                                         r"Pass delimiter=';'"):
        datasets.load(f"csv:{path}", target="Species")


def test_csv_splits_are_seeded_disjoint_and_stratified(tmp_path):
    path, x = wine_like_csv(tmp_path, n=90)

    def rows(seed):
        splits = datasets.load(f"csv:{path}", target="species", seed=seed, standardize=False)
        return {name: collect(ds)
                for name, ds in zip(["train", "val", "test"], splits[:3], strict=True)}

    a, b, c = rows(0), rows(0), rows(1)
    for split in a:
        np.testing.assert_array_equal(a[split][0], b[split][0])
        assert np.ptp(np.bincount(a[split][1])) <= 1  # each class equally represented
    keys = {split: {tuple(r) for r in a[split][0]} for split in a}
    assert sum(map(len, keys.values())) == 90 and len(set.union(*keys.values())) == 90
    assert not np.array_equal(np.sort(a["test"][0], 0), np.sort(c["test"][0], 0))


def test_csv_of_a_built_in_set_gives_the_built_in_splits(tmp_path):
    """wine as a CSV file loads exactly as the built-in wine: same rows in each split, same
    train-only scaling, same class ids."""
    wine = load_wine()
    rows = [[*numbers(features), int(label)]
            for features, label in zip(wine.data, wine.target, strict=True)]
    path = write_csv(tmp_path / "wine.csv", [*wine.feature_names, "class"], rows)
    own = datasets.load(f"csv:{path}", target="class", seed=4)
    built_in = datasets.load("wine", seed=4)
    assert own.info.class_names == ("0", "1", "2")
    for mine, theirs in zip(own[1:3], built_in[1:3], strict=True):
        for a, b in zip(collect(mine), collect(theirs), strict=True):
            np.testing.assert_array_equal(a, b)


CSV_REFUSALS = {
    "misspelt target": ({"target": "specie"}, None, ["no target column 'specie'",
                                                      "Did you mean 'species'"]),
    "no target given": ({}, None, ["target=COLUMN", "['length', 'width', 'depth', 'species']"]),
    "non-numeric feature": ({"target": "length"}, None,
                            ["feature columns must be numeric", "'species' (line 2: 'setosa')"]),
    "NaN and missing": ({"target": "species"}, lambda rows: [
        rows[3].__setitem__(0, "nan"), rows[7].__setitem__(0, ""), rows[9].__setitem__(2, "inf")],
        ["column 'length' in 2 row(s) (first at line 5)", "column 'depth' in 1 row(s)"]),
    "one class": ({"target": "species"}, lambda rows: [r.__setitem__(3, "setosa") for r in rows],
                  ["holds 1 class(es) ('setosa')", "at least 2"]),
    "too few rows": ({"target": "species"}, lambda rows: rows.__delitem__(slice(6, None)),
                     ["class 'setosa' has 2 example(s)", "fewer than the 3"]),
    "too few for the splits": ({"target": "species"}, None,
                               ["12 examples are too few for the splits", "validation split would "
                                "get 1, but it needs at least 3 (one per class); 9 of each of "
                                "the 3 classes would do (25 examples at least)"]),
    "ragged row": ({"target": "species"}, lambda rows: rows[4].append("1"),
                   ["line 6 has 5 fields but the header has 4"]),
    "regression on text": ({"target": "species", "task": "regression"}, None,
                           ["target column 'species' is not numeric", "regression"]),
    "unknown option": ({"target": "species", "colour": 1}, None, ["Unknown option(s) ['colour']"]),
}


@pytest.mark.parametrize("case", sorted(CSV_REFUSALS))
def test_csv_refusals_name_the_file_and_the_problem(case, tmp_path):
    options, edit, fragments = CSV_REFUSALS[case]
    x, species = table(12)
    rows = [[*numbers(features), label] for features, label in zip(x, species, strict=True)]
    if edit:
        edit(rows)
    path = write_csv(tmp_path / "bad.csv", ["length", "width", "depth", "species"], rows)
    with pytest.raises(ValueError) as raised:
        datasets.load(f"csv:{path}", **options)
    message = str(raised.value)
    assert "\n" not in message
    if case != "unknown option":
        assert message.startswith(f"csv:{path}")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_missing_files_and_folders_are_refused_before_reading(tmp_path):
    for name in [f"csv:{tmp_path}/none.csv", f"npz:{tmp_path}/none.npz",
                 f"images:{tmp_path}/none"]:
        with pytest.raises(datasets.DataFileNotFoundError, match="no such"):
            datasets.load(name)
    with pytest.raises(ValueError, match="is not a directory"):
        datasets.load(f"images:{wine_like_csv(tmp_path)[0]}")
    with pytest.raises(ValueError, match="the file is empty"):
        datasets.load(f"csv:{write_csv(tmp_path / 'empty.csv', [], [])}", target="a")


# --- npz: -------------------------------------------------------------------------------------
def test_npz_any_rank_with_renamed_arrays(tmp_path):
    rng = np.random.default_rng(0)
    signals = rng.normal(size=(40, 5, 2)).astype(np.float32)
    path = tmp_path / "signals.npz"
    np.savez(path, signals=signals, labels=np.arange(40) % 2)
    splits = datasets.load(f"npz:{path}", x="signals", y="labels", seed=0, batch_size=4)
    assert splits.info.input_shape == (5, 2) and splits.info.structure == "tensor"
    assert splits.info.task == "classification" and splits.info.class_names == ("0", "1")
    train_x, _ = collect(splits.train)
    assert train_x.shape == (splits.info.train_size, 5, 2)
    np.testing.assert_allclose(train_x.mean(axis=0), 0, atol=1e-5)  # per element, train only

    pixels = rng.integers(0, 256, size=(30, 4, 4, 1)).astype(np.uint8)
    np.savez(path, x=pixels, y=rng.normal(size=30))
    splits = datasets.load(f"npz:{path}", reconstruction=True)
    assert splits.info.task == "reconstruction" and splits.info.structure == "image"
    x, y = collect(splits.test)
    np.testing.assert_array_equal(x, y)
    assert 0 <= x.min() and x.max() <= 1 and "divided by 255" in splits.info.preprocessing


def test_npz_refusals(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, inputs=np.zeros((10, 3)), y=np.arange(10) % 2)
    with pytest.raises(ValueError, match=r"no array 'x'\. .*Its arrays: \['inputs', 'y'\]"):
        datasets.load(f"npz:{path}")
    with pytest.raises(ValueError, match=r"no array 'input'\. Did you mean 'inputs'"):
        datasets.load(f"npz:{path}", x="input")
    np.savez(path, x=np.zeros((10, 3)), y=np.arange(9) % 2)
    with pytest.raises(ValueError, match=r"same length. Received: array 'x' of shape \(10, 3\), "
                                         r"array 'y' of shape \(9,\)"):
        datasets.load(f"npz:{path}")
    x = np.ones((20, 3))
    x[[2, 5], 1] = np.inf
    np.savez(path, x=x, y=np.arange(20) % 2)
    with pytest.raises(ValueError, match=r"NaN or inf in 2 of 20 examples \(the first is "
                                         r"example 2"):
        datasets.load(f"npz:{path}")
    np.save(tmp_path / "one.npy", x)
    with pytest.raises(ValueError, match="holds one array"):
        datasets.load(f"npz:{tmp_path / 'one.npy'}")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a NumPy .npz archive"):
        datasets.load(f"npz:{tmp_path / 'text.npz'}")


# --- from_arrays ------------------------------------------------------------------------------
def test_from_arrays_matches_load_and_keeps_a_symmetry():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4, 2))
    y = x.sum(axis=1)
    symmetry = Symmetry(SymmetricGroup(4), axis=0, target="invariant")
    splits = datasets.from_arrays(x, y, symmetry=symmetry, structure="set", seed=2)
    info = splits.info
    assert info.task == "regression" and info.output_shape == (2,) and info.symmetry is symmetry
    assert info.structure == "set" and "unscaled" in info.preprocessing
    test_x, test_y = collect(splits.test)
    # Left unscaled, the declared invariance still holds on the delivered data.
    np.testing.assert_allclose(test_y, test_x.sum(axis=1), atol=1e-5)
    with pytest.raises(ValueError, match="acts on 4 coordinates along axis 1"):
        datasets.from_arrays(x, y, symmetry=Symmetry(SymmetricGroup(4), axis=1, target="invariant"))


def test_from_arrays_refusals():
    x = np.zeros((30, 3))
    with pytest.raises(ValueError, match=r"same length"):
        datasets.from_arrays(x, np.zeros(29))
    with pytest.raises(ValueError, match=r"holds 1 class\(es\) \('a'\)"):
        datasets.from_arrays(x, np.array(["a"] * 30))
    with pytest.raises(ValueError, match=r"must have shape \(examples, \*input_shape\)"):
        datasets.from_arrays(np.zeros(30), np.arange(30) % 2)
    with pytest.raises(ValueError, match=r"`task`.*Received: task='ranking'"):
        datasets.from_arrays(x, np.arange(30) % 2, task="ranking")
    with pytest.raises(ValueError, match="4 examples are too few for the splits: .* validation "
                                         "split would get 0"):
        datasets.from_arrays(np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="must hold numbers"):
        datasets.from_arrays(np.array([["a"]] * 30), np.zeros(30))
    with pytest.raises(ValueError, match=r"`standardize`.*Received: standardize='yes'"):
        datasets.from_arrays(x, np.arange(30) % 2, standardize="yes")


# --- images: ----------------------------------------------------------------------------------
def test_image_folder_is_split_by_the_seed_and_divided_by_255(tmp_path):
    root = image_folder(tmp_path)
    splits = datasets.load(f"images:{root}", image_size=(8, 8), batch_size=4, seed=1)
    info = splits.info
    assert info.class_names == ("dark", "light") and info.input_shape == (8, 8, 3)
    assert info.structure == "image" and (info.train_size, info.validation_size,
                                          info.test_size) == (14, 2, 4)
    plan, _ = images.split_files("x", str(root), seed=1, validation_fraction=None,
                                 test_fraction=None, train_size=None)
    again, _ = images.split_files("x", str(root), seed=1, validation_fraction=None,
                                  test_fraction=None, train_size=None)
    files = {split: set(paths) for split, (paths, _) in plan.items()}
    assert sum(map(len, files.values())) == 20 == len(set.union(*files.values()))
    assert all(np.array_equal(plan[s][0], again[s][0]) for s in plan)
    for split, ds in zip(["train", "validation", "test"], splits[:3], strict=True):
        x, y = collect(ds)
        assert sorted(np.bincount(y)) == sorted(np.bincount(plan[split][1]))
        # Dark images are below 100/255, bright ones above 155/255: labels follow folders.
        np.testing.assert_array_equal(x.max(axis=(1, 2, 3)) > 0.5, y == 1)
    x, _ = collect(splits.test)
    expected = [tf.io.decode_png(tf.io.read_file(p)).numpy() / 255.0 for p in plan["test"][0]]
    np.testing.assert_allclose(x, np.stack(expected), atol=1e-6)  # same size: resize keeps them

    gray = datasets.load(f"images:{root}", image_size=(4, 6), color_mode="grayscale")
    assert gray.info.input_shape == (4, 6, 1)
    assert next(iter(gray.train))[0].shape[1:] == (4, 6, 1)


def test_image_folder_refusals(tmp_path):
    flat = tmp_path / "flat"
    write_png(flat / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"no class subfolders in .*flat \(it holds 1 image"):
        datasets.load(f"images:{flat}")
    write_png(flat / "cat" / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"holds 1 class\(es\) \('cat'\)"):
        datasets.load(f"images:{flat}")
    os.makedirs(flat / "dog")
    with pytest.raises(ValueError, match="class folder 'dog' holds no images"):
        datasets.load(f"images:{flat}")

    root = image_folder(tmp_path)
    (root / "light" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"1 of 21 images cannot be read as rgb; the first is "
                                         r".*light/broken\.png \(Unknown image file format"):
        datasets.load(f"images:{root}", image_size=(8, 8))
    with pytest.raises(ValueError, match=r"`image_size`.*Received: image_size=\[8\]"):
        datasets.load(f"images:{root}", image_size=[8])
    with pytest.raises(ValueError, match=r"`color_mode`.*'grayscale', 'rgb', 'rgba'"):
        datasets.load(f"images:{root}", color_mode="cmyk")


def test_image_folder_too_small_for_the_splits_says_how_many_images_would_do(tmp_path):
    # The issue's case: 3 classes of 8 images; the refusal's own number must then load.
    root = tmp_path / "photos"
    for label in ("a", "b", "c"):
        for k in range(8):
            write_png(root / label / f"{k}.png", np.full((4, 4, 3), 10 * k, np.uint8))
    with pytest.raises(ValueError, match=r"24 examples are too few for the splits: .* the "
                       r"validation split would get 2, but it needs at least 3 \(one per class\); "
                       r"9 of each of the 3 classes would do \(25 examples at least\)"):
        datasets.load(f"images:{root}", image_size=(4, 4))
    for label in ("a", "b", "c"):
        write_png(root / label / "8.png", np.full((4, 4, 3), 90, np.uint8))
    assert datasets.load(f"images:{root}", image_size=(4, 4)).info.validation_size == 3


@pytest.mark.parametrize("classes", [2, 3, 5, 6, 10])
@pytest.mark.parametrize("fractions", [{}, {"validation_fraction": 0.05, "test_fraction": 0.3}])
def test_the_per_class_count_the_refusal_names_is_the_fewest_that_loads(classes, fractions):
    def load(per_class):
        y = np.repeat(np.arange(classes), per_class)
        return datasets.from_arrays(np.zeros((len(y), 2)), y, **fractions)

    with pytest.raises(ValueError, match=r"too few for the splits") as error:
        load(3)
    per_class = int(re.search(r"(\d+) of each of the", str(error.value))[1])
    if not fractions:  # the README's numbers for the default fractions
        assert per_class == (8 if classes == 2 else 9 if classes <= 5 else 10)
    assert load(per_class).info.num_classes == classes
    with pytest.raises(ValueError, match=f"{per_class} of each of the {classes} classes"):
        load(per_class - 1)


# --- train.py, end to end ---------------------------------------------------------------------
def run(tmp_path, capsys, *args):
    code = train.main([*args, "--epochs", "1", "--set", "width=8", "--wandb", "disabled",
                       "--run-dir", str(tmp_path / "runs")])
    return code, capsys.readouterr()


def error_line(output):
    lines = output.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in output.err, output.err
    return lines[0]


@pytest.mark.slow
def test_train_py_trains_on_a_wine_csv_as_the_issue_says(tmp_path, capsys, monkeypatch):
    wine = load_wine()
    rows = [[*numbers(features), name] for features, name in
            zip(wine.data, np.array(["barolo", "grignolino", "barbera"])[wine.target], strict=True)]
    write_csv(tmp_path / "wine.csv", [*wine.feature_names, "class"], rows)
    monkeypatch.chdir(tmp_path)
    code, output = run(tmp_path, capsys, "--model", "symmetric_mlp_wine",
                       "--dataset", "csv:wine.csv", "--dataset-option", "target=class")
    assert code == 0, output.err
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("symmetric_mlp_wine-csv_wine.csv-")
    with open(folder / "config.json") as f:
        info = json.load(f)["dataset_info"]
    assert info["class_names"] == ["barbera", "barolo", "grignolino"]
    assert info["source"] == f"CSV file {tmp_path / 'wine.csv'}"


@pytest.mark.slow
def test_train_py_runs_csv_npz_and_image_folders_after_the_fit_message(tmp_path, capsys):
    csv_path, _ = wine_like_csv(tmp_path)
    npz_path = tmp_path / "data.npz"
    np.savez(npz_path, x=np.random.default_rng(0).normal(size=(40, 6)), y=np.arange(40) % 3)
    folder = image_folder(tmp_path)
    cases = [
        (["--dataset", f"csv:{csv_path}", "--dataset-option", "target=species"], "[3]"),
        (["--dataset", f"npz:{npz_path}"], "[6]"),
        (["--dataset", f"images:{folder}", "--dataset-option", "image_size=[8,8]",
          "--set", "num_outputs=2"], "[8,8,3]"),
    ]
    for args, shape in cases:
        code, output = run(tmp_path, capsys, "--model", "symmetric_mlp_wine", *args)
        assert code == 2
        assert f"pass --set input_shape={shape}" in error_line(output)
        code, output = run(tmp_path, capsys, "--model", "symmetric_mlp_wine", *args,
                           "--set", f"input_shape={shape}")
        assert code == 0, output.err
        assert "Final: " in output.out and "Run folder: " in output.out


def test_train_py_refuses_bad_files_with_one_line_and_exit_2(tmp_path, capsys):
    csv_path, _ = wine_like_csv(tmp_path)
    for args, fragment in [
        (["--dataset", f"csv:{csv_path}", "--dataset-option", "target=specis"],
         "Did you mean 'species'"),
        (["--dataset", f"csv:{tmp_path}/missing.csv", "--dataset-option", "target=a"],
         "no such file"),
        (["--dataset", f"images:{tmp_path}"], "no class subfolders"),
    ]:
        code, output = run(tmp_path, capsys, "--model", "symmetric_mlp_wine", *args)
        line = error_line(output)
        assert code == 2 and line.startswith("train.py: error: ") and fragment in line, line
        assert str(tmp_path) in line
    assert not (tmp_path / "runs").exists()
