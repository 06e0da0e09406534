"""The backend-portable tests, rerun under JAX and PyTorch in a subprocess each.

Keras fixes its backend when first imported, so one pytest process tests one backend. This module
(part of the one `python -m pytest` the README and CI run) starts `python -m pytest` again with
`KERAS_BACKEND` set, on the modules listed below, for each backend whose
package is installed (`pip install -e ".[jax,torch]"`; CI installs both); without it, the
backend's runs skip with the install command as the reason. They are marked `extras`, with
train.py's JAX and PyTorch runs: CI runs the suite before installing the extras, then
`python -m pytest -m extras`. Tests marked `tensorflow` are deselected there.
"""

import os
import subprocess
import sys

import pytest

from tests.extras import EXTRAS, marks

# Every layer, equivariance and zoo module, and train.py's backend tests; each passes on all
# three backends. Tests of TensorFlow-only machinery (tf.distribute, tf.function, SavedModel,
# TFLite, tapes) are marked `tensorflow` and deselected there. Float64 checks use float32's
# tolerance off TensorFlow (Keras maps float64 to float32 there: tests/backend_tools.py).
PORTABLE = [
    "tests/test_bounded_spectrum_dense.py",
    "tests/test_dense_transpose.py",
    "tests/test_egnn.py",
    "tests/test_equivariance_helper.py",
    "tests/test_equivariance_monitor.py",
    "tests/test_equivariant_dense.py",
    "tests/test_group_averaged.py",
    "tests/test_group_conv.py",
    "tests/test_groups.py",
    "tests/test_image_groups.py",
    "tests/test_interaction_layers.py",
    "tests/test_keras_layer_harness.py",
    "tests/test_layer_api.py",
    "tests/test_lie_basis.py",
    "tests/test_lie_groups.py",
    "tests/test_lie_layers.py",
    "tests/test_positive_definite_dense.py",
    "tests/test_skew_symmetric_dense.py",
    "tests/test_symmetric_dense.py",
    "tests/test_symmetric_dense_formulations.py",
    "tests/test_tensor_representations.py",
    "tests/test_zoo.py",
    "tests/test_zoo_arguments.py",
    "tests/test_graph_zoo.py",
    "tests/test_pretrained.py",
    "tests/test_export.py",
    "tests/test_cards.py",
    "tests/test_train_backends.py",
]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each backend's run is PARTS subprocesses (every PARTS-th module in each), so that
# pytest-xdist's workers share the reruns with the rest of the suite instead of one worker
# running a whole backend while the other idles at the end.
PARTS = 4
RUNS = [pytest.param(backend, part, marks=marks(backend), id=f"{backend}-{part}")
        for backend in EXTRAS for part in range(PARTS)
        if PORTABLE[part::PARTS]]  # an empty part would rerun every test path


@pytest.mark.slow
@pytest.mark.tensorflow  # the runner runs from the TensorFlow session only
@pytest.mark.parametrize("backend, part", RUNS)
def test_portable_tests_pass_on_backend(backend, part, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": backend}
    # -n 0: the rerun is one process; the suite's own xdist workers already fill the cores.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-x",
         "-m", "not slow or backends",
         *PORTABLE[part::PARTS]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (
        f"on {backend}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
