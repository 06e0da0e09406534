"""Training-step time and memory of SymmetricDense's parametrizations against keras.layers.Dense.

One process, one table per backend: for each width n (and on TensorFlow with and without XLA),
every variant's full `train_on_batch` step (forward, backward, Adam update, constraint) is timed
in interleaved rounds, and the median step time is reported with its ratio to Dense measured in
the same rounds, so machine noise cancels as far as it can. Also reported: trainable parameters
and optimizer-slot memory. Where PyTorch (and geotorch) are installed, their symmetric
parametrizations are timed in the same rounds against `torch.nn.Linear`.

    python benchmarks/bench_symmetric_dense.py --backend jax --sizes 1024 2048
    python benchmarks/bench_symmetric_dense.py --backend tensorflow --jit both
    python benchmarks/bench_symmetric_dense.py --backend torch --rounds 15  # peers too
    python benchmarks/bench_symmetric_dense.py --sizes 256 --rounds 3   # smoke run
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from timing import (
    XLA_MODES,
    add_backend_argument,
    keras_train_step,
    machine_line,
    print_step_table,
    step_benchmark_parser,
)
from torch_peers import PEERS, torch_train_step

# timing sets the backend (--backend) and the TensorFlow/XLA environment (log level,
# --single-thread flags) before Keras is first imported: keep it above keras.
# isort: split

import keras
import numpy as np
from keras import ops

from eqzoo.layers import SymmetricConstraint, SymmetricDense, packing


class GatherSymmetricDense(SymmetricDense):
    """The straightforward packed layout, for comparison: a flat vector and one `take`."""

    def _stored_shape(self, input_dim, *_):
        return (input_dim * (input_dim + 1) // 2,)

    def _assemble(self, stored):
        if getattr(self, "_take", None) is None:  # built once, on first use
            # Row-major lower triangle: entry (i, j), i >= j, sits at i (i + 1) / 2 + j.
            i, j = np.indices((self.input_dim, self.input_dim))
            hi, lo = np.maximum(i, j), np.minimum(i, j)
            self._take = hi * (hi + 1) // 2 + lo
        return ops.take(stored, self._take)

    def _matmul(self, inputs, stored):
        return ops.matmul(inputs, self._assemble(stored))

    def _stored_from_kernel(self, matrix):
        rows, cols = np.tril_indices(self.input_dim)
        return ops.take(ops.reshape(matrix, (-1,)), rows * self.input_dim + cols)


class AssembledSymmetricDense(SymmetricDense):
    """The packed layout (same variable), with the earlier formulation: W assembled in full."""

    def _matmul(self, inputs, stored):
        return packing.symmetric_matmul_assembled(inputs, stored, self.input_dim)


VARIANTS = {
    "Dense": lambda n: keras.layers.Dense(n),
    "packed": lambda n: SymmetricDense(parametrization="packed"),
    "packed, W assembled (before)": lambda n: AssembledSymmetricDense(),
    "triangular": lambda n: SymmetricDense(parametrization="triangular"),
    "average": lambda n: SymmetricDense(parametrization="average"),
    "Dense+SymmetricConstraint": lambda n: keras.layers.Dense(
        n, kernel_constraint=SymmetricConstraint()),
    "gather (flat take)": lambda n: GatherSymmetricDense(),
}


def main():
    parser = step_benchmark_parser(__doc__.splitlines()[0], [1024, 2048], VARIANTS)
    add_backend_argument(parser)
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS),
                        help="PyTorch parametrizations timed in the same rounds, where installed")
    args = parser.parse_args()
    backend = keras.backend.backend()
    # --jit is XLA for the TensorFlow step; JAX always compiles, PyTorch runs eagerly.
    modes = XLA_MODES[args.jit] if backend == "tensorflow" else [backend == "jax"]
    peers = {name: PEERS[name] for name in args.peers if PEERS[name] is not None}

    print(f"# SymmetricDense training step on {backend}, batch {args.batch}, float32, "
          f"{args.rounds} rounds (medians)\n\n{machine_line()}\n")

    def make_steps(n, jit):
        steps = {v: (keras_train_step(keras.Sequential([keras.Input((n,)), VARIANTS[v](n)]),
                                      args.batch, jit), None if v == "Dense" else "Dense")
                 for v in args.variants}
        for name, make in peers.items():
            reference = None if name == "torch Linear" else "torch Linear"
            steps[name] = (torch_train_step(make(n), n, args.batch), reference)
        return steps

    print_step_table(args.sizes, modes, make_steps, args.rounds, args.seconds_per_round)


if __name__ == "__main__":
    main()
