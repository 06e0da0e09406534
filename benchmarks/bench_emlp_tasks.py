"""The EMLP paper's three tasks: test MSE against training-set size, eqzoo's EMLP presets and
their MLP twins, beside the EMLP authors' published numbers and an EMLP 1.0.3 peer run.

Every eqzoo run goes through the shared training loop (`train.main`, W&B off, a temporary run
folder) on `num_examples=5000` (3,500 training, 500 validation, 1,000 test examples), cut to
`train_size` examples (validation and test stay fixed, so every size is scored on the same
examples). Epochs follow a step budget, `epochs = clip(ceil(STEPS / batches per epoch), MIN,
MAX)`, with early stopping on the validation loss (best weights restored). train.py's MSE is on
standardised targets; the tables multiply it by the training split's `target_scale ** 2`, which
gives the MSE of the raw targets, the unit of the EMLP paper's tables.

    nice -n 10 python benchmarks/bench_emlp_tasks.py                        # the whole grid
    nice -n 10 python benchmarks/bench_emlp_tasks.py --tasks inertia --sizes 1000 --seeds 0
    python benchmarks/bench_emlp_tasks.py --peer        # EMLP 1.0.3 in /work/peers/emlp, reduced
    python benchmarks/bench_emlp_tasks.py --export      # shipped weights -> SavedModel, TFLite
    python benchmarks/bench_emlp_tasks.py --report      # benchmarks/results/emlp_tasks.md

Runs are appended to `benchmarks/results/emlp_tasks_runs.jsonl` as they finish (a rerun skips
those already there); peer runs to `emlp_tasks_peer.jsonl`. The report's last section is
`emlp_tasks_notes.md`, written by hand (what was run, on what machine), kept on regeneration.
"""

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from eqzoo import train
from eqzoo.datasets import emlp_tasks
from eqzoo.fileio import write_text
from eqzoo.runs import read_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
RUNS_FILE, PEER_FILE = "emlp_tasks_runs.jsonl", "emlp_tasks_peer.jsonl"
EXPORT_FILE = "emlp_tasks_export.jsonl"
NOTES_FILE = "emlp_tasks_notes.md"
PEER_PYTHON = "/work/peers/emlp/bin/python"
PEER_SCRIPT = os.path.join(ROOT, "benchmarks", "emlp_peer.py")

TASKS = {  # task -> (constrained preset, its MLP twin)
    "o5_synthetic": ("emlp_o5_synthetic", "mlp_o5_synthetic"),
    "inertia": ("emlp_inertia", "mlp_inertia"),
    "particle_scattering": ("emlp_particle_scattering", "mlp_particle_scattering"),
}
OPTIONS = {"num_examples": 5000}
SIZES = [1000, 300, 3000, 100, 30]  # the order they run in
SEEDS = [0, 1, 2]
BATCH_SIZE = 32
STEPS, MIN_EPOCHS, MAX_EPOCHS, PATIENCE = 1000, 20, 100, 15

# The EMLP authors' test MSE (raw targets), mean of their 3 trials: experiments/notebooks/
# synthetic_results_all.csv in github.com/mfinzi/equivariant-MLP (commit b80815b).
PUBLISHED = {
    "o5_synthetic": {
        "EMLP O(5)": {30: 0.1519, 100: 0.04081, 300: 0.03442, 1000: 0.01701, 3000: 0.03103},
        "EMLP SO(5)": {30: 0.1102, 100: 0.0415, 300: 0.03843, 1000: 0.01978, 3000: 0.03198},
        "MLP": {30: 28.1, 100: 2.831, 300: 0.2482, 1000: 0.08924, 3000: 0.06234},
    },
    "inertia": {
        "EMLP O(3)": {30: 4.106, 100: 1.439, 300: 0.3035, 1000: 0.136, 3000: 0.02815},
        "EMLP SO(3)": {30: 6.912, 100: 1.163, 300: 0.3157, 1000: 0.06038, 3000: 0.02906},
        "MLP": {30: 13.43, 100: 7.908, 300: 4.935, 1000: 3.236, 3000: 0.8397},
    },
    "particle_scattering": {
        "EMLP O(1,3)": {30: 0.54, 100: 0.008878, 300: 0.001949, 1000: 0.0003298,
                        3000: 0.0002656},
        "EMLP SO+(1,3)": {30: 0.4587, 100: 0.01268, 300: 0.002212, 1000: 0.0003299,
                          3000: 0.0002237},
        "MLP": {30: 0.7333, 100: 0.733, 300: 0.6974, 1000: 0.364, 3000: 0.05037},
    },
}


def epochs_for(train_size, steps=STEPS, min_epochs=MIN_EPOCHS, max_epochs=MAX_EPOCHS):
    return int(np.clip(math.ceil(steps / math.ceil(train_size / BATCH_SIZE)), min_epochs,
                       max_epochs))


def target_scale(task, size, seed):
    """The scale train.py's targets were divided by, for that split and training subset."""
    return emlp_tasks.split(task, seed, train_size=size, **OPTIONS)[2].target_scale


def run_one(model, task, size, seed, epochs, run_dir):
    """One `train.py` run; returns its metrics in raw target units and its seconds per epoch."""
    run_id = f"{model}-{size}-{seed}"
    argv = ["--model", model, "--dataset", task, "--seed", str(seed), "--epochs", str(epochs),
            "--batch-size", str(BATCH_SIZE), "--early-stopping", str(PATIENCE),
            "--run-dir", run_dir, "--run-id", run_id, "--wandb", "disabled"]
    for key, value in {**OPTIONS, "train_size": size}.items():
        argv += ["--dataset-option", f"{key}={value}"]
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        code = train.main(argv)
    keras.backend.clear_session()
    if code != 0:
        raise RuntimeError(f"train.py {' '.join(argv)} exited {code}:\n{log.getvalue()[-2000:]}")
    config, metrics, history = read_run(os.path.join(run_dir, run_id))
    epoch_seconds = [float(row["time/epoch_seconds"]) for row in history]
    scale2 = target_scale(task, size, seed) ** 2
    return {"train_size": config["dataset_info"]["train_size"],
            "params": config["parameters"]["trainable"], "epochs": metrics["epochs_completed"],
            "seconds_per_epoch": float(np.median(epoch_seconds[1:] or epoch_seconds)),
            "test_mse": metrics["test/loss"] * scale2, "val_mse": metrics["val/loss"] * scale2,
            "test_mse_standardised": metrics["test/loss"],
            # EquivarianceMonitor's final value, float64 (`equivariance/<group>`): EMLPs only.
            "equivariance_error": next((v for k, v in metrics.items()
                                        if k.startswith("equivariance/")), None)}


def run_all(tasks, sizes, seeds, output):
    path = os.path.join(output, RUNS_FILE)
    done = {(r["task"], r["model"], r["size"], r["seed"]) for r in read_jsonl(path)}
    # Seed by seed, so that a run cut short by its budget holds whole curves (sizes in the order
    # given, the paper's headline 1,000 first by default), not three seeds of a few sizes.
    grid = [(seed, size, task, model) for seed in seeds for size in sizes for task in tasks
            for model in TASKS[task]]
    with tempfile.TemporaryDirectory(prefix="eqzoo-emlp-tasks-") as run_dir:
        for seed, size, task, model in grid:
            if (task, model, size, seed) in done:
                continue
            row = run_one(model, task, size, seed, epochs_for(size), run_dir)
            row = {"task": task, "model": model, "size": size, "seed": seed, **row}
            with open(path, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{task:20s} {model:26s} n={size:<5d} seed={seed} test MSE "
                  f"{row['test_mse']:.4g} epochs={row['epochs']} "
                  f"{row['seconds_per_epoch']:.3f} s/epoch", flush=True)


def run_peer(tasks, size, seed, epochs, batch_size, solves, output):
    """EMLP 1.0.3 on the same arrays (written to npz), and its basis solves, in its own venv."""
    path = os.path.join(output, PEER_FILE)
    with tempfile.TemporaryDirectory(prefix="eqzoo-emlp-peer-") as scratch:
        jobs = []
        for task in tasks:
            data, result = os.path.join(scratch, f"{task}.npz"), os.path.join(scratch, "r.json")
            write_peer_arrays(task, size, seed, data)
            jobs.append(["train", "--data", data, "--task", task, "--epochs", str(epochs),
                         "--seed", str(seed), "--batch-size", str(batch_size), "--out", result])
        jobs += [["solve", "--rep", rep, "--out", os.path.join(scratch, "r.json")]
                 for rep in solves]
        for job in jobs:
            subprocess.run(["nice", "-n", "10", PEER_PYTHON, PEER_SCRIPT, *job], check=True,
                           capture_output=True)
            with open(job[-1]) as f:
                row = {"kind": job[0], **json.load(f)}
            with open(path, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def write_peer_arrays(task, size, seed, path):
    """The raw arrays of the split eqzoo trains on, and the scales it fitted."""
    data, indices, scaling = emlp_tasks.split(task, seed, train_size=size, **OPTIONS)
    np.savez(path, x_train=data.x[indices["train"]], y_train=data.y[indices["train"]],
             x_test=data.x[indices["test"]], y_test=data.y[indices["test"]],
             input_scales=np.repeat(scaling.field_scales, scaling.field_sizes),
             target_shift=scaling.target_shift, target_scale=scaling.target_scale)


def run_exports(tasks, output):
    """Each preset's shipped weights as a SavedModel and a TFLite file, served in a fresh process
    without eqzoo, on 256 test inputs; the equivariance error measured again on the artifact."""
    from eqzoo import datasets, zoo

    path = os.path.join(output, EXPORT_FILE)
    with tempfile.TemporaryDirectory(prefix="eqzoo-emlp-export-") as scratch:
        for task in tasks:
            preset = TASKS[task][0]
            model = zoo.create_model(preset, weights="pretrained")
            _, _, test, _ = datasets.load(task, batch_size=256, seed=0)
            x = next(iter(test))[0].numpy()
            for fmt, artifact in [("saved_model", "saved_model"), ("tflite", "model.tflite")]:
                report = zoo.export_model(model, os.path.join(scratch, fmt, artifact), fmt,
                                          validation_inputs=x, preset=preset, verbose=False)
                row = {"preset": preset, "format": fmt, "runtime": report["runtime"],
                       "examples": len(x), "max_abs_error": report["max_abs_error"],
                       "relative_error": report["relative_error"],
                       **{k: report["equivariance"][k] for k in
                          ("group", "group_elements", "exported", "trained", "allowed")},
                       "passed": report["passed"]}
                with open(path, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _mean_std(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3g} (1 seed)"
    return f"{np.mean(values):.3g} ± {np.std(values):.2g}"


def report(output):
    runs, peer = read_jsonl(os.path.join(output, RUNS_FILE)), read_jsonl(
        os.path.join(output, PEER_FILE))
    lines = ["# The EMLP paper's tasks: eqzoo against EMLP", "",
             "Generated by `python benchmarks/bench_emlp_tasks.py --report` from "
             f"`{RUNS_FILE}` and `{PEER_FILE}`. Test MSE of the raw targets (the unit of the "
             "EMLP paper's tables), mean ± standard deviation over the seeds run, on the same "
             "1,000 test examples for every training size. Published: the EMLP authors' "
             "`experiments/notebooks/synthetic_results_all.csv` (github.com/mfinzi/"
             "equivariant-MLP, mean of 3 trials; their test sets held 5,000 examples).", ""]
    for task, (preset, twin) in TASKS.items():
        own = [r for r in runs if r["task"] == task]
        sizes = sorted(set(SIZES))
        lines += [f"## {task}", "", "| model | " + " | ".join(f"n={n}" for n in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for model in (preset, twin):
            cells = [_mean_std([r["test_mse"] for r in own if r["model"] == model
                                and r["size"] == n]) for n in sizes]
            lines.append(f"| eqzoo `{model}` | " + " | ".join(cells) + " |")
        for label, table in PUBLISHED[task].items():
            cells = [f"{table[n]:.3g}" if n in table else "-" for n in sizes]
            lines.append(f"| published {label} | " + " | ".join(cells) + " |")
        for row in (r for r in peer if r["kind"] == "train" and r["task"] == task):
            cells = [f"{row['test_mse']:.3g}" if n == row["train_size"] else "-" for n in sizes]
            lines.append(f"| EMLP 1.0.3 peer, {row['epochs']} epochs, seed {row['seed']} | "
                         + " | ".join(cells) + " |")
        lines += ["", _timing(own, preset, twin, [r for r in peer if r["kind"] == "train"
                                                   and r["task"] == task]), ""]
    solves = [r for r in peer if r["kind"] == "solve"]
    if solves:
        lines += ["## Basis solves (EMLP 1.0.3 peer)", "",
                  "| space (EMLP spelling) | dimension | wall s | CPU s |", "|---|---|---|---|"]
        lines += [f"| `{r['emlp_spelling']}` | {r['dim']} | {r['seconds']:.1f} | "
                  f"{r['cpu_seconds']:.1f} |" for r in solves]
        lines.append("")
    exports = read_jsonl(os.path.join(output, EXPORT_FILE))
    if exports:
        lines += ["## Shipped weights, exported and served (`--export`)", "",
                  "Each preset's shipped weights (`zoo.export_model`), served in a fresh process "
                  "without eqzoo, on 256 test inputs; the equivariance error "
                  "`max |f(rho_in(g) x) - rho_out(g) f(x)|` over the generators and 8 sampled "
                  "elements, measured on the artifact's own outputs and on the trained model's "
                  "(float32).", "",
                  "| preset | runtime | max abs(served - trained) | equivariance: artifact | "
                  "trained | allowed | passed |", "|---|---|---|---|---|---|---|"]
        lines += [f"| `{r['preset']}` | {r['runtime'].split(',')[0]} | {r['max_abs_error']:.2g}"
                  f" | {r['exported']:.2g} | {r['trained']:.2g} | {r['allowed']:.2g} | "
                  f"{r['passed']} |" for r in exports]
        lines.append("")
    notes = os.path.join(output, NOTES_FILE)
    if os.path.exists(notes):
        with open(notes) as f:
            lines += [f.read().strip(), ""]
    write_text(os.path.join(output, "emlp_tasks.md"), "\n".join(lines))
    print("\n".join(lines))


def _timing(own, preset, twin, peer):
    def median(model):  # at n = 1,000, where an epoch is mostly training, not overhead
        values = [r["seconds_per_epoch"] for r in own if r["model"] == model
                  and r["train_size"] == 1000]
        return float(np.median(values)) if values else None

    ours, mlp = median(preset), median(twin)
    if ours is None or mlp is None:
        return "Epoch time: not measured."
    text = (f"Epoch time at 1,000 training examples (median over seeds, batch {BATCH_SIZE}): "
            f"`{preset}` {ours:.3f} s, `{twin}` {mlp:.3f} s ({ours / mlp:.1f}x the twin)")
    for row in peer:
        text += (f"; EMLP 1.0.3 peer {row['epoch_seconds']:.2f} s wall "
                 f"({row['epoch_cpu_seconds']:.2f} s CPU, batch "
                 f"{row['batch_size']}, {row['channels']} channels; model build with its basis "
                 f"solves {row['build_seconds']:.0f} s)")
    return text + "."


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--output", default=RESULTS)
    parser.add_argument("--report", action="store_true", help="only write the report")
    parser.add_argument("--export", action="store_true",
                        help="export each preset's shipped weights (SavedModel, TFLite), verified")
    parser.add_argument("--peer", action="store_true",
                        help="run EMLP 1.0.3 (its venv) at one size and seed, and its solves")
    parser.add_argument("--peer-epochs", type=int, default=20)
    parser.add_argument("--peer-batch-size", type=int, default=100)
    parser.add_argument("--peer-solves", default="o5_t2_t2,lorentz_t2v_t2,so3_t6,o3_t3_t3")
    args = parser.parse_args(argv)
    tasks = args.tasks.split(",")
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown tasks {unknown}; expected some of {sorted(TASKS)}")
    if args.export:
        run_exports(tasks, args.output)
    elif args.peer:
        run_peer(tasks, int(args.sizes.split(",")[0]), int(args.seeds.split(",")[0]),
                 args.peer_epochs, args.peer_batch_size,
                 [s for s in args.peer_solves.split(",") if s], args.output)
    elif not args.report:
        run_all(tasks, [int(s) for s in args.sizes.split(",")],
                [int(s) for s in args.seeds.split(",")], args.output)
    report(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
