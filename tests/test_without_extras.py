"""The suite on a machine with only `pip install -e ".[test]"`: no JAX, no PyTorch.

The base environment of a developer (and CI's second pass) has both extras, which once hid four
failures of the README's test command on a fresh clone. Here pytest runs in a subprocess whose
Python cannot see them (tests/without_extras/sitecustomize.py: `import torch` raises
ModuleNotFoundError and `find_spec` answers None, in child processes too): the whole suite must
collect, the tests marked `extras` must skip with the install command as the reason, and the
tests that walk the package must pass.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCKER = os.path.join(ROOT, "tests", "without_extras")


def _pytest_without_extras(*args):
    path = os.pathsep.join([BLOCKER, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "PYTHONPATH": path, "KERAS_BACKEND": "tensorflow"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-rs", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_the_blocker_hides_the_extras_in_the_process_and_its_children():
    code = ("import importlib.util, subprocess, sys\n"
            "assert importlib.util.find_spec('torch') is None\n"
            "try:\n    import jax\nexcept ModuleNotFoundError as e:\n    print(e)\n"
            "subprocess.run([sys.executable, '-c', 'import torch'], check=False)\n")
    env = {**os.environ, "PYTHONPATH": BLOCKER}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "No module named 'jax'" in result.stdout
    assert "ModuleNotFoundError: No module named 'torch'" in result.stderr


@pytest.mark.slow
def test_the_suite_collects_and_its_extras_tests_skip_with_a_reason():
    # Collecting every module imports it; `-m extras` then runs only what needs an extra.
    result = _pytest_without_extras("-m", "extras", "tests")
    out = result.stdout
    assert result.returncode == 0, out[-6000:] + result.stderr[-3000:]
    assert " error" not in out and "passed" not in out.splitlines()[-1], out[-3000:]
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert skips, out[-3000:]
    assert all('pip install -e ".[' in line for line in skips), skips
    assert any("test_backends.py" in line for line in skips)
    assert any("test_train_backends.py" in line for line in skips)


@pytest.mark.slow
def test_the_package_walking_and_backend_tests_pass_without_the_extras():
    # With train.py's backend tests, whose --backend refusals differ without the extras.
    result = _pytest_without_extras("-m", "not slow", "tests/test_layer_api.py",
                                    "tests/test_imports.py", "tests/test_train_backends.py")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "failed" not in result.stdout.splitlines()[-1]
