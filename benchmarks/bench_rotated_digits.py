"""Trained upright, tested rotated: the D_4-invariant digits net, its MLP twin, and the twin
averaged.

For each seed, `d4_invariant_digits` and its unconstrained twin `mlp_digits_d4_twin` are trained
on upright digits through the shared loop (`train.main`: its defaults, 20 epochs, batch 32, Adam
3e-3, W&B off), and each final model is scored on the upright test split (`digits`) and on the
same test images rotated or reflected by random D_4 elements (`digits_rotated`, same seed, same
split). The trained twin is then wrapped, unchanged, in `GroupAveraged` over `ImageDihedralGroup(8,
8)` (all 8 elements: exact) and scored again, three ways: averaging its logits; averaging its
softmax probabilities (the wrapped model is `twin` followed by a softmax); and averaging its
logits after `FINETUNE_EPOCHS` more epochs of training through the wrapper on the same upright
training split (Adam 3e-3, batch 32), which makes it an invariant model with the twin's
architecture. Equivariance errors are `equivariance_error` in
float64 (the model rebuilt with float64 policies, as train.py measures it) on the first 64 upright
test images, over the 2 generators and 64 sampled elements (all 8 in practice).

    python benchmarks/bench_rotated_digits.py                 # 3 seeds, ~7 min on 2 cores
    python benchmarks/bench_rotated_digits.py --seeds 0 --output /tmp/out   # one seed

Writes `<output>/rotated_digits.md` and `<output>/rotated_digits_runs.jsonl`.
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

from eqzoo import datasets, train
from eqzoo.fileio import write_text
from eqzoo.layers import GroupAveraged, equivariance_error
from eqzoo.layers.equivariance_monitor import float64_copy
from eqzoo.layers.groups import ImageDihedralGroup
from eqzoo.layers.representations import ImageRep, TrivialRep
from eqzoo.zoo.tasks import TASK_LOSS_AND_METRICS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODELS = {"d4": "d4_invariant_digits", "twin": "mlp_digits_d4_twin"}
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


def arrays(name, seed):
    test = datasets.load(name, batch_size=1000, seed=seed).test
    x, y = next(iter(test))
    return x.numpy(), y.numpy()


def accuracy(model, x, y):
    return float(np.mean(np.argmax(np.asarray(model.predict(x, verbose=0)), axis=1) == y))


def error64(model, x):
    """float64 equivariance error: the model rebuilt in float64, as train.py's monitor does."""
    copy = float64_copy(model)
    assert copy is not None, f"{model.name} could not be rebuilt in float64"
    return equivariance_error(copy, GROUP, REP_IN, REP_OUT, n_samples=64,
                              inputs=x.astype("float64"))


def averaged(model, probabilities=False):
    if probabilities:
        model = keras.Sequential([model, keras.layers.Softmax()])
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, GroupAveraged(model, GROUP, REP_IN, REP_OUT)(inputs))


def finetuned(model, seed):
    """The twin averaged, then trained further through the wrapper on upright digits."""
    wrapped = averaged(model)
    make_loss, metrics = TASK_LOSS_AND_METRICS["classification"]
    wrapped.compile(keras.optimizers.Adam(3e-3), loss=make_loss(), metrics=metrics)
    keras.utils.set_random_seed(seed)
    wrapped.fit(datasets.load("digits", batch_size=32, seed=seed).train,
                epochs=FINETUNE_EPOCHS, verbose=0)
    return wrapped


def six_nine_confusions(model, x, y):
    predicted = np.argmax(np.asarray(model.predict(x, verbose=0)), axis=1)
    return int(np.sum((y == 6) & (predicted == 9)) + np.sum((y == 9) & (predicted == 6)))


def run_seed(seed, run_dir):
    (x_up, y_up), (x_rot, y_rot) = arrays("digits", seed), arrays("digits_rotated", seed)
    assert np.array_equal(y_up, y_rot)
    row = {"seed": seed, "test_size": int(len(y_up))}
    for key, name in MODELS.items():
        started = time.perf_counter()
        model = train_one(name, seed, run_dir)
        row[f"{key}_seconds"] = time.perf_counter() - started
        candidates = {key: model}
        if key == "twin":
            candidates["twin_averaged"] = averaged(model)
            candidates["twin_softmax_averaged"] = averaged(model, probabilities=True)
            started = time.perf_counter()
            candidates["twin_averaged_finetuned"] = finetuned(
                keras.saving.load_model(os.path.join(run_dir, f"{name}-{seed}", "model.keras")),
                seed)
            row["finetune_seconds"] = time.perf_counter() - started
        for label, candidate in candidates.items():
            row[f"{label}_upright"] = accuracy(candidate, x_up, y_up)
            row[f"{label}_rotated"] = accuracy(candidate, x_rot, y_rot)
            row[f"{label}_error"] = error64(candidate, x_up[:64])
            row[f"{label}_six_nine"] = six_nine_confusions(candidate, x_up, y_up)
        keras.backend.clear_session()
    return row


def report(rows, path):
    def stat(key, digits=3):
        values = np.array([row[key] for row in rows])
        return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"

    def err(key):
        return f"{max(row[key] for row in rows):.2g}"

    seeds = ", ".join(str(row["seed"]) for row in rows)
    lines = [
        "# Trained upright, tested rotated (digits, D_4)",
        "",
        "Measured by `python benchmarks/bench_rotated_digits.py` (see its docstring): each model "
        f"trained by `train.py` with its defaults on upright digits, seeds {seeds}, "
        f"{rows[0]['test_size']} test images. Accuracy: mean ± standard deviation over seeds. "
        "Equivariance error: `max |f(g x) - f(x)|` over D_4 (in output units: logits, "
        "probabilities for the softmax row; float64) on 64 upright "
        "test images, the largest over seeds. 6 <-> 9: upright test images of a 6 classified "
        "as 9 or the reverse, mean over seeds.",
        "",
        "| model | params | upright test accuracy | rotated test accuracy | equivariance error "
        "| 6 <-> 9 confusions |",
        "|---|---|---|---|---|---|",
    ]
    params = {"d4": "23,722", "twin": "26,218", "twin_averaged": "26,218",
              "twin_softmax_averaged": "26,218", "twin_averaged_finetuned": "26,218"}
    names = {"d4": "`d4_invariant_digits`", "twin": "`mlp_digits_d4_twin` (the twin)",
             "twin_averaged": "`GroupAveraged(twin)`, logits averaged, no retraining",
             "twin_softmax_averaged": "`GroupAveraged(softmax(twin))`, probabilities averaged, "
                                      "no retraining",
             "twin_averaged_finetuned": f"`GroupAveraged(twin)` + {FINETUNE_EPOCHS} epochs "
                                        "through the wrapper"}
    for key in names:
        confusions = np.mean([row[f"{key}_six_nine"] for row in rows])
        lines.append(f"| {names[key]} | {params[key]} | {stat(f'{key}_upright')} | "
                     f"{stat(f'{key}_rotated')} | {err(f'{key}_error')} | {confusions:.1f} |")
    lines += ["", "Per seed (accuracy upright / rotated):", "",
              "| seed | d4 | twin | twin averaged | softmax averaged | averaged + fine-tuned "
              "| d4 train s | twin train s | fine-tune s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['seed']} | {row['d4_upright']:.3f} / {row['d4_rotated']:.3f} | "
            f"{row['twin_upright']:.3f} / {row['twin_rotated']:.3f} | "
            f"{row['twin_averaged_upright']:.3f} / {row['twin_averaged_rotated']:.3f} | "
            f"{row['twin_softmax_averaged_upright']:.3f} / "
            f"{row['twin_softmax_averaged_rotated']:.3f} | "
            f"{row['twin_averaged_finetuned_upright']:.3f} / "
            f"{row['twin_averaged_finetuned_rotated']:.3f} | "
            f"{row['d4_seconds']:.0f} | {row['twin_seconds']:.0f} | "
            f"{row['finetune_seconds']:.0f} |")
    write_text(path, "\n".join(lines) + "\n")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results"))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    os.makedirs(args.output, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="eqzoo-rotated-") as run_dir:
        for seed in seeds:
            rows.append(run_seed(seed, run_dir))
            print(json.dumps(rows[-1]), flush=True)
    jsonl = os.path.join(args.output, "rotated_digits_runs.jsonl")
    write_text(jsonl, "".join(json.dumps(row) + "\n" for row in rows))
    print(report(rows, os.path.join(args.output, "rotated_digits.md")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
