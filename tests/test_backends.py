"""The backend-portable tests, rerun under JAX and PyTorch in a subprocess each.

Keras fixes its backend when first imported, so one pytest process tests one backend. This module
(part of the one `python -m pytest` the README and CI run) starts `python -m pytest` again with
`KERAS_BACKEND` set, on the layer, equivariance, zoo and training modules, for each backend whose
package is installed (`pip install -e ".[jax,torch]"`; CI installs both). Tests marked
`tensorflow` are deselected there.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

MODULES = [
    "tests/test_keras_layer_harness.py",
    "tests/test_symmetric_dense.py",
    "tests/test_symmetric_dense_formulations.py",
    "tests/test_skew_symmetric_dense.py",
    "tests/test_positive_definite_dense.py",
    "tests/test_bounded_spectrum_dense.py",
    "tests/test_dense_transpose.py",
    "tests/test_equivariant_dense.py",
    "tests/test_equivariance_helper.py",
    "tests/test_interaction_layers.py",
    "tests/test_groups.py",
    "tests/test_zoo.py",
    "tests/test_train.py",
    "tests/test_train_backends.py",
    "tests/test_train_processes.py",  # only its tests marked `backends`: resuming after SIGKILL
]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALLED = [b for b in ("jax", "torch") if importlib.util.find_spec(b) is not None]


@pytest.mark.slow
@pytest.mark.tensorflow  # the runner runs from the TensorFlow session only
@pytest.mark.parametrize("backend", INSTALLED)
def test_portable_tests_pass_on_backend(backend, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         "-m", "not slow or backends", *MODULES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"on {backend}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
