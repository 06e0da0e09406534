"""Training-step time and memory of SymmetricDense's parametrizations against keras.layers.Dense.

One process, one table: for each width n and with and without XLA, every variant's full training
step (forward, backward, Adam update, constraint) is timed in interleaved rounds, and the median
step time is reported with its ratio to Dense measured in the same rounds, so machine noise
cancels as far as it can. Also reported: trainable parameters and optimizer-slot memory.

    python benchmarks/bench_symmetric_dense.py                 # n in 256 1024 2048, ~10 min
    python benchmarks/bench_symmetric_dense.py --sizes 256 --rounds 3   # smoke run
"""

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from layers import SymmetricConstraint, SymmetricDense  # noqa: E402


class GatherSymmetricDense(SymmetricDense):
    """The straightforward packed layout, for comparison: a flat vector and one `take`."""

    def _stored_shape(self, input_dim, units):
        return (input_dim * (input_dim + 1) // 2,)

    def _build_structure(self, input_dim, units):
        # Row-major lower triangle: entry (i, j), i >= j, sits at i (i + 1) / 2 + j.
        i, j = np.indices((input_dim, input_dim))
        hi, lo = np.maximum(i, j), np.minimum(i, j)
        self._take = hi * (hi + 1) // 2 + lo

    def _assemble(self, stored):
        return ops.take(stored, self._take)

    def _stored_from_kernel(self, matrix):
        rows, cols = np.tril_indices(self.input_dim)
        return ops.take(ops.reshape(matrix, (-1,)), rows * self.input_dim + cols)


VARIANTS = {
    "Dense": lambda n: keras.layers.Dense(n),
    "packed": lambda n: SymmetricDense(parametrization="packed"),
    "triangular": lambda n: SymmetricDense(parametrization="triangular"),
    "average": lambda n: SymmetricDense(parametrization="average"),
    "Dense+SymmetricConstraint": lambda n: keras.layers.Dense(n, kernel_constraint=SymmetricConstraint()),
    "gather (flat take)": lambda n: GatherSymmetricDense(),
}


def make_step(n, variant, batch, jit):
    layer = VARIANTS[variant](n)
    model = keras.Sequential([keras.Input((n,)), layer])
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(batch, n)).astype("float32"))
    y = tf.constant(rng.normal(size=(batch, n)).astype("float32"))
    step(x, y).numpy()  # trace and compile
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    slot_bytes = sum(int(np.prod(v.shape)) * v.dtype.size if hasattr(v.dtype, "size") else
                     int(np.prod(v.shape)) * 4 for v in optimizer.variables if len(v.shape))
    return (lambda: step(x, y).numpy()), params, slot_bytes


def time_steps(step, steps):
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds-per-round", type=float, default=0.4,
                        help="approximate time spent on each variant in each round")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--xla", choices=["off", "on", "both"], default="both")
    args = parser.parse_args()

    print(f"# SymmetricDense training step, batch {args.batch}, float32, {args.rounds} rounds "
          f"(medians)\n\nTensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print("| n | XLA | variant | step ms (median) | ratio to Dense | trainable params | Adam slots MiB |")
    print("|---|---|---|---|---|---|---|")
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
    for n in args.sizes:
        for jit in modes:
            steps = {v: make_step(n, v, args.batch, jit) for v in args.variants}
            probe = {v: time_steps(s[0], 3) for v, s in steps.items()}
            reps = {v: max(3, int(args.seconds_per_round / max(t, 1e-4))) for v, t in probe.items()}
            samples = {v: [] for v in steps}
            ratios = {v: [] for v in steps}
            for _ in range(args.rounds):
                times = {v: time_steps(steps[v][0], reps[v]) for v in steps}
                for v, t in times.items():
                    samples[v].append(t)
                    if "Dense" in times:
                        ratios[v].append(t / times["Dense"])
            for v in steps:
                ratio = f"{statistics.median(ratios[v]):.3f}" if ratios[v] else "-"
                print(f"| {n} | {'on' if jit else 'off'} | {v} | {1e3 * statistics.median(samples[v]):.2f} "
                      f"| {ratio} | {steps[v][1]:,} | {steps[v][2] / 2**20:.2f} |", flush=True)


if __name__ == "__main__":
    main()
