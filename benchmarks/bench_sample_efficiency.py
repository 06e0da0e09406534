"""Does the symmetric prior pay off? Test metric against training-set size, constrained vs twin.

Every run goes through the shared training loop (`train.main`, W&B off, a temporary run folder):
for each task, each constrained preset that fits it and its unconstrained twin are trained on
`train_size` examples of the training split (validation and test splits stay fixed, so every size
is scored on the same examples), for several seeds. A seed fixes the split, the subset, any
synthetic task and the initialisation. Epochs follow a step budget, so small training sets are
not starved of updates: `epochs = clip(ceil(STEPS / batches per epoch), MIN, MAX)`, with early
stopping on the validation loss (best weights restored).

    python benchmarks/bench_sample_efficiency.py               # ~30 min on 2 cores
    python benchmarks/bench_sample_efficiency.py --tasks digits,wine --seeds 0,1
    python benchmarks/bench_sample_efficiency.py --report      # tables and plots from saved runs
    python benchmarks/bench_sample_efficiency.py --quick       # smoke run, seconds, in /tmp

Runs are appended to `<output>/sample_efficiency_runs.jsonl` as they finish (a rerun skips the
ones already there), then `<output>/sample_efficiency.md` and one PNG per task are written; the
report ends with `<output>/sample_efficiency_notes.md` (how those runs were made) when it exists,
so regenerating it loses no text. --quick writes to a new temporary folder unless --output names
another one, never to benchmarks/results.
"""

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from eqzoo import datasets, train, zoo
from eqzoo.fileio import write_text
from eqzoo.runs import read_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# task: dataset, its options, the metric compared, presets (constrained first, twins last).
TASKS = {
    "quadratic_form": ("quadratic_form", {"num_examples": 1024}, "test/loss",
                       ["pairwise_quadratic_form", "fm_quadratic_form",
                        "pairwise_quadratic_form_unconstrained"]),
    "hopfield_patterns": ("hopfield_patterns", {"num_examples": 1024}, "test/loss",
                          ["hopfield_patterns_32", "hopfield_patterns_32_unconstrained"]),
    "set_sum": ("set_sum", {"num_examples": 1024}, "test/loss",
                ["deepsets_set_sum", "mlp_set_sum"]),
    "cyclic_signal": ("cyclic_signal", {"num_examples": 1024}, "test/loss",
                      ["cyclic_signal_net", "dihedral_signal_net", "mlp_cyclic_signal"]),
    "graph_triangles": ("graph_triangles", {"num_examples": 1024}, "test/loss",
                        ["invariant_graph_net_triangles", "mlp_graph_triangles"]),
    "line_graph_degrees": ("line_graph_degrees", {"num_examples": 1024}, "test/loss",
                           ["equivariant_graph_net_line_degrees", "mlp_line_graph_degrees"]),
    "digits": ("digits", {}, "test/accuracy", ["symmetric_mlp_digits", "mlp_digits"]),
    "digits_reconstruction": ("digits", {}, "test/loss",
                              ["tied_autoencoder_digits", "tied_autoencoder_digits_symmetric",
                               "autoencoder_digits"]),
    "wine": ("wine", {}, "test/accuracy", ["pairwise_wine", "pairwise_wine_unconstrained",
                                           "symmetric_mlp_wine", "mlp_wine"]),
}
METRIC_NAMES = {"test/loss": "test MSE (lower is better)",
                "test/accuracy": "test accuracy (higher is better)"}
SIZES = [50, 100, 200, 500, None]  # None: the whole training split
SEEDS = [0, 1, 2]
BATCH_SIZE = 32
STEPS, MIN_EPOCHS, MAX_EPOCHS, PATIENCE = 300, 15, 60, 10
QUICK = dict(tasks=["quadratic_form"], sizes=[50], seeds=[0], steps=4, min_epochs=2,
             max_epochs=2, options={"num_examples": 256})
RUNS_FILE = "sample_efficiency_runs.jsonl"
NOTES_FILE = "sample_efficiency_notes.md"  # the report's last section, written by hand
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def epochs_for(train_size, steps, min_epochs, max_epochs):
    return int(np.clip(math.ceil(steps / math.ceil(train_size / BATCH_SIZE)), min_epochs,
                       max_epochs))


def run_one(model, dataset, options, size, seed, epochs, run_dir):
    """One `train.py` run; returns its final metrics, parameters and seconds per epoch."""
    run_id = f"{model}-{size or 'all'}-{seed}"
    argv = ["--model", model, "--dataset", dataset, "--seed", str(seed), "--epochs", str(epochs),
            "--batch-size", str(BATCH_SIZE), "--early-stopping", str(PATIENCE),
            "--run-dir", run_dir, "--run-id", run_id, "--wandb", "disabled"]
    for key, value in {**options, **({"train_size": size} if size else {})}.items():
        argv += ["--dataset-option", f"{key}={value}"]
    log = io.StringIO()
    with contextlib.redirect_stdout(log):  # progress bars; the log is shown only on failure
        code = train.main(argv)
    keras.backend.clear_session()  # one process, hundreds of models: keep the graph state small
    if code != 0:
        raise RuntimeError(f"train.py {' '.join(argv)} exited {code}:\n{log.getvalue()[-2000:]}")
    config, metrics, history = read_run(os.path.join(run_dir, run_id))
    epoch_seconds = [float(row["time/epoch_seconds"]) for row in history]
    return {"train_size": config["dataset_info"]["train_size"],
            "params": config["parameters"]["trainable"],
            "epochs": metrics["epochs_completed"],
            # The first epoch traces the graph; the median of the rest is the steady cost.
            "seconds_per_epoch": float(np.median(epoch_seconds[1:] or epoch_seconds)),
            **{k: v for k, v in metrics.items() if k.startswith(("test/", "train/", "val/"))}}


def run_all(tasks, sizes, seeds, output, steps, min_epochs, max_epochs, options_override=None):
    path = os.path.join(output, RUNS_FILE)
    done = {(r["task"], r["model"], r["size"], r["seed"]) for r in read_runs(path)}
    with tempfile.TemporaryDirectory(prefix="eqzoo-sample-efficiency-") as run_dir:
        for task in tasks:
            dataset, options, _, models = TASKS[task]
            options = options_override or options
            full = datasets.get_info(dataset, **options).train_size
            for size in sizes:
                if size is not None and size >= full:  # wine has 124: "all" covers the rest
                    continue
                for seed in seeds:
                    for model in models:
                        if (task, model, size, seed) in done:
                            continue
                        epochs = epochs_for(size or full, steps, min_epochs, max_epochs)
                        row = run_one(model, dataset, options, size, seed, epochs, run_dir)
                        row = {"task": task, "model": model, "size": size, "seed": seed, **row}
                        with open(path, "a") as f:
                            f.write(json.dumps(row) + "\n")
                        print(f"{task:22s} {model:40s} n={row['train_size']:<5d} seed={seed} "
                              f"{TASKS[task][2]}={row[TASKS[task][2]]:.4f} "
                              f"epochs={row['epochs']} {row['seconds_per_epoch']:.3f} s/epoch",
                              flush=True)


def read_runs(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(runs, task):
    """{model: {size: (mean, std, n, train_size)}}, params, s/epoch, for the runs of one task."""
    table, params, seconds = {}, {}, {}
    for model in TASKS[task][3]:
        rows = [r for r in runs if r["task"] == task and r["model"] == model]
        if not rows:
            continue
        params[model] = rows[0]["params"]
        seconds[model] = float(np.median([r["seconds_per_epoch"] for r in rows]))
        table[model] = {}
        for size in sorted({r["size"] or 10**9 for r in rows}):
            values = [r[TASKS[task][2]] for r in rows if (r["size"] or 10**9) == size]
            n_train = max(r["train_size"] for r in rows if (r["size"] or 10**9) == size)
            table[model][size] = (float(np.mean(values)), float(np.std(values)), len(values),
                                  n_train)
    return table, params, seconds


def report(output):
    runs = read_runs(os.path.join(output, RUNS_FILE))
    lines = ["# Sample efficiency: constrained presets against their twins", "",
             "Written by `benchmarks/bench_sample_efficiency.py` from "
             f"`{RUNS_FILE}` ({len(runs)} runs). Each cell: mean ± standard deviation over "
             "seeds (count in brackets when not 3) of the final test metric; `train_size` "
             "examples drawn from the training split, validation and test fixed. Batch "
             f"{BATCH_SIZE}, Adam 3e-3, epochs = clip(ceil({STEPS} / batches per epoch), "
             f"{MIN_EPOCHS}, {MAX_EPOCHS}), early stopping patience {PATIENCE} on validation "
             "loss. s/epoch: median wall time of an epoch (after the first), train.py's "
             "callbacks and validation included.", ""]
    for task in TASKS:
        table, params, seconds = summarize(runs, task)
        if not table:
            continue
        sizes = sorted({s for cells in table.values() for s in cells})
        n_train = {s: max(c[s][3] for c in table.values() if s in c) for s in sizes}
        metric = TASKS[task][2]
        lines += [f"## {task}", "", f"{METRIC_NAMES[metric]} on `{TASKS[task][0]}`.", "",
                  "| preset | params | s/epoch | " + " | ".join(f"n={n_train[s]}" for s in sizes)
                  + " |", "|---|---|---|" + "---|" * len(sizes)]
        for model, cells in table.items():
            text = []
            for s in sizes:
                if s not in cells:
                    text.append("")
                    continue
                mean, std, count, _ = cells[s]
                text.append(f"{mean:.4f} ± {std:.4f}" + (f" ({count})" if count != 3 else ""))
            lines.append(f"| `{model}` | {params[model]} | {seconds[model]:.3f} | "
                         + " | ".join(text) + " |")
        lines += ["", f"![{task}](sample_efficiency_{task}.png)", ""]
        plot(task, table, n_train, os.path.join(output, f"sample_efficiency_{task}.png"))
    notes = os.path.join(output, NOTES_FILE)
    if os.path.exists(notes):  # how these runs were made: kept with them, never lost
        with open(notes) as f:
            lines.append(f.read().rstrip("\n"))
    path = os.path.join(output, "sample_efficiency.md")
    write_text(path, "\n".join(lines) + "\n")
    print(f"Wrote {path}")


def plot(task, table, n_train, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for model, cells in table.items():
        sizes = sorted(cells)
        x = [n_train[s] for s in sizes]
        mean = np.array([cells[s][0] for s in sizes])
        std = np.array([cells[s][1] for s in sizes])
        twin = zoo.get_preset(model)["metadata"]["constraint"] is None
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=model,
                    linestyle="--" if twin else "-")
    ax.set_xscale("log")
    ax.set_xticks(sorted(n_train.values()), [str(n) for n in sorted(n_train.values())])
    ax.minorticks_off()
    if TASKS[task][2] == "test/loss":
        ax.set_yscale("log")
    ax.set_xlabel("training examples")
    ax.set_ylabel(METRIC_NAMES[TASKS[task][2]])
    ax.set_title(f"{task} (dashed: unconstrained twin)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def quick_output():
    return tempfile.mkdtemp(prefix="eqzoo-sample-efficiency-quick-")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--sizes", default=",".join(str(s or "all") for s in SIZES))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--output", help=f"(default: {RESULTS}; with --quick a new temporary "
                        "folder: a smoke run never touches measured results)")
    parser.add_argument("--report", action="store_true", help="only write tables and plots")
    parser.add_argument("--quick", action="store_true", help="smoke run: one task, seconds")
    args = parser.parse_args(argv)
    if args.quick and args.output and os.path.realpath(args.output) == os.path.realpath(RESULTS):
        parser.error(f"--quick never writes into {RESULTS}; pass another --output")
    args.output = args.output or (quick_output() if args.quick else RESULTS)
    os.makedirs(args.output, exist_ok=True)
    if not args.report:
        if args.quick:
            q = QUICK
            run_all(q["tasks"], q["sizes"], q["seeds"], args.output, q["steps"],
                    q["min_epochs"], q["max_epochs"], q["options"])
        else:
            tasks = args.tasks.split(",")
            unknown = sorted(set(tasks) - set(TASKS))
            if unknown:
                parser.error(f"unknown task(s) {unknown}; known: {list(TASKS)}")
            sizes = [None if s == "all" else int(s) for s in args.sizes.split(",")]
            run_all(tasks, sizes, [int(s) for s in args.seeds.split(",")], args.output, STEPS,
                    MIN_EPOCHS, MAX_EPOCHS)
    report(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
