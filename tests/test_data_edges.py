"""User data at the edges: values beyond float32's range, arrays without a shape or without
examples, and a rare class named by its folder. Each is refused by the reader, in one line naming
the column, array or folder (train.py: exit code 2), before any scaler or cast can overflow.
"""

import os
import re

import numpy as np
import pytest

from eqzoo import datasets, train
from tests.test_datasets_files import image_folder, write_csv, write_png


def flowers(tmp_path, huge=None, column=1, target="label"):
    rng = np.random.default_rng(0)
    rows = [[repr(float(v)) for v in rng.normal(size=3)] + [str(i % 3)] for i in range(30)]
    if huge is not None:
        rows[4][column] = huge
    return write_csv(tmp_path / "f.csv", ["a", "b", "c", target], rows)


@pytest.mark.parametrize("huge", ["1e308", "-1e200", "3.5e38"])
def test_csv_values_beyond_float32_are_refused_naming_the_column(huge, tmp_path):
    path = flowers(tmp_path, huge)
    with pytest.raises(ValueError, match=re.escape(f"column 'b' holds {float(huge):.4g} (line 6; 1 "
                                                   "value(s) in all) beyond float32's range")):
        datasets.load(f"csv:{path}", target="label")


def test_csv_regression_target_beyond_float32_is_refused(tmp_path):
    rows = [[repr(float(i)), repr(0.5 * i)] for i in range(30)]
    rows[2][1] = "1e300"
    path = write_csv(tmp_path / "r.csv", ["x", "price"], rows)
    with pytest.raises(ValueError, match=r"column 'price' holds 1e\+300 \(line 4"):
        datasets.load(f"csv:{path}", target="price")


def test_train_refuses_a_huge_csv_in_one_line_with_exit_code_2(tmp_path, capsys):
    path = flowers(tmp_path, "1e308")
    code = train.main(["--model", "mlp_wine", "--dataset", f"csv:{path}", "--dataset-option",
                       "target=label", "--set", "input_shape=[3]", "--set", "num_outputs=3",
                       "--run-dir", str(tmp_path / "runs"), "--wandb", "disabled"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "column 'b' holds 1e+308" in err


def npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_values_beyond_float32_are_refused_naming_the_array(tmp_path):
    x = np.ones((30, 4))
    x[3, 2] = 1e39
    name = npz(tmp_path, signals=x, y=np.arange(30) % 3)
    with pytest.raises(ValueError, match=r"array 'signals' holds values up to 1e\+39 in "
                                         r"magnitude, beyond float32's range"):
        datasets.load(name, x="signals", standardize=False)
    name = npz(tmp_path, x=np.ones((30, 4)), y=np.full(30, -1e200))
    with pytest.raises(ValueError, match=r"array 'y' holds values up to 1e\+200"):
        datasets.load(name, task="regression")


@pytest.mark.parametrize("x, y, expected", [
    (np.float64(3.0), np.float64(1.0), r"array 'x' must have shape \(examples, \*input_shape\)\. "
                                       r"Received: shape \(\)$"),
    (np.ones((0, 4)), np.ones(0), r"array 'x' holds no examples\. Received: shape \(0, 4\); "
                                  r"expected at least one"),
    (np.ones((5, 4)), np.float64(1.0), r"one target per example.*array 'y' of shape \(\)"),
])
def test_npz_without_a_shape_or_examples_says_what_it_received(x, y, expected, tmp_path):
    with pytest.raises(ValueError, match=expected):
        datasets.load(npz(tmp_path, x=x, y=y))


def test_from_arrays_refuses_zero_examples_and_values_beyond_float32():
    with pytest.raises(ValueError, match=r"arrays: x holds no examples\. Received: shape \(0, 3\)"):
        datasets.from_arrays(np.ones((0, 3)), np.ones(0))
    with pytest.raises(ValueError, match=r"x holds values up to 1e\+308 in magnitude"):
        datasets.from_arrays(np.full((30, 3), 1e308), np.arange(30) % 2)
    # float32's own largest value is still a float32.
    big = np.ones((30, 3)) * np.finfo(np.float32).max
    assert datasets.from_arrays(big, np.arange(30) % 2, standardize=False).info.train_size > 0


def test_an_image_class_too_small_is_named_by_its_folder(tmp_path):
    root = image_folder(tmp_path)
    for k in range(2):
        write_png(root / "rare_birds" / f"{k}.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"class 'rare_birds' has 2 example\(s\), fewer than"):
        datasets.load(f"images:{root}", image_size=(8, 8))
    assert os.path.isdir(root / "rare_birds")
