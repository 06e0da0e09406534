"""What does the constraint cost? Training throughput and memory of every preset and its twin.

Each preset is measured in a fresh Python process, so peak memories do not mix: the child builds
the preset with `zoo.create_model`, compiles it with the loss, metrics and optimizer train.py
uses for its task (`zoo.tasks`, Adam), and fits it on random examples of the preset's input shape
served by the same `tf.data` pipeline code `datasets.load` uses. One warm-up epoch (tracing),
then the fastest of the timed epochs gives examples per second. Peak memory is the child's
`ru_maxrss`; the resident size after importing TensorFlow and Keras is reported too, so the
model's own share shows.

    python benchmarks/bench_end_to_end.py                   # every preset, ~5 min on 2 cores
    python benchmarks/bench_end_to_end.py --models "*digits*" --output /tmp/e2e.md
"""

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NUM_EXAMPLES = 8192
BATCH_SIZES = (32, 256)  # train.py's default, and a batch where the step itself dominates
TIMED_EPOCHS = 5


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(name, num_examples, timed_epochs):
    """Runs in the child process: one preset, every batch size; returns a dict of numbers."""
    import keras
    import numpy as np

    from eqzoo import zoo
    from eqzoo.datasets import pipeline
    from eqzoo.zoo.tasks import OPTIMIZERS, TASK_LOSS_AND_METRICS

    class EpochTimer(keras.callbacks.Callback):
        """Wall seconds of each epoch of one `fit`, in `times`."""

        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.started)

    baseline = rss_mib()
    task = zoo.get_preset(name)["metadata"]["task"]
    rng = np.random.default_rng(0)
    result = {"model": name, "task": task, "rss_after_imports_mib": baseline}
    for batch_size in BATCH_SIZES:
        keras.utils.set_random_seed(0)
        model = zoo.create_model(name)
        x = rng.standard_normal((num_examples, *model.input_shape[1:])).astype("float32")
        outputs = model.output_shape[1:]
        if task == "classification":
            y = rng.integers(0, outputs[-1], num_examples).astype("int32")
        elif task == "reconstruction":
            y = x
        else:
            y = rng.standard_normal((num_examples, *outputs)).astype("float32")
        arrays = pipeline.ArraySplits({s: x for s in ("train", "validation", "test")},
                                      {s: y for s in ("train", "validation", "test")}, {})
        data = pipeline.to_pipelines(arrays, batch_size=batch_size, seed=0)[0]
        make_loss, metrics = TASK_LOSS_AND_METRICS[task]
        model.compile(optimizer=OPTIMIZERS["adam"](3e-3), loss=make_loss(),
                      metrics=metrics)
        timer = EpochTimer()
        model.fit(data, epochs=1 + timed_epochs, verbose=0, callbacks=[timer])
        # The fastest epoch: these steps take milliseconds, and the machine's jitter only slows.
        result[f"examples_per_second_b{batch_size}"] = num_examples / min(timer.times[1:])
        result["trainable"] = int(sum(math.prod(w.shape) for w in model.trainable_weights))
        # Adam's moments (and its step counter): what the optimizer keeps per trainable value.
        result["optimizer_bytes"] = int(sum(
            math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in model.optimizer.variables))
    result["peak_rss_mib"] = rss_mib()
    return result


def run_child(name, num_examples, timed_epochs):
    command = [sys.executable, os.path.abspath(__file__), "--child", name,
               "--num-examples", str(num_examples), "--timed-epochs", str(timed_epochs)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pairs(models):
    """Each constrained preset followed by its twin; every name once."""
    from eqzoo import zoo

    ordered = []
    constrained = [n for n in models if zoo.get_preset(n)["metadata"]["constraint"]]
    for name in constrained + list(models):  # twins without a listed constrained preset last
        metadata = zoo.get_preset(name)["metadata"]
        group = [name] if metadata["constraint"] is None else [name, metadata["twin"]]
        ordered += [n for n in group if n not in ordered]
    return ordered


def table(results):
    by_name = {r["model"]: r for r in results}
    lines = ["| preset | twin | trainable | optimizer state | "
             + " | ".join(f"examples/s (batch {b})" for b in BATCH_SIZES)
             + " | speed vs twin (batch 256) | peak RSS (MiB) | after imports |",
             "|---|---|---|---|" + "---|" * len(BATCH_SIZES) + "---|---|---|"]
    from eqzoo import zoo

    for r in results:
        metadata = zoo.get_preset(r["model"])["metadata"]
        twin = by_name.get(metadata["twin"]) if metadata["constraint"] else None
        last = f"examples_per_second_b{BATCH_SIZES[-1]}"
        ratio = f"{r[last] / twin[last]:.2f}x" if twin else ""
        lines.append(
            f"| `{r['model']}` | {'' if metadata['constraint'] is None else metadata['twin']} | "
            f"{r['trainable']:,} | {r['optimizer_bytes'] / 1024:.1f} KiB | "
            + " | ".join(f"{r[f'examples_per_second_b{b}']:,.0f}" for b in BATCH_SIZES)
            + f" | {ratio} | {r['peak_rss_mib']:.0f} | {r['rss_after_imports_mib']:.0f} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="*", help="wildcard over preset names")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results",
                                                          "end_to_end.md"))
    parser.add_argument("--num-examples", type=int, default=NUM_EXAMPLES)
    parser.add_argument("--timed-epochs", type=int, default=TIMED_EPOCHS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.num_examples, args.timed_epochs)))
        return 0

    from eqzoo import zoo

    results = []
    for name in pairs(zoo.list_models(args.models)):
        started = time.perf_counter()
        results.append(run_child(name, args.num_examples, args.timed_epochs))
        print(f"{name:40s} done in {time.perf_counter() - started:.1f} s", flush=True)
    import tensorflow as tf

    lines = ["# End to end: training throughput and memory, every preset and its twin", "",
             f"Written by `benchmarks/bench_end_to_end.py`: each preset in a fresh process, "
             f"Adam, {args.num_examples} random examples through the `datasets` pipeline, "
             f"fastest of {args.timed_epochs} epochs after a warm-up one, float32, no XLA. "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"TensorFlow {tf.__version__}. Optimizer state: Adam's two moments per trainable "
             "value plus its counters. Peak RSS: the process's maximum resident size (TensorFlow "
             "alone takes the 'after imports' part).", ""] + table(results) + [""]
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
