"""Trained upright, tested rotated: the p4m G-CNN on digits against its CNN twins, the dense
D_4-invariant net and a group-averaged CNN.

For each seed, every preset in MODELS is trained on upright digits through the shared loop
(`train.main`: its defaults, 20 epochs, batch 32, Adam 3e-3, W&B off) and scored on three test
sets of the same split: upright (`digits`); rotated or reflected by random D_4 elements
(`digits_rotated`, what p4m is exactly invariant to); and rotated by arbitrary angles with
bilinear interpolation (`datasets.rotation.any_angle` on the upright test images, seeded: where
exact p4m invariance stops). The parameter-matched CNN twin is then wrapped, unchanged, in
`GroupAveraged` over `ImageDihedralGroup(8, 8)` (exact), and also trained FINETUNE_EPOCHS more
epochs through the wrapper. Equivariance errors: `equivariance_error` in float64 on 64 upright
test images.

    nice python benchmarks/bench_gcnn.py                       # 3 seeds
    python benchmarks/bench_gcnn.py --seeds 0 --output /tmp/out

Writes `<output>/gcnn_digits.md` and `<output>/gcnn_digits_runs.jsonl`.
"""

import argparse
import contextlib
import io
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf

from eqzoo import datasets, train
from eqzoo.datasets import rotation
from eqzoo.layers import GroupAveraged, equivariance_error
from eqzoo.layers.equivariance_monitor import float64_copy
from eqzoo.layers.groups import ImageDihedralGroup
from eqzoo.layers.representations import ImageRep, TrivialRep
from eqzoo.zoo.tasks import TASK_LOSS_AND_METRICS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["p4m_cnn_digits", "cnn_digits_p4m_twin", "cnn_digits_p4m_channels_twin",
          "d4_invariant_digits"]
AVERAGED = "cnn_digits_p4m_twin"
SEEDS = [0, 1, 2]
FINETUNE_EPOCHS = 5
GROUP = ImageDihedralGroup(8, 8)
REP_IN, REP_OUT = ImageRep(GROUP, 1), TrivialRep(GROUP, 10)


def train_one(model, seed, run_dir):
    argv = ["--model", model, "--dataset", "digits", "--seed", str(seed), "--run-dir", run_dir,
            "--run-id", f"{model}-{seed}", "--wandb", "disabled"]
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        code = train.main(argv)
    if code != 0:
        raise RuntimeError(f"train.py {' '.join(argv)} exited {code}:\n{log.getvalue()[-2000:]}")
    return keras.saving.load_model(os.path.join(run_dir, f"{model}-{seed}", "model.keras"))


def test_sets(seed):
    x, y = next(iter(datasets.load("digits", batch_size=1000, seed=seed).test))
    x_d4, y_d4 = next(iter(datasets.load("digits_rotated", batch_size=1000, seed=seed).test))
    assert np.array_equal(y.numpy(), y_d4.numpy())
    any_angle = rotation.any_angle(x, tf.constant([seed, 99], tf.int64)).numpy()
    return {"upright": (x.numpy(), y.numpy()), "d4": (x_d4.numpy(), y.numpy()),
            "any_angle": (any_angle, y.numpy())}


def accuracy(model, x, y):
    return float(np.mean(np.argmax(np.asarray(model.predict(x, verbose=0)), axis=1) == y))


def error64(model, x):
    copy = float64_copy(model)
    if copy is None:  # GroupAveraged of a float32 model: measured in float32
        return equivariance_error(model, GROUP, REP_IN, REP_OUT, n_samples=64, inputs=x)
    return equivariance_error(copy, GROUP, REP_IN, REP_OUT, n_samples=64,
                              inputs=x.astype("float64"))


def averaged(model):
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, GroupAveraged(model, GROUP, REP_IN, REP_OUT)(inputs))


def finetuned(model, seed):
    wrapped = averaged(model)
    make_loss, metrics = TASK_LOSS_AND_METRICS["classification"]
    wrapped.compile(keras.optimizers.Adam(3e-3), loss=make_loss(), metrics=metrics)
    keras.utils.set_random_seed(seed)
    wrapped.fit(datasets.load("digits", batch_size=32, seed=seed).train,
                epochs=FINETUNE_EPOCHS, verbose=0)
    return wrapped


def run_seed(seed, run_dir):
    sets = test_sets(seed)
    row = {"seed": seed, "test_size": len(sets["upright"][1])}
    for name in MODELS:
        started = time.perf_counter()
        model = train_one(name, seed, run_dir)
        row[f"{name}_seconds"] = time.perf_counter() - started
        row[f"{name}_params"] = model.count_params()
        candidates = {name: model}
        if name == AVERAGED:
            candidates[f"GroupAveraged({name})"] = averaged(model)
            candidates[f"GroupAveraged({name}) + fine-tune"] = finetuned(
                keras.saving.load_model(os.path.join(run_dir, f"{name}-{seed}", "model.keras")),
                seed)
            row[f"GroupAveraged({name})_params"] = model.count_params()
            row[f"GroupAveraged({name}) + fine-tune_params"] = model.count_params()
        for label, candidate in candidates.items():
            for key, (x, y) in sets.items():
                row[f"{label}_{key}"] = accuracy(candidate, x, y)
            row[f"{label}_error"] = error64(candidate, sets["upright"][0][:64])
        keras.backend.clear_session()
    return row


def labels(rows):
    return [k[:-len("_upright")] for k in rows[0] if k.endswith("_upright")]


def report(rows, path):
    def stat(key):
        values = np.array([row[key] for row in rows])
        return f"{values.mean():.3f} ± {values.std():.3f}"

    seeds = ", ".join(str(row["seed"]) for row in rows)
    lines = [
        "| model | params | upright | rotated/reflected (D_4) | any angle (bilinear) | "
        "equivariance error (max over seeds) |",
        "|---|---|---|---|---|---|",
    ]
    for label in labels(rows):
        lines.append(f"| `{label}` | {rows[0][f'{label}_params']:,} | {stat(label + '_upright')} "
                     f"| {stat(label + '_d4')} | {stat(label + '_any_angle')} | "
                     f"{max(row[label + '_error'] for row in rows):.2g} |")
    text = (f"Digits test accuracy, mean ± std over seeds {seeds} ({rows[0]['test_size']} test "
            "images), `python benchmarks/bench_gcnn.py`:\n\n" + "\n".join(lines) + "\n")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results"))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    os.makedirs(args.output, exist_ok=True)
    rows = []
    jsonl = os.path.join(args.output, "gcnn_digits_runs.jsonl")
    with tempfile.TemporaryDirectory(prefix="eqzoo-gcnn-") as run_dir:
        for seed in seeds:
            rows.append(run_seed(seed, run_dir))
            with open(jsonl, "a") as f:
                f.write(json.dumps(rows[-1]) + "\n")
            print(json.dumps(rows[-1]), flush=True)
    print(report(rows, os.path.join(args.output, "gcnn_digits.md")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
