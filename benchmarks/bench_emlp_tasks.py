"""The EMLP paper's three tasks: test MSE against training-set size, eqzoo's EMLP presets and
their MLP twins, beside the EMLP authors' published numbers and an EMLP 1.0.3 peer run.

Every run follows the EMLP authors' protocol (`experiments/train_regression.py` and
`data_efficiency.py` of github.com/mfinzi/equivariant-MLP): the preset's model (3 layers of
384 channels), Adam at a constant 3e-3, batch `min(500, n)`, `min(900000 // n, 1000)` epochs, MSE
loss, the weights of the best validation MSE kept. Data: `num_examples=5000` (3,500 training,
500 validation, 1,000 test examples, standardised as `datasets.load` does: one scale per field),
the training split cut to `train_size` examples (validation and test stay fixed, so every size
is scored on the same examples). The loop is plain `model.fit` on those arrays, validating every
`VALIDATE_EVERY` epochs: train.py's per-epoch work (a checkpoint, the equivariance monitor, a
validation pass) would cost more than the training itself at n <= 300, where an epoch is one
step; `python train.py --model NAME` trains the same models. MSEs are reported on the raw targets
(the standardised MSE times `target_scale ** 2`), the unit of the EMLP paper's tables.

    nice -n 10 python benchmarks/bench_emlp_tasks.py --workers 2            # the whole grid
    nice -n 10 python benchmarks/bench_emlp_tasks.py --tasks inertia --sizes 1000 --seeds 0
    python benchmarks/bench_emlp_tasks.py --peer        # EMLP 1.0.3 in /work/peers/emlp, reduced
    python benchmarks/bench_emlp_tasks.py --export      # shipped weights -> SavedModel, TFLite
    python benchmarks/bench_emlp_tasks.py --report      # benchmarks/results/emlp_tasks.md

Runs are appended to `benchmarks/results/emlp_tasks_runs.jsonl` as they finish (a rerun skips
those already there); peer runs to `emlp_tasks_peer.jsonl`. The report's last section is
`emlp_tasks_notes.md`, written by hand (what was run, on what machine), kept on regeneration.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from eqzoo.callbacks import SymmetryAndTime
from eqzoo.datasets import emlp_tasks
from eqzoo.fileio import write_text

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
LEARNING_RATE, MAX_BATCH, VALIDATE_EVERY = 3e-3, 500, 10
PROTOCOL = "paper-384ch-bs500"  # the runs of emlp_tasks_runs.jsonl this version reports

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


def epochs_for(train_size):
    """The EMLP authors' budget: `min(900000 // n, 1000)` epochs (900 at n = 1,000)."""
    return min(900_000 // train_size, 1000)


def run_one(preset, task, size, seed):
    """One run of the protocol; its MSEs in raw target units and its seconds per epoch."""
    from eqzoo import zoo

    data, indices, scaling = emlp_tasks.split(task, seed, train_size=size, **OPTIONS)
    x, y = emlp_tasks.standardised(data, indices, scaling)
    keras.utils.set_random_seed(seed)
    model = zoo.create_model(preset)
    model.compile(keras.optimizers.Adam(LEARNING_RATE), "mse")
    best = BestValidation(x["validation"], y["validation"], VALIDATE_EVERY)
    epochs, batch = epochs_for(size), min(MAX_BATCH, size)
    # train.py's timer first: an epoch's seconds are its training steps, not the validation.
    history = model.fit(x["train"], y["train"], batch_size=batch, epochs=epochs, shuffle=True,
                        verbose=0, callbacks=[SymmetryAndTime(), best])
    seconds = history.history["time/epoch_seconds"]
    model.set_weights(best.weights)
    scale2 = scaling.target_scale ** 2
    test = float(model.evaluate(x["test"], y["test"], batch_size=MAX_BATCH, verbose=0))
    keras.backend.clear_session()
    return {"protocol": PROTOCOL, "train_size": len(indices["train"]),
            "params": model.count_params(), "epochs": epochs, "batch_size": batch,
            "best_epoch": best.epoch, "seconds_per_epoch": float(np.median(seconds[1:])),
            "test_mse": test * scale2, "val_mse": best.loss * scale2,
            "test_mse_standardised": test}


class BestValidation(keras.callbacks.Callback):
    """Every `every` epochs (and after the last), the validation MSE; keeps the best weights."""

    def __init__(self, x, y, every):
        super().__init__()
        self.x, self.y, self.every = x, y, every
        self.loss, self.weights, self.epoch = math.inf, None, None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every and epoch + 1 != self.params["epochs"]:
            return
        loss = float(self.model.evaluate(self.x, self.y, batch_size=MAX_BATCH, verbose=0))
        if loss < self.loss or self.weights is None:
            self.loss, self.weights, self.epoch = loss, self.model.get_weights(), epoch + 1


def run_all(tasks, sizes, seeds, output, worker=0, workers=1):
    """The grid, seed by seed (whole curves first); with several workers, this one's share: the
    EMLP of every `workers`-th (seed, size, task) and the twins of the others, so each worker
    gets as many of the slower EMLP runs."""
    os.makedirs(output, exist_ok=True)
    path = os.path.join(output, RUNS_FILE)
    done = {(r["task"], r["model"], r["size"], r["seed"]) for r in protocol_runs(output)}
    grid = [(seed, size, task, model) for seed in seeds for size in sizes for task in tasks
            for model in TASKS[task]]
    mine = [item for i, item in enumerate(grid) if (i // 2 + i % 2) % workers == worker]
    for seed, size, task, model in mine:
        if (task, model, size, seed) in done:
            continue
        row = {"task": task, "model": model, "size": size, "seed": seed,
               **run_one(model, task, size, seed)}
        with open(path, "a") as f:  # one line per write: two workers never interleave
            f.write(json.dumps(row) + "\n")
        print(f"{task:20s} {model:26s} n={size:<5d} seed={seed} test MSE "
              f"{row['test_mse']:.4g} best epoch {row['best_epoch']}/{row['epochs']} "
              f"{row['seconds_per_epoch']:.3f} s/epoch", flush=True)


def run_workers(tasks, sizes, seeds, output, workers, threads):
    """`workers` processes over the grid, each TensorFlow limited to `threads` threads."""
    argv = [sys.executable, os.path.abspath(__file__), "--tasks", ",".join(tasks),
            "--sizes", ",".join(map(str, sizes)), "--seeds", ",".join(map(str, seeds)),
            "--output", output, "--threads", str(threads)]
    procs = [subprocess.Popen([*argv, "--worker", f"{i}/{workers}"]) for i in range(workers)]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"a worker failed: exit codes {codes}")


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


def protocol_runs(output):
    """The runs of `output`'s runs file made under this version's `PROTOCOL`."""
    return [r for r in read_jsonl(os.path.join(output, RUNS_FILE))
            if r.get("protocol") == PROTOCOL]


def _mean_std(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3g} (1 seed)"
    return f"{np.mean(values):.3g} ± {np.std(values):.2g}"


def report(output):
    runs = protocol_runs(output)
    peer = read_jsonl(os.path.join(output, PEER_FILE))
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
    text = (f"Epoch time at 1,000 training examples (median over seeds, batch {MAX_BATCH}): "
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
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the grid")
    parser.add_argument("--worker", default="0/1", help=argparse.SUPPRESS)  # i/k: this one's share
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads per process (0: its default; --workers k sets "
                             "cores / k)")
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
        sizes = [int(s) for s in args.sizes.split(",")]
        seeds = [int(s) for s in args.seeds.split(",")]
        if args.workers > 1:
            threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
            run_workers(tasks, sizes, seeds, args.output, args.workers, threads)
        else:
            if args.threads:
                import tensorflow as tf

                tf.config.threading.set_intra_op_parallelism_threads(args.threads)
                tf.config.threading.set_inter_op_parallelism_threads(args.threads)
            worker, workers = map(int, args.worker.split("/"))
            run_all(tasks, sizes, seeds, args.output, worker, workers)
            if workers > 1:
                return 0  # the parent writes the report
    report(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
