"""Test-session setup: keep caches out of the home directory and, on TensorFlow, two CPU devices.

Everything here runs before any test module imports TensorFlow or Keras, which is why it sits at
import time. The suite runs on whichever Keras backend `KERAS_BACKEND` names (TensorFlow by
default); tests marked `tensorflow` use TensorFlow-only machinery (`tf.distribute`,
`tf.function`, tapes) and are deselected on the other backends. `tests/test_backends.py` reruns
the backend-portable modules under JAX and PyTorch.
"""

import gc
import os
import tempfile

_SCRATCH = tempfile.mkdtemp(prefix="eqzoo-tests-")
# W&B, tfds and Keras write into the home directory unless told otherwise.
for _var, _sub in [
    ("WANDB_DIR", "wandb"),
    ("WANDB_CACHE_DIR", "wandb-cache"),
    ("WANDB_CONFIG_DIR", "wandb-config"),
    ("WANDB_DATA_DIR", "wandb-data"),
    ("TFDS_DATA_DIR", "tfds"),
    ("KERAS_HOME", "keras"),
    ("MPLCONFIGDIR", "matplotlib"),
    ("EQZOO_CACHE_DIR", "eqzoo-cache"),  # simulated datasets (nbody_charged)
]:
    os.environ[_var] = os.path.join(_SCRATCH, _sub)
    os.makedirs(os.environ[_var], exist_ok=True)
os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Compiling dominates the suite: every JAX step and every TensorFlow `jit_compile` step builds an
# XLA program that then runs a few times on tiny data. Without LLVM's costly optimisation passes
# the compiles are cheaper (test_zoo.py on JAX: 114 s -> 83 s of CPU); XLA's own passes (fusion,
# layouts) still run. Appended to the caller's XLA_FLAGS; subprocesses inherit it.
_FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()

BACKEND = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if BACKEND == "tensorflow":
    import tensorflow as tf

    # Two logical CPU devices, so MirroredStrategy tests have replicas to mirror across. This
    # must happen before TensorFlow initialises its devices, hence before any test runs an op.
    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
elif BACKEND == "jax":
    import jax

    # The gradient checks run in float64, which JAX only computes when asked to.
    jax.config.update("jax_enable_x64", True)

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_report_header(config):
    return f"Keras backend: {keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    """On JAX and PyTorch, deselect (not skip) the tests of TensorFlow-only machinery."""
    if keras.backend.backend() == "tensorflow":
        return
    deselected = [item for item in items if item.get_closest_marker("tensorflow")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("tensorflow")]


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage():
    """Python's garbage collection once per module: with TensorFlow loaded, a `gc.collect()`
    takes a good fraction of a second, more than most tests here, so not after every test."""
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from float32, a clean Keras session and a fixed seed."""
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.clear_session(free_memory=False)  # gc.collect() runs per module, above
    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")
