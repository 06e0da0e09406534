"""The serving side of `zoo.export_model`'s check: run an exported artifact as a server would.

Not imported by eqzoo: `export_model` runs this file's source with `python -c` in a fresh process
whose working directory is a scratch folder, so nothing of eqzoo is on the import path unless the
installed package is imported, and the report says whether it was. Argument: a request JSON
`{"format", "artifact", "inputs", "outputs", "report"}`; the inputs are an `.npz` archive (one
array "inputs", or one array per named input of a dict-input model), the outputs an `.npy` file.
"""

import json
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_keras(path, x):
    import keras

    model = keras.saving.load_model(path, compile=False)
    return keras.ops.convert_to_numpy(model(x, training=False)), "keras.saving.load_model"


def run_saved_model(path, x):
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures["serving_default"]
    _, named_inputs = signature.structured_input_signature
    if len(signature.structured_outputs) != 1:
        raise ValueError(f"expected one output in serving_default. Received: "
                         f"{sorted(signature.structured_outputs)}")
    if isinstance(x, dict):
        if sorted(named_inputs) != sorted(x):
            raise ValueError(f"serving_default takes {sorted(named_inputs)}, the request "
                             f"{sorted(x)}")
        feed = {name: tf.constant(x[name]) for name in named_inputs}
    else:
        if len(named_inputs) != 1:
            raise ValueError(f"expected one input in serving_default. Received: "
                             f"{sorted(named_inputs)}")
        (name,) = named_inputs
        feed = {name: tf.constant(x)}
    (output,) = signature(**feed).values()
    return output.numpy(), "tf.saved_model.load, signature serving_default"


def run_tflite(path, x):
    import tensorflow as tf

    with warnings.catch_warnings():  # TF 2.21 still ships it, and warns that LiteRT replaces it
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=path)
    tensors_in, (tensor_out,) = interpreter.get_input_details(), interpreter.get_output_details()
    feed = x if isinstance(x, dict) else {None: x}
    if len(tensors_in) != len(feed):
        raise ValueError(f"the model takes {len(tensors_in)} inputs, the request has {len(feed)}")
    # Named inputs: TFLite names each tensor after its signature input, "serving_default_<name>:0".
    by_name = {}
    for tensor in tensors_in:
        matches = [k for k in feed if k is None or tensor["name"].split(":")[0].endswith(k)]
        if len(matches) != 1:
            raise ValueError(f"cannot match input tensor {tensor['name']!r} to {sorted(feed)}")
        by_name[matches[0]] = tensor
    for key, tensor in by_name.items():
        interpreter.resize_tensor_input(tensor["index"], feed[key].shape)
    interpreter.allocate_tensors()
    for key, tensor in by_name.items():
        interpreter.set_tensor(tensor["index"], feed[key])
    interpreter.invoke()
    return interpreter.get_tensor(tensor_out["index"]), "tf.lite.Interpreter"


RUNTIMES = {"keras": run_keras, "saved_model": run_saved_model, "tflite": run_tflite}


def main(request_path):
    import numpy as np

    with open(request_path) as f:
        request = json.load(f)
    started = time.perf_counter()
    with np.load(request["inputs"]) as archive:
        inputs = {name: archive[name] for name in archive.files}
    inputs = inputs["inputs"] if list(inputs) == ["inputs"] else inputs
    outputs, runtime = RUNTIMES[request["format"]](request["artifact"], inputs)
    np.save(request["outputs"], np.asarray(outputs))
    import tensorflow as tf

    report = {
        "runtime": runtime,
        "seconds": time.perf_counter() - started,
        "eqzoo_modules": sorted(m for m in sys.modules if m == "eqzoo" or m.startswith("eqzoo.")),
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
    }
    if "keras" in sys.modules:
        report["keras"] = sys.modules["keras"].__version__
    with open(request["report"], "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1])
