"""Outputs the user names: `--compare --plot PATH` of an unknown image type, in a folder that does
not exist, or without an extension, and `--export-dir` that is a file. Each is one line, or
done as asked (a missing folder is created, a missing extension is .png and said so).
"""

import json

import pytest

from eqzoo import train
from tests.test_compare import write_run


@pytest.fixture
def runs(tmp_path):
    return [str(write_run(tmp_path / name, seed)) for seed, name in enumerate(["a", "b"])]


def compare(runs, plot):
    return train.main(["--compare", *runs, "--plot", str(plot)])


def test_a_plot_in_a_missing_folder_creates_the_folder(runs, tmp_path, capsys):
    plot = tmp_path / "new" / "deeper" / "curves.pdf"
    assert compare(runs, plot) == 0
    assert plot.stat().st_size > 0 and plot.read_bytes().startswith(b"%PDF")
    assert f"Validation curves: {plot}" in capsys.readouterr().out


def test_a_plot_without_an_extension_is_a_png_and_says_so(runs, tmp_path, capsys):
    assert compare(runs, tmp_path / "myplot") == 0
    assert (tmp_path / "myplot.png").read_bytes().startswith(b"\x89PNG")
    assert not (tmp_path / "myplot").exists()
    assert f"Validation curves: {tmp_path / 'myplot.png'}" in capsys.readouterr().out


@pytest.mark.parametrize("name, fragments", [
    ("curves.foo", ["matplotlib cannot write '.foo' images", "expected one of", ".png", ".svg"]),
    ("a_folder", ["is a folder; expected an image file name"]),
    ("a_file/curves.png", ["cannot create its folder"]),
])
def test_a_plot_path_that_cannot_be_written_is_one_line(name, fragments, runs, tmp_path, capsys):
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("a file, not a folder")
    assert compare(runs, tmp_path / name) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err and out == ""
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_an_export_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "symmetric_mlp_digits"}))
    target = tmp_path / "out.txt"
    target.write_text("a file")
    code = train.main(["--export", str(run), "--format", "keras", "--export-dir", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"--export-dir {target} is a file; expected a folder" in err
    assert target.read_text() == "a file"
