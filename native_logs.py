"""TensorFlow's native start-up lines, kept out of `import eqzoo.layers` (and zoo, datasets).

Importing TensorFlow, and its first look for devices, write C++ log lines straight to file
descriptor 2: oneDNN being on, the CPU instructions the binary was not built for, CUDA probing on
a machine without a GPU ("Could not find cuda drivers", a failed `cuInit`). absl's logging is not
set up yet then, so TF_CPP_MIN_LOG_LEVEL does not hold them back. They say nothing about the
user's code, and Keras users expect a quiet import.

`tensorflow_start_up_filtered()` runs its block (the package's first `import keras` or
`import tensorflow`) and TensorFlow's device probe with descriptor 2 captured, then writes back
every line that is not one of those start-up messages: a Python warning, a real C++ warning or
error, a traceback from the import, all still show. Set `TF_CPP_MIN_LOG_LEVEL=0` (TensorFlow's own
switch for "every log line") to leave descriptor 2 alone and see them all.
"""

import contextlib
import os
import re
import sys
import tempfile

START_UP_LINES = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"\] oneDNN custom operations are on\.",
    r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler",
    r"\] Could not find cuda drivers on your machine, GPU will not be used\.",
    r"\] failed call to cuInit: ",
    r"\] Unable to register cu(DNN|FFT|BLAS) factory",
    r"\] computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
]))
_probed = False


@contextlib.contextmanager
def tensorflow_start_up_filtered():
    """Runs the block, then TensorFlow's device probe, keeping only non-start-up lines of fd 2."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0":
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        _flush_stderr()
        os.dup2(captured.fileno(), 2)
        try:
            yield
            _probe_devices()
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True)
                    if not START_UP_LINES.search(line.decode("utf-8", "replace"))]
            if kept:
                os.write(2, b"".join(kept))


def _probe_devices():
    """TensorFlow probes CUDA when devices are first listed (a `cuInit` error without a GPU);
    listing them here moves that into the filtered import. It leaves the runtime
    unconfigured: `tf.config.set_visible_devices` and logical devices can still be set."""
    global _probed
    if not _probed and "tensorflow" in sys.modules:
        _probed = True
        sys.modules["tensorflow"].config.list_physical_devices("GPU")


def _flush_stderr():
    with contextlib.suppress(Exception):
        sys.stderr.flush()
