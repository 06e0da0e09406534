"""Does the input pipeline keep up? Batches/s from `datasets.load` against training steps/s.

For each case the same train split is measured three ways:
  pipeline   batches/s from iterating the split alone (after one warm-up epoch fills any cache);
  step       steps/s of `model.fit` on one batch repeated from memory: what the model can consume;
  fit        steps/s of `model.fit` on the real split: the two together.
The model is a plain Keras MLP (Flatten, two hidden Dense layers, a Dense head). The tfds case
reads an MNIST-shaped set (28x28 uint8 PNGs, 10 classes) prepared into a temporary data_dir,
so the real tfds read path (TFRecord parse, PNG decode) is measured without a network.

    python benchmarks/bench_input_pipeline.py                          # ~3 min on 2 cores
    python benchmarks/bench_input_pipeline.py --output benchmarks/input_pipeline.md
    python benchmarks/bench_input_pipeline.py --quick                  # smoke run
"""

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from eqzoo import datasets


class BenchImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """MNIST-shaped random images, prepared locally for the benchmark."""

    VERSION = tfds.core.Version("1.0.0")
    NUM_EXAMPLES = 20_000

    def _info(self):
        features = tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": tfds.features.ClassLabel(num_classes=10),
        })
        return tfds.core.DatasetInfo(
            builder=self, features=features, supervised_keys=("image", "label")
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        rng = np.random.default_rng(0)
        for i in range(self.NUM_EXAMPLES):
            yield i, {"image": rng.integers(0, 256, (28, 28, 1), dtype=np.uint8), "label": i % 10}


def mlp(info, width):
    model = keras.Sequential([
        keras.Input(info.input_shape),
        keras.layers.Flatten(),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(width, activation="relu"),
        keras.layers.Dense(info.num_classes or int(np.prod(info.output_shape))),
    ])
    if info.task == "classification":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        model.add(keras.layers.Reshape(info.output_shape))
        loss = "mse"
    model.compile(optimizer="adam", loss=loss)
    return model


def timed(fn):
    start = time.perf_counter()
    count = fn()
    return count / (time.perf_counter() - start)


def run_case(label, splits, width, seconds, rounds):
    """Median rates over interleaved rounds, so a busy machine slows every column alike."""
    train, info = splits.train, splits.info
    per_epoch = int(train.cardinality())
    first_epoch = timed(lambda: sum(1 for _ in train))  # fills the tfds cache, decodes
    model = mlp(info, width)
    one_batch = tf.data.Dataset.from_tensors(next(iter(train))).repeat()
    # Trace the full-batch and the last, partial batch's step before timing anything.
    model.fit(one_batch, steps_per_epoch=20, epochs=1, verbose=0, shuffle=False)
    model.fit(train, epochs=1, verbose=0, shuffle=False)
    steps = max(per_epoch, int(seconds * 200))
    epochs = max(1, steps // per_epoch)
    measured = {"epochs": [], "steady": [], "step": [], "fit": [], "fit_repeat": []}

    def fit(ds, **kwargs):
        history = model.fit(ds, verbose=0, shuffle=False, **kwargs)
        return len(history.epoch) * kwargs.get("steps_per_epoch", per_epoch)

    for _ in range(rounds):
        measured["epochs"].append(timed(lambda: sum(sum(1 for _ in train) for _ in range(epochs))))
        measured["steady"].append(timed(lambda: sum(1 for _ in train.repeat().take(steps))))
        measured["step"].append(timed(lambda: fit(one_batch, steps_per_epoch=steps, epochs=1)))
        measured["fit"].append(timed(lambda: fit(train, epochs=epochs)))
        measured["fit_repeat"].append(
            timed(lambda: fit(train.repeat(), steps_per_epoch=steps, epochs=1)))
    row = {k: statistics.median(v) for k, v in measured.items()}
    return dict(row, label=label, batch=int(next(iter(train))[0].shape[0]),
                first_epoch=first_epoch, params=model.count_params(), examples=info.train_size)


def machine():
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return (f"{cpu}, {os.cpu_count()} cores, no GPU; Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
            f"tensorflow-datasets {tfds.__version__}")


def measure(data_dir, seconds, rounds):
    start = time.perf_counter()
    BenchImages(data_dir=data_dir).download_and_prepare()
    prepare_seconds = time.perf_counter() - start
    load_before = os.getloadavg()[0]

    cases = [
        ("digits", datasets.load("digits", batch_size=32), 128),
        ("digits", datasets.load("digits", batch_size=128), 128),
        ("set_sum, 50000 examples",
         datasets.load("set_sum", batch_size=128, num_examples=50_000), 128),
        (f"tfds:bench_images, {BenchImages.NUM_EXAMPLES} PNGs",
         datasets.load("tfds:bench_images", batch_size=128, data_dir=data_dir,
                       test_fraction=0.2), 256),
    ]
    rows = [run_case(label, splits, width, seconds, rounds) for label, splits, width in cases]

    lines = [
        "# Input pipeline throughput",
        "",
        f"`python benchmarks/bench_input_pipeline.py --rounds {rounds} --output "
        "benchmarks/input_pipeline.md`",
        "",
        f"Machine: {machine()}. Load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after the run (other processes shared the cores).",
        "",
        "Training split of `datasets.load` (shuffled each epoch, batched, prefetched) against the "
        "training",
        "step of a small Keras MLP (Flatten, two Dense(w) ReLU layers, a head; Adam). Medians of "
        f"{rounds} interleaved rounds.",
        "",
        "- *pipeline, per epoch*: batches/s iterating whole epochs, a new iterator each epoch as "
        "`fit` does;",
        "- *pipeline, steady*: batches/s from one iterator over `train.repeat()`;",
        "- *first epoch*: the cold pass (tfds: TFRecord parse and PNG decode before the cache "
        "holds the",
        f"  split; preparing the {BenchImages.NUM_EXAMPLES} images took {prepare_seconds:.0f} s);",
        "- *step*: `fit` steps/s on one batch repeated from memory, what the model can consume;",
        "- *fit, epochs*: `fit(train, epochs=...)` steps/s, the pipeline and the step together, "
        "with",
        "  Keras' per-epoch work (new iterator, callbacks) included;",
        "- *fit, repeat*: `fit(train.repeat(), steps_per_epoch=...)` steps/s, one iterator "
        "throughout.",
        "",
        "All rates are per second. Ratios near 1 in the last column mean the step, not the input, "
        "bounds training.",
        "",
        "| dataset | train examples | batch | MLP params | pipeline, per epoch | pipeline, steady "
        "| first epoch | step | fit, epochs | fit, repeat | pipeline per epoch / step "
        "| fit, repeat / step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['examples']:,} | {r['batch']} | {r['params']:,} | "
            f"{r['epochs']:,.0f} | {r['steady']:,.0f} | {r['first_epoch']:,.0f} | "
            f"{r['step']:,.0f} | {r['fit']:,.0f} | {r['fit_repeat']:,.0f} | "
            f"{r['epochs'] / r['step']:.1f}x | {r['fit_repeat'] / r['step']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="rough time per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds; medians reported")
    parser.add_argument("--quick", action="store_true",
                        help="short measurements and a small tfds set")
    parser.add_argument("--output", help="also write the markdown report here")
    args = parser.parse_args()
    seconds, rounds = (0.5, 1) if args.quick else (args.seconds, args.rounds)
    if args.quick:
        BenchImages.NUM_EXAMPLES = 2_000

    data_dir = tempfile.mkdtemp(prefix="eqzoo-bench-tfds-")
    try:
        report = measure(data_dir, seconds, rounds)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(report)
    if args.output:
        with open(args.output, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
