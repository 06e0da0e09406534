"""What train.py answers instead of training, when the name or pattern is wrong: a listing that
matches nothing, an unknown --card or --model, a --backend whose package is missing. Each is one
line, exit code 2, with the close names and the flag that lists them all."""

import os
import subprocess
import sys

import pytest

from eqzoo import datasets, distribute, train, zoo
from tests.test_train import assert_one_line_error

TRAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train.py")
MODELS = len(zoo.list_models())


def test_a_model_pattern_that_matches_nothing_says_so(capsys):
    line = assert_one_line_error(capsys, train.main(["--list-models", "nomatch*"]),
                                 "No model matches 'nomatch*'.", "No name is close to it.",
                                 f"--list-models with no pattern lists all {MODELS}.")
    assert "zoo.list_models()" not in line


def test_a_misspelt_model_pattern_shows_the_close_names(capsys):
    line = assert_one_line_error(capsys, train.main(["--list-models", "symetric_*"]),
                                 "No model matches 'symetric_*'. Close names: ")
    close = line.partition("Close names: ")[2].partition(".")[0].split(", ")
    assert "symmetric_mlp_digits" in close and all(zoo.get_preset(name) for name in close)


def test_a_dataset_pattern_that_matches_nothing_says_so(capsys):
    assert_one_line_error(capsys, train.main(["--list-datasets", "digts*"]),
                          "No dataset matches 'digts*'. Close names: digits",
                          f"--list-datasets with no pattern lists all "
                          f"{len(datasets.list_datasets())}.")


@pytest.mark.parametrize("flags, close", [
    (["--card", "nosuch"], None),
    (["--card", "symetric_mlp_digits"], "symmetric_mlp_digits"),
    (["--model", "symetric_mlp_digits", "--wandb", "disabled"], "symmetric_mlp_digits"),
])
def test_an_unknown_model_names_close_ones_and_list_models(flags, close, capsys, tmp_path,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = assert_one_line_error(capsys, train.main(flags), f"Unknown model '{flags[1]}'.",
                                 f"--list-models lists all {MODELS} presets")
    assert "zoo.list_models()" not in line, "a command-line user gets the command-line flag"
    assert (f"Did you mean: {close}" in line) if close else ("No preset name is close" in line)
    assert not list(tmp_path.iterdir()), "refused before anything is written"


def test_the_python_api_keeps_its_own_hint():
    with pytest.raises(zoo.UnknownModelError, match=r"Unknown model 'nosuch'\. See "
                                                    r"zoo\.list_models\(\) for all") as error:
        zoo.get_preset("nosuch")
    assert isinstance(error.value, ValueError) and error.value.close == []
    with pytest.raises(ValueError, match="Did you mean: symmetric_mlp_digits"):
        zoo.model_card("symetric_mlp_digits")


@pytest.mark.parametrize("backend, env", [("jax", None), ("torch", None), (None, "jax")])
def test_a_backend_that_is_not_installed_names_its_pip_extra(backend, env, capsys, monkeypatch):
    missing = backend or env
    monkeypatch.setattr(distribute, "_installed", lambda module: module != missing)
    monkeypatch.delitem(sys.modules, "keras", raising=False)  # so KERAS_BACKEND counts
    if env:
        monkeypatch.setenv("KERAS_BACKEND", env)
    flags = ["--backend", backend] if backend else []
    given = f"--backend {backend}" if backend else f"KERAS_BACKEND={env}"
    line = assert_one_line_error(capsys, train.main([*flags, "--list-models"]),
                                 f"{given} needs ", "which is not installed here",
                                 f'pip install -e ".[{missing}]"', f'"eqzoo[{missing}]"')
    assert "No module named" not in line


def test_a_missing_backend_is_refused_before_tensorflow_is_imported(tmp_path):
    # `sys.modules["jax"] = None` is how Python blocks an import: JAX is "not installed".
    runner = ("import runpy, sys\n"
              "sys.modules['jax'] = None\n"
              f"sys.argv = [{TRAIN!r}, '--backend', 'jax', '--list-models']\n"
              "try:\n"
              f"    runpy.run_path({TRAIN!r}, run_name='__main__')\n"
              "except SystemExit as done:\n"
              "    print(done.code, [m for m in ('tensorflow', 'keras') if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", runner], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.stdout.strip() == "2 []", (done.stdout, done.stderr)
    assert done.stderr.strip() == (
        'train.py: error: --backend jax needs JAX, which is not installed here: run pip install '
        '-e ".[jax]" in the repository (or pip install "eqzoo[jax]"), or pass --backend '
        'tensorflow.')
