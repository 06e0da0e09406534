"""runs: a run folder read back (config.json, metrics.json, history.csv), and what a broken file
says. history.csv's own parsing is tested with its repair in tests/test_checkpoints.py."""

import json

import pytest

from eqzoo import runs


def run_folder(path, config=None, metrics=None, history="epoch,loss\n0,1.5\n1,1.25\n"):
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config or {"model": "mlp_wine"}))
    if metrics is not None:
        (path / "metrics.json").write_text(json.dumps(metrics))
    (path / "history.csv").write_text(history)
    return path


def test_a_finished_and_an_unfinished_run(tmp_path):
    finished = run_folder(tmp_path / "a", metrics={"test/loss": 0.5})
    assert runs.read_run(str(finished)) == (
        {"model": "mlp_wine"}, {"test/loss": 0.5},
        [{"epoch": "0", "loss": "1.5"}, {"epoch": "1", "loss": "1.25"}])
    config, metrics, history = runs.read_run(str(run_folder(tmp_path / "b", history="")))
    assert config == {"model": "mlp_wine"} and metrics == {} and history == []


@pytest.mark.parametrize("name, text, fragment", [
    ("config.json", '{"model": ', "config.json is not readable JSON (Expecting value"),
    ("metrics.json", "[1, 2]", "metrics.json holds a list, expected a JSON object"),
    ("history.csv", "epoch,loss\n0,x\n", "history.csv: line 2 is not a history row"),
])
def test_a_broken_file_is_named_with_what_to_do(tmp_path, name, text, fragment):
    folder = run_folder(tmp_path / "run", metrics={})
    (folder / name).write_text(text)
    with pytest.raises(runs.BrokenRunFile) as error:
        runs.read_run(str(folder))
    message = str(error.value)
    assert fragment in message and str(folder / name) in message and "delete that" in message
