"""Export for serving, verified: fold, write, reload in a fresh process without eqzoo, compare.

    from eqzoo import zoo
    report = zoo.export_model(model, "export/model.tflite", "tflite",
                              validation_inputs=x_val, preset="deepsets_set_sum")

`export_model` folds every structured layer into a plain `Dense` and every group convolution into
a plain `Conv2D` (`fold_to_dense`), writes the
artifact atomically, then serves it in a fresh Python process that does not import eqzoo, with
the runtime a server would use: `keras.saving.load_model` (.keras), `tf.saved_model.load` and
its `serving_default` signature (SavedModel), `tf.lite.Interpreter` (.tflite). Its outputs on the
validation inputs are compared with the trained, unfolded model's; for an equivariant model the
equivariance error `max |f(rho_in(g) x) - rho_out(g) f(x)|` is measured again on the artifact's
own outputs. The numbers go to `export.json` in the artifact's folder and are printed; a
mismatch above tolerance raises `ExportVerificationError` saying by how much.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import keras
import numpy as np

from eqzoo.fileio import write_json
from eqzoo.layers.equivariance import describes, equivariance_error
from eqzoo.layers.fold import fold_to_dense, folds
from eqzoo.layers.point_clouds import PointCloudRep
from eqzoo.layers.representations import Representation, rep_from_config
from eqzoo.zoo.registry import get_preset

# Format -> the artifact's file-name ending (a SavedModel is a folder) and the serving runtime.
FORMATS = {"keras": ".keras", "saved_model": "", "tflite": ".tflite"}
REPORT_NAME = "export.json"
RANDOM_INPUTS = 64  # validation inputs drawn when none are given
PROBE_INPUTS = 8  # validation inputs whose transformed copies measure equivariance
_SERVING_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_serving_process.py")


class ExportVerificationError(RuntimeError):
    """The exported artifact does not serve what the trained model computes."""


class UnfinishedRunError(ValueError):
    """A folder that is not a finished train.py run: no readable config.json, or no model.keras."""


# train.py --export: each format's artifact under RUN_FOLDER/export/FORMAT/, checked on the first
# RUN_EXAMPLES examples of the run's own validation split.
RUN_ARTIFACTS = {"keras": "model.keras", "saved_model": "saved_model", "tflite": "model.tflite"}
RUN_EXAMPLES = 256


def export_run(folder, format, export_dir=None, *, load_validation_inputs):
    """Exports a train.py run's model.keras with `export_model`, verified on its own validation
    split; returns the report.

    Args:
        folder: a finished run folder (config.json and model.keras).
        format: "keras", "saved_model" or "tflite".
        export_dir: where the artifact goes (default: `folder/export/FORMAT`).
        load_validation_inputs: `(run config, count) -> numpy batch`, the first `count` inputs of
            the run's validation split (same dataset, options and seed): the zoo does not import
            the datasets.

    Raises:
        UnfinishedRunError: `folder` is not a finished run.
        ExportVerificationError: the artifact does not serve what the run's model computes.
    """
    path = os.path.join(folder, "config.json")
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError) as error:
        raise UnfinishedRunError(f"cannot read {path}: {error}") from None
    missing = [key for key in ("model", "dataset", "dataset_options", "seed", "task", "data_dir")
               if not isinstance(config, dict) or key not in config]
    model_path = os.path.join(folder, "model.keras")
    if missing or not os.path.isfile(model_path):
        lacks = f"config.json lacks {missing}" if missing else "it has no model.keras"
        raise UnfinishedRunError(f"{folder} is not a finished train.py run ({lacks}).")
    model = keras.saving.load_model(model_path, compile=False)
    inputs = load_validation_inputs(config, RUN_EXAMPLES)
    path = os.path.join(export_dir or os.path.join(folder, "export", format),
                        RUN_ARTIFACTS[format])
    return export_model(model, path, format, validation_inputs=inputs, preset=config["model"],
                        metadata={"run": os.path.abspath(folder), "dataset": config["dataset"],
                                  "inputs": f"the first {len(inputs)} of its validation split"})


def export_model(model, path, format, *, validation_inputs=None, preset=None, equivariance=None,
                 atol=1e-5, rtol=1e-5, n_samples=8, metadata=None, timeout=600, verbose=True):
    """Folds, writes and verifies a serving artifact of `model`; returns the verification report.

    Args:
        model: a built Functional or Sequential Keras model with one output and one input, or
            a dict of named inputs (point clouds: `{"positions", "velocities", ...}`).
        path: the artifact: `*.keras` for "keras", `*.tflite` for "tflite", a folder for
            "saved_model". Its folder receives `export.json`.
        format: "keras", "saved_model" or "tflite".
        validation_inputs: a numpy batch of the model's inputs (a dict of arrays for named
            inputs); None draws 64 standard normal examples (seed 0).
        preset: the zoo preset the model was built from; when its metadata names representations
            (equivariant presets) that fit the model's input and output, the artifact's
            equivariance error is measured (a model built with another shape is not measured).
        equivariance: `(rep_in, rep_out)` to measure instead, for a model outside the zoo.
        atol, rtol: an output or equivariance error passes when it is at most
            `atol + rtol * max |trained output|`.
        n_samples: group elements sampled for the equivariance error, on top of the generators.
        metadata: extra JSON-able facts recorded in export.json (e.g. the run it came from).
        timeout: seconds the serving process may take.
        verbose: print the numbers.

    Returns:
        The report written to export.json: errors, tolerance, runtime, equivariance, `passed`.

    Raises:
        ValueError: a bad format, path or model, before anything is written.
        ExportVerificationError: the artifact could not be converted or served, its serving
            process imported eqzoo, or its outputs or equivariance are off by more than the
            tolerance. An artifact that was served stays for inspection, and its export.json
            records the numbers with `"passed": false`.
    """
    if format not in FORMATS:
        raise ValueError(f"Invalid value for argument `format`: expected one of "
                         f"{sorted(FORMATS)}. Received: format={format!r}")
    path = os.path.abspath(os.fspath(path))
    _check_path(path, format)
    folded = fold_to_dense(model)  # refuses what is not a built Functional or Sequential model
    named = isinstance(model.input, dict)
    if (len(model.inputs) != 1 and not named) or len(model.outputs) != 1:
        raise ValueError(f"export_model serves models with one output and one input (or a dict "
                         f"of named inputs). Received {model.name!r} with {len(model.inputs)} "
                         f"inputs and {len(model.outputs)} outputs.")
    custom = sorted({f"{layer.name} ({type(layer).__name__})" for layer in _leaves(folded)
                     if not type(layer).__module__.startswith("keras")})
    if format == "keras" and custom:
        raise ValueError(f"Format 'keras' needs plain Keras layers after folding, to load without "
                         f"eqzoo, but {model.name!r} keeps {', '.join(custom)}. Export it as "
                         f"'saved_model' or 'tflite', which serve the traced computation.")
    x, source = _validation_inputs(model, validation_inputs)
    reps = _representations(model, preset, equivariance)

    trained = _predict(model, x)
    probe = moved = None
    if reps is not None:
        probe = _each(lambda a: a[:PROBE_INPUTS], x)
        recorder = _Recorder(lambda batch: _predict(model, batch))
        trained_equivariance = equivariance_error(recorder, reps[0].group, *reps,
                                                  n_samples=n_samples, inputs=probe)
        moved = recorder.inputs
    batch = x if moved is None else _each(
        lambda a, b: np.concatenate([a, b.astype(a.dtype)]), x, moved)
    examples = _length(x)

    os.makedirs(os.path.dirname(path), exist_ok=True)
    _write_atomically(folded, path, format)
    served, process = _serve(path, format, batch, timeout)

    report = {
        "format": format,
        "artifact": path,
        "model": model.name,
        "preset": preset,
        "runtime": process.pop("runtime"),
        "serving_process": process,
        "folded_layers": [layer.name for layer in _leaves(model) if folds(layer)],
        "other_custom_layers": custom,
        "validation_inputs": {"examples": examples, "shape": _each(lambda a: list(a.shape[1:]), x),
                              "source": source},
        "tolerance": {"atol": atol, "rtol": rtol},
        **_output_errors(served[:examples], trained, atol, rtol),
        "equivariance": None,
        **({"metadata": metadata} if metadata else {}),
    }
    if reps is not None:
        exported_equivariance = equivariance_error(
            _Replay(moved, served[examples:]), reps[0].group, *reps, n_samples=n_samples,
            inputs=probe)
        scale = float(np.max(np.abs(trained[:_length(probe)])))
        report["equivariance"] = {
            "group": repr(reps[0].group), "rep_in": repr(reps[0]), "rep_out": repr(reps[1]),
            "examples": _length(probe),
            "group_elements": _length(moved) // _length(probe) - 1,  # moved starts with x
            "exported": exported_equivariance, "trained": trained_equivariance,
            "allowed": atol + rtol * scale}
    failures = _failures(report)
    report["passed"] = not failures
    report_path = os.path.join(os.path.dirname(path), REPORT_NAME)
    write_json(report_path, report)
    if verbose:
        _print(report, report_path)
    if failures:
        raise ExportVerificationError(f"{' '.join(failures)} Numbers: {report_path}")
    return report


def _check_path(path, format):
    ending = FORMATS[format]
    if ending and not path.endswith(ending):
        raise ValueError(f"A {format!r} artifact is a file ending in {ending!r}. "
                         f"Received: path={path!r}")
    if ending and os.path.isdir(path):
        raise ValueError(f"A {format!r} artifact is a file, but {path!r} is a folder.")
    if not ending and os.path.isfile(path):
        raise ValueError(f"A 'saved_model' artifact is a folder, but {path!r} is a file.")


def _validation_inputs(model, inputs):
    if isinstance(model.input, dict):
        if inputs is None:
            rng = np.random.default_rng(0)
            return ({name: rng.normal(size=(RANDOM_INPUTS,) + tuple(t.shape[1:])).astype(t.dtype)
                     for name, t in model.input.items()},
                    f"{RANDOM_INPUTS} standard normal examples, seed 0")
        if not isinstance(inputs, dict) or sorted(inputs) != sorted(model.input):
            raise ValueError(f"validation_inputs must be a dict with keys {sorted(model.input)} "
                             f"for {model.name!r}. Received: {type(inputs).__name__}"
                             + (f" with keys {sorted(inputs)}" if isinstance(inputs, dict) else ""))
        x = {name: _checked_batch(model, t, inputs[name], name) for name, t in model.input.items()}
        if len({len(a) for a in x.values()}) != 1:
            raise ValueError(f"validation_inputs of {model.name!r} must hold one batch size. "
                             f"Received: { {k: len(a) for k, a in x.items()} }")
        return x, "given by the caller"
    if inputs is None:
        shape, dtype = tuple(model.inputs[0].shape[1:]), model.inputs[0].dtype
        draw = np.random.default_rng(0).normal(size=(RANDOM_INPUTS,) + shape)
        return draw.astype(dtype), f"{RANDOM_INPUTS} standard normal examples, seed 0"
    return _checked_batch(model, model.inputs[0], inputs), "given by the caller"


def _checked_batch(model, tensor, inputs, name=None):
    shape = tuple(tensor.shape[1:])
    x = np.asarray(inputs)
    if x.ndim != len(shape) + 1 or x.shape[1:] != shape or len(x) == 0:
        what = f"validation_inputs[{name!r}]" if name else "validation_inputs"
        raise ValueError(f"{what} must be a non-empty batch of shape (N, "
                         f"{', '.join(map(str, shape))}) for {model.name!r}. Received shape "
                         f"{x.shape}.")
    return x.astype(tensor.dtype)


def _each(f, *structures):
    """`f` on each array of one or more batches that are arrays, or dicts of arrays."""
    if isinstance(structures[0], dict):
        return {k: f(*(s[k] for s in structures)) for k in structures[0]}
    return f(*structures)


def _length(x):
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def _representations(model, preset, equivariance):
    if preset is not None and equivariance is not None:
        raise ValueError("Pass `preset` or `equivariance`, not both. Received: "
                         f"preset={preset!r}, equivariance={equivariance!r}")
    if preset is not None:
        spec = get_preset(preset)["metadata"].get("equivariance")
        if spec is None:
            return None
        equivariance = (rep_from_config(spec["rep_in"]), rep_from_config(spec["rep_out"]))
        if not describes(*equivariance, model):
            return None  # built with another shape (--set): the preset's reps do not describe it
    if equivariance is None:
        return None
    if (len(equivariance) != 2
            or not all(isinstance(rep, (Representation, PointCloudRep)) for rep in equivariance)):
        raise ValueError(f"`equivariance` must be a pair (rep_in, rep_out) of Representations. "
                         f"Received: {equivariance!r}")
    shape = (_each(lambda t: tuple(t.shape[1:]), model.input) if isinstance(model.input, dict)
             else tuple(model.inputs[0].shape[1:]))
    rep_shape = equivariance[0].shape
    # A representation takes its own shape or, flattened row-major, (dim,): T(2) of O(3) moves
    # (3, 3) matrices and the 9 values of their rows alike (`Representation.act`); a point
    # cloud's takes a dict of named shapes.
    if isinstance(rep_shape, dict):
        fits = dict(rep_shape) == shape
    else:
        fits = shape in {tuple(rep_shape), (equivariance[0].dim,)}
    if not fits:
        raise ValueError(f"The representation {equivariance[0]!r} acts on inputs of shape "
                         f"{rep_shape}, but {model.name!r} takes {shape}: "
                         "its equivariance cannot be measured with it.")
    return tuple(equivariance)


def _predict(model, x):
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype="float64")


class _Recorder:
    """Calls `f` and keeps the batch it was called with: the transformed copies of the probe."""

    def __init__(self, f):
        self.f, self.inputs = f, None

    def __call__(self, x):
        self.inputs = _each(np.array, x)
        return self.f(x)


class _Replay:
    """Answers the recorded batch with the serving process's outputs for it."""

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = inputs, outputs

    def __call__(self, x):
        same = _each(lambda a, b: np.array_equal(np.asarray(a), b), x, self.inputs)
        if not all(same.values() if isinstance(same, dict) else [same]):
            raise RuntimeError("equivariance_error asked for other inputs than it recorded.")
        return self.outputs


def _write_atomically(folded, path, format):
    """Writes into a scratch folder beside `path`, then renames: no half-written artifact."""
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path))
    try:
        staged = os.path.join(staging, os.path.basename(path))
        if format == "keras":
            folded.save(staged)
        elif format == "saved_model":
            _tf_saved_model(folded, staged, staging)
        else:
            import tensorflow as tf

            saved_model = os.path.join(staging, "saved_model")
            _tf_saved_model(folded, saved_model, staging)
            try:
                flatbuffer = tf.lite.TFLiteConverter.from_saved_model(saved_model).convert()
            except Exception as error:  # the converter's ConverterError, with MLIR locations
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ExportVerificationError(
                    f"TFLite could not convert {folded.name!r}: {reason.rsplit('): ', 1)[-1]}"
                ) from None
            with open(staged, "wb") as f:
                f.write(flatbuffer)
        if os.path.isdir(path):  # a folder cannot be replaced in one rename: move the old aside
            os.replace(path, os.path.join(staging, "replaced"))
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# Writes a SavedModel from a .keras file under the TensorFlow backend (argv: the two paths).
_TF_EXPORT = """
import sys
import keras
import eqzoo.layers, eqzoo.zoo  # registers the layers a folded model may still hold
model = keras.saving.load_model(sys.argv[1], compile=False)
model.export(sys.argv[2], format="tf_saved_model", verbose=False)
"""


def _tf_saved_model(model, path, scratch, timeout=600):
    """`model.export(path, format="tf_saved_model")`. Under PyTorch, Keras exports through
    `torch.export` and fails on the batch dimension; a `.keras` file is the same model on every
    backend, so it is written and exported by a TensorFlow-backend process instead (the artifact
    is then verified like any other)."""
    if keras.backend.backend() != "torch":
        model.export(path, format="tf_saved_model", verbose=False)
        return
    source = os.path.join(scratch, "model.keras")
    model.save(source)
    _python(_TF_EXPORT, [source, path], f"Exporting {model.name!r} under TensorFlow", timeout,
            env={"KERAS_BACKEND": "tensorflow"})


def _python(source, args, what, timeout, cwd=None, env=None):
    """Runs `source` with `python -c` in a fresh process; a timeout or a failure raises
    ExportVerificationError starting with `what`, with the process's last line of stderr."""
    try:
        done = subprocess.run([sys.executable, "-c", source, *args], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    except subprocess.TimeoutExpired:
        raise ExportVerificationError(f"{what} took more than {timeout} s.") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise ExportVerificationError(f"{what} failed: {lines[-1]}")


def _serve(path, format, batch, timeout):
    """The artifact's outputs on `batch`, computed by a fresh process that never imports eqzoo."""
    with tempfile.TemporaryDirectory(prefix="eqzoo-serve-") as scratch:
        files = {name: os.path.join(scratch, name)
                 for name in ("inputs.npz", "outputs.npy", "report.json", "request.json")}
        # Named inputs go by name; a single input is stored as "inputs".
        np.savez(files["inputs.npz"], **(batch if isinstance(batch, dict) else {"inputs": batch}))
        with open(files["request.json"], "w") as f:
            json.dump({"format": format, "artifact": path, "inputs": files["inputs.npz"],
                       "outputs": files["outputs.npy"], "report": files["report.json"]}, f)
        with open(_SERVING_SCRIPT) as f:
            source = f.read()
        # The source runs with `-c` from the scratch folder: neither eqzoo's folders nor the
        # caller's working directory are on the serving process's import path.
        _python(source, [files["request.json"]],
                f"Serving the {format} artifact {path} in a fresh process", timeout, cwd=scratch)
        with open(files["report.json"]) as f:
            process = json.load(f)
        outputs = np.load(files["outputs.npy"]).astype("float64")
    return outputs, process


def _output_errors(served, trained, atol, rtol):
    scale = float(np.max(np.abs(trained), initial=0.0))
    if served.shape != trained.shape:
        raise ExportVerificationError(f"The artifact's outputs have shape {served.shape[1:]}, the "
                                      f"trained model's {trained.shape[1:]}.")
    with np.errstate(invalid="ignore"):
        error = float(np.max(np.abs(served - trained), initial=0.0))
    error = error if np.isfinite(error) else float("inf")
    return {"max_abs_error": error,
            "relative_error": error / scale if scale > 0 else (0.0 if error == 0 else np.inf),
            "max_abs_trained_output": scale, "allowed_error": atol + rtol * scale}


def _failures(report):
    failures = []
    if report["serving_process"]["eqzoo_modules"]:
        failures.append(f"The serving process imported {report['serving_process']['eqzoo_modules']}"
                        ": the artifact is not self-contained.")
    if not report["max_abs_error"] <= report["allowed_error"]:
        failures.append(
            f"The exported {report['format']} artifact differs from the trained model by "
            f"max |exported - trained| = {report['max_abs_error']:.3g} (relative "
            f"{report['relative_error']:.3g}) on {report['validation_inputs']['examples']} "
            f"validation inputs, more than the allowed {report['allowed_error']:.3g}.")
    equivariance = report["equivariance"]
    if equivariance and not equivariance["exported"] <= equivariance["allowed"]:
        failures.append(
            f"The exported artifact's equivariance error under {equivariance['group']} is "
            f"{equivariance['exported']:.3g} (the trained model's: "
            f"{equivariance['trained']:.3g}), more than the allowed {equivariance['allowed']:.3g}.")
    return failures


def _print(report, report_path):
    verdict = "verified" if report["passed"] else "FAILED verification"
    print(f"Export {verdict}: {report['artifact']} ({report['format']}), served by "
          f"{report['runtime']} in a fresh process without eqzoo")
    print(f"  outputs on {report['validation_inputs']['examples']} validation inputs: "
          f"max |exported - trained| = {report['max_abs_error']:.3g}, relative "
          f"{report['relative_error']:.3g}, allowed {report['allowed_error']:.3g}")
    equivariance = report["equivariance"]
    if equivariance:
        print(f"  equivariance under {equivariance['group']}: exported "
              f"{equivariance['exported']:.3g}, trained {equivariance['trained']:.3g}, "
              f"allowed {equivariance['allowed']:.3g}")
    print(f"  numbers: {report_path}")


def _leaves(model):
    return [layer for layer in model._flatten_layers(include_self=False)
            if not isinstance(layer, keras.Model)]

