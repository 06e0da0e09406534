"""train.py refuses bad input before any work: one line, exit code 2, nothing written (issue 12).

Each class of refusal: the command line checked before TensorFlow is imported, an unusable run
folder, `--set` against the architecture's declared types and ranges, out-of-range or malformed
environments (seeds, memory, TF_CONFIG, WANDB_MODE, dataset options), and messages that say what
was received and what was expected.
"""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from eqzoo import datasets, distribute, train, zoo
from tests.test_train import assert_one_line_error

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(REPO, "train.py")
HEAVY = ("tensorflow", "keras", "wandb", "numpy", "eqzoo.zoo", "eqzoo.datasets")


def refused(capsys, tmp_path, argv, *fragments, run_dir=True):
    """`train.main(argv)`: exit code 2, one line naming `fragments`, no run folder written."""
    runs = tmp_path / "runs"
    code = train.main([*argv, "--wandb", "disabled", *(["--run-dir", str(runs)] if run_dir
                                                         else [])])
    line = assert_one_line_error(capsys, code, *fragments)
    assert not runs.exists(), "a refused run must write nothing"
    return line


@pytest.fixture
def environ(monkeypatch):
    """A clean W&B and TF_CONFIG environment for each case."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    return monkeypatch


# --- the command line is checked before TensorFlow is imported ------------------------------
# Runs train.main in a fresh interpreter and reports which heavy modules it imported: a sys.modules
# check, not a timing.
RUNNER = """
import json, os, sys
from eqzoo import train
results = []
for argv, env in json.loads(sys.argv[1]):
    os.environ.update(env)
    code = train.main(argv)
    for key in env:
        del os.environ[key]
    results.append([code, [m for m in {heavy!r} if m in sys.modules]])
print(json.dumps(results))
"""


def test_help_and_usage_errors_do_not_import_tensorflow(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    (tmp_path / "list.json").write_text("[1, 2]")
    cases = [
        (["--help"], {}),
        (["--epochs", "-1"], {}),
        (["--seed", str(2**32)], {}),
        (["--optimizer", "adagrad"], {}),
        (["--run-dir", str(a_file)], {}),
        (["--run-id", "x" * 200], {}),
        (["--config", str(tmp_path / "list.json")], {}),
        (["--dataset-option", "seed=3"], {}),
        (["--dataset-option", "noise=nan"], {}),
        (["--strategy", "multiworker"], {}),
        (["--strategy", "multiworker"], {"TF_CONFIG": "{"}),
        ([], {"WANDB_MODE": "sometimes"}),
    ]
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env["WANDB_MODE"] = "offline"
    done = subprocess.run(
        [sys.executable, "-c", RUNNER.format(heavy=HEAVY),
         json.dumps([[argv if "--run-dir" in argv else [*argv, "--run-dir", str(tmp_path / "runs")],
                      extra] for argv, extra in cases])],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for (argv, extra), (code, imported) in zip(cases, results, strict=True):
        assert code == (0 if argv == ["--help"] else 2), (argv, extra, done.stderr)
        assert imported == [], f"{argv} {extra} imported {imported} before refusing"
    assert not (tmp_path / "runs").exists()
    errors = done.stderr.strip().splitlines()
    assert len(errors) == len(cases) - 1 and all(e.startswith("train.py: error: ") for e in errors)


def test_the_script_answers_help_without_tensorflow(tmp_path):
    """`python train.py --help` as a script (not only `eqzoo.train.main`)."""
    runner = ("import runpy, sys\n"
              f"sys.argv = [{TRAIN!r}, '--help']\n"
              "try:\n"
              f"    runpy.run_path({TRAIN!r}, run_name='__main__')\n"
              "except SystemExit as done:\n"
              "    assert done.code == 0, done.code\n"
              f"print([m for m in {HEAVY!r} if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", runner], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--list-models" in done.stdout and done.stdout.strip().splitlines()[-1] == "[]"


# --- an unusable run folder, before any set-up ----------------------------------------------
def test_unusable_run_dir_is_refused_first(tmp_path, capsys, environ):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    refused(capsys, tmp_path, ["--run-dir", str(a_file)], "is a file, not a folder",
            str(a_file), run_dir=False)
    refused(capsys, tmp_path, ["--run-dir", str(a_file / "runs")], "is a file, not a folder",
            run_dir=False)
    # /proc takes no new files, whoever we are (root ignores permission bits, not this).
    refused(capsys, tmp_path, ["--run-dir", "/proc/eqzoo-runs"], "cannot write in /proc",
            "expected a writable folder", run_dir=False)
    assert a_file.read_text() == "keep me"


def test_read_only_run_dir_is_refused(tmp_path, capsys, environ):
    """A read-only file system answers EROFS to the write probe (simulated: it needs a mount)."""
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    environ.setattr(tempfile, "mkstemp", read_only)
    refused(capsys, tmp_path, ["--run-dir", str(tmp_path / "runs")], "Read-only file system",
            str(tmp_path))


# --- --set against the architecture's declared types and ranges -----------------------------
@pytest.mark.parametrize("assignment, fragments", [
    ("depth=-1", ["`depth`", "an integer in [1, 65536]", "depth=-1"]),  # the preset sets depth
    ("residual=\"no\"", ["`residual`", "true or false", "residual='no'"]),  # it leaves residual
    ("normalization=1", ["`normalization`", "true or false"]),
    ("dropout=1.5", ["`dropout`", "[0, 1)"]),
    ("dropout=NaN", ["`dropout`", "finite"]),
    ("activation=sigmoidd", ["`activation`", "Keras activation"]),
    ("parametrization=dense", ["`parametrization`", "'packed'"]),
    ("width=1000000000", ["`width`", "[1, 65536]"]),
    ("input_shape=[8,0,1]", ["`input_shape`", "integers in [1,"]),
    ("name=\"a/b\"", ["`name`", "without '/'"]),
    ("widht=8", ["'widht'", "did you mean 'width'"]),
])
def test_set_is_checked_against_declared_types(assignment, fragments, tmp_path, capsys,
                                               environ):
    refused(capsys, tmp_path, ["--set", assignment, "--epochs", "1"], "--set", *fragments)


def test_set_name_works(tmp_path):
    args = train.build_parser().parse_args(["--set", "name=my_model", "--run-dir",
                                            str(tmp_path)])
    config, _ = train.resolve_config(args)
    assert config["overrides"] == {"name": "my_model"}
    assert zoo.create_model(config["model"], **config["overrides"]).name == "my_model"


# --- out-of-range or malformed environments -------------------------------------------------
@pytest.mark.parametrize("argv, fragments", [
    (["--seed", "-1"], ["`seed`", "[0, 4294967295]", "seed=-1"]),
    (["--seed", str(2**32)], ["`seed`", "[0, 4294967295]", f"seed={2**32}"]),
    (["--epochs", str(2**40)], ["`epochs`", "[1, 2147483647]"]),
    (["--batch-size", "0"], ["`batch_size`", "[1, 2147483647]"]),
    (["--learning-rate", "nan"], ["`learning_rate`", "positive finite number"]),
    (["--learning-rate", "inf"], ["`learning_rate`", "positive finite number"]),
    (["--early-stopping", "-2"], ["`early_stopping`", "[0, 2147483647]"]),
])
def test_out_of_range_settings(argv, fragments, tmp_path, capsys, environ):
    refused(capsys, tmp_path, argv, *fragments)


@pytest.mark.parametrize("option, fragments", [
    ("seed=3", ["--dataset-option seed", "--seed", "seed=3"]),
    ("batch_size=8", ["--dataset-option batch_size", "--batch-size"]),
    ("download=true", ["--dataset-option download", "--download"]),
    ("data_dir=\"/tmp\"", ["--dataset-option data_dir", "--data-dir"]),
    ("name=\"wine\"", ["--dataset-option name", "--dataset"]),
    ("noise=NaN", ["dataset option `noise`", "finite", "noise=nan"]),
    ("noise=inf", ["dataset option `noise`", "finite", "noise=inf"]),
    ("noise=1e999", ["dataset option `noise`", "finite"]),
    ("validation_fraction=[0.1,-Infinity]", ["`validation_fraction`", "finite"]),
])
def test_dataset_options_clashing_or_not_finite(option, fragments, tmp_path, capsys, environ):
    refused(capsys, tmp_path, ["--model", "pairwise_quadratic_form", "--dataset-option", option],
            *fragments)


def test_sizes_that_cannot_fit_in_memory_are_refused_with_the_bytes(tmp_path, capsys, environ):
    environ.setattr(datasets.pipeline, "available_memory", lambda: 2**30)  # 1 GiB left
    line = refused(capsys, tmp_path, ["--set", "width=20000"], "needs at least",
                   "bytes", "1,073,741,824 bytes (1.0 GiB) are available", "width=20000")
    needed = 16 * (64 * 20000 + 2 * 20000 * 20001 // 2 + 20000 * 10)
    assert f"{needed:,} bytes" in line
    line = refused(capsys, tmp_path, ["--model", "pairwise_quadratic_form", "--dataset-option",
                                      "num_examples=1000000000"],
                   "'quadratic_form'", "num_examples=1000000000", "needs at least", "GiB")
    assert f"{12 * (10**9 * 9 + 64):,} bytes" in line


@pytest.mark.parametrize("tf_config, fragments", [
    (None, ["--strategy multiworker needs TF_CONFIG", "TF_CONFIG unset", '"cluster"']),
    ("{not json", ["TF_CONFIG is not JSON", "'{not json'"]),
    ("[1, 2]", ["Malformed TF_CONFIG", "Received: TF_CONFIG='[1, 2]'"]),
    ('{"cluster": {"worker": ["localhost:1"]}}', ["Malformed TF_CONFIG", '"task"']),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
     ["Malformed TF_CONFIG", "host:port"]),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
     ["Malformed TF_CONFIG", "an index in its list"]),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     ["Malformed TF_CONFIG"]),
])
def test_multiworker_needs_a_well_formed_tf_config(tf_config, fragments, tmp_path, capsys,
                                                   environ):
    if tf_config is not None:
        environ.setenv("TF_CONFIG", tf_config)
    refused(capsys, tmp_path, ["--strategy", "multiworker"], *fragments)


def test_tf_config_without_multiworker_warns(capsys, environ):
    environ.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", '
                                '"index": 0}}')
    distribute.check_tf_config("default")
    assert "TF_CONFIG is set, but --strategy is default: this process trains alone" in (
        capsys.readouterr().err)
    distribute.check_tf_config("multiworker")  # well formed: accepted


def test_unknown_wandb_mode_is_refused(tmp_path, capsys, environ):
    environ.setenv("WANDB_MODE", "sometimes")
    code = train.main(["--run-dir", str(tmp_path / "runs"), "--epochs", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "WANDB_MODE='sometimes' is not a mode W&B knows" in err and "--wandb disabled" in err
    assert not (tmp_path / "runs").exists()
    environ.setenv("WANDB_MODE", "Offline")  # W&B's check is case-sensitive, and so is this one
    assert train.main(["--run-dir", str(tmp_path / "runs"), "--epochs", "1"]) == 2
    assert "WANDB_MODE='Offline'" in capsys.readouterr().err
    # With W&B disabled it is never started, so WANDB_MODE does not matter.
    args = train.build_parser().parse_args(["--wandb", "disabled", "--run-dir", str(tmp_path)])
    assert train.resolve_config(args)[0]["wandb_mode"] == "disabled"


# --- messages: what was received, what was expected, a short prefix of huge values ----------
def test_run_id_message_names_the_limit_and_echoes_a_prefix(tmp_path, capsys, environ):
    line = refused(capsys, tmp_path, ["--run-id", "r" * 5000], "`run_id`", "1 to 128 characters",
                   "(5002 characters)")
    assert len(line) < 400


@pytest.mark.parametrize("content, fragments", [
    ("[1, 2]", ["must hold a JSON object", "Received: a list, [1, 2]"]),
    ("3", ["must hold a JSON object", "Received: a number, 3"]),
    ('"epochs"', ["must hold a JSON object", "Received: a string"]),
    ('{"overrides": 3}', ["`overrides`", "expected a JSON object", "overrides=3"]),
    ('{"dataset_options": [1]}', ["`dataset_options`", "expected a JSON object"]),
    ('{"wandb_tags": "a,b"}', ["`wandb_tags`", "expected a list", "wandb_tags='a,b'"]),
    ('{"epochs": "5"}', ["`epochs`", "expected an integer", "epochs='5'"]),
    ('{"seed": 1.5}', ["`seed`", "expected an integer"]),
    ('{"learning_rate": NaN}', ["`learning_rate`", "positive finite number"]),
])
def test_config_files_of_the_wrong_shape(content, fragments, tmp_path, capsys, environ):
    path = tmp_path / "c.json"
    path.write_text(content)
    refused(capsys, tmp_path, ["--config", str(path)], *fragments)


def test_resume_of_a_broken_config_names_the_file(tmp_path, capsys, environ):
    folder = tmp_path / "old" / "r1"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({**train.DEFAULTS, "epochs": -3}))
    refused(capsys, tmp_path, ["--resume", str(folder)], "`epochs`", "config.json", "epochs=-3",
            run_dir=False)


def test_a_huge_value_is_echoed_as_a_short_prefix(tmp_path, capsys, environ):
    line = refused(capsys, tmp_path, ["--set", "activation=" + "x" * 100_000], "`activation`",
                   "(100002 characters)")
    assert len(line) < 500
    line = refused(capsys, tmp_path, ["--optimizer", "y" * 100_000], "`optimizer`")
    assert len(line) < 500
    line = refused(capsys, tmp_path, ["--set", "z" * 100_000], "--set expects KEY=VALUE")
    assert len(line) < 500
    # Whatever a library echoes (here the zoo, an unknown model name) is cut as well.
    line = refused(capsys, tmp_path, ["--model", "m" * 100_000], "Unknown model",
                   "mmm... (100002 characters). No preset name is close to it. --list-models")
    assert len(line) < 500
