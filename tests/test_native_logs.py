"""Importing eqzoo's Python API is quiet: TensorFlow's C++ start-up lines are filtered from file
descriptor 2, every other line still shows, and TF_CPP_MIN_LOG_LEVEL=0 shows them all."""

import os
import subprocess
import sys
import textwrap

import pytest

from eqzoo import native_logs

# Verbatim from `import tensorflow` and its first device listing (TF 2.21, a CPU-only machine).
START_UP = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1796197287.361209    9502 port.cc:153] oneDNN custom operations are on. You may "
    b"see slightly different numerical results due to floating-point round-off errors from "
    b"different computation orders. To turn them off, set the environment variable "
    b"`TF_ENABLE_ONEDNN_OPTS=0`.\n",
    b"I0000 00:00:1796197287.361904    9502 cudart_stub.cc:31] Could not find cuda drivers on "
    b"your machine, GPU will not be used.\n",
    b"I0000 00:00:1796197287.559109    9502 cpu_feature_guard.cc:227] This TensorFlow binary is "
    b"optimized to use available CPU instructions in performance-critical operations.\n",
    b"To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 AVX_VNNI FMA, in "
    b"other operations, rebuild TensorFlow with the appropriate compiler flags.\n",
    b"E0000 00:00:1796197292.626898    9502 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    b"CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n",
]
REAL = [
    b"W0000 00:00:1796197292.1    9502 op_kernel.cc:1840] OP_REQUIRES failed: out of memory\n",
    b"/site-packages/somelib.py:3: UserWarning: a real warning\n",
]


def test_start_up_lines_are_dropped_and_every_other_line_kept_in_order(capfd, monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with native_logs.tensorflow_start_up_filtered():
        for line in (START_UP[0], REAL[0], *START_UP[1:], REAL[1]):
            os.write(2, line)
    assert capfd.readouterr().err.encode() == b"".join(REAL)


def test_tf_cpp_min_log_level_0_leaves_every_line(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with native_logs.tensorflow_start_up_filtered():
        for line in START_UP:
            os.write(2, line)
    assert capfd.readouterr().err.encode() == b"".join(START_UP)


def test_an_error_in_the_block_restores_stderr_and_shows_what_it_wrote(capfd, monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with pytest.raises(ImportError, match="broken"), native_logs.tensorflow_start_up_filtered():
        os.write(2, START_UP[1] + b"the C++ reason it broke\n")
        raise ImportError("broken")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "the C++ reason it broke\nafter\n"


QUIET_IMPORT = textwrap.dedent("""
    from eqzoo.layers import SymmetricDense
    from eqzoo import zoo, datasets
    import tensorflow as tf
    # The device probe left the runtime unconfigured: logical devices can still be set.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    zoo.create_model("symmetric_mlp_digits")(tf.zeros((1, 8, 8, 1)))  # the first ops
    import warnings
    warnings.warn("a real warning after the import")
    print(len(tf.config.list_logical_devices("CPU")))
    """)


@pytest.mark.slow
@pytest.mark.tensorflow
def test_a_fresh_process_imports_the_api_quietly_and_tf_cpp_min_log_level_0_brings_logs_back():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", QUIET_IMPORT], capture_output=True, text=True,
                           env=env, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "2\n"
    lines = quiet.stderr.splitlines()
    assert any("UserWarning: a real warning after the import" in line for line in lines), lines
    assert all("real warning" in line for line in lines), lines

    loud = subprocess.run([sys.executable, "-c", "import eqzoo.layers"], capture_output=True,
                          text=True, env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}, timeout=300)
    assert loud.returncode == 0, loud.stderr
    assert "oneDNN custom operations are on" in loud.stderr, loud.stderr
