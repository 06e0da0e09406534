"""Training-step time and memory of SymmetricDense's parametrizations against keras.layers.Dense.

One process, one table: for each width n and with and without XLA, every variant's full training
step (forward, backward, Adam update, constraint) is timed in interleaved rounds, and the median
step time is reported with its ratio to Dense measured in the same rounds, so machine noise
cancels as far as it can. Also reported: trainable parameters and optimizer-slot memory.

    python benchmarks/bench_symmetric_dense.py                 # n in 256 1024 2048, ~10 min
    python benchmarks/bench_symmetric_dense.py --sizes 256 --rounds 3   # smoke run
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from timing import (  # noqa: E402
    compiled_train_step,
    interleaved_medians,
    machine_line,
    step_benchmark_parser,
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from eqzoo.layers import SymmetricConstraint, SymmetricDense  # noqa: E402


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


def main():
    parser = step_benchmark_parser(__doc__.splitlines()[0], [256, 1024, 2048], VARIANTS)
    args = parser.parse_args()

    print(f"# SymmetricDense training step, batch {args.batch}, float32, {args.rounds} rounds "
          f"(medians)\n\n{machine_line()}\n")
    print("| n | XLA | variant | step ms (median) | ratio to Dense | trainable params | Adam slots MiB |")
    print("|---|---|---|---|---|---|---|")
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
    for n in args.sizes:
        for jit in modes:
            steps = {v: compiled_train_step(keras.Sequential([keras.Input((n,)), VARIANTS[v](n)]),
                                            args.batch, jit) for v in args.variants}
            medians, ratios = interleaved_medians(
                {v: s[0] for v, s in steps.items()}, {v: "Dense" for v in steps},
                args.rounds, args.seconds_per_round)
            for v, (_, params, slot_bytes) in steps.items():
                ratio = f"{ratios[v]:.3f}" if ratios[v] is not None else "-"
                print(f"| {n} | {'on' if jit else 'off'} | {v} | {1e3 * medians[v]:.2f} | {ratio} "
                      f"| {params:,} | {slot_bytes / 2**20:.2f} |", flush=True)


if __name__ == "__main__":
    main()
