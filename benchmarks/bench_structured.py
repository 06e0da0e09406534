"""Training-step time of the structured kernels and of a tied decoder against keras.layers.Dense.

For each width n and with and without XLA, every variant's full training step (forward, backward,
Adam update) is timed in interleaved rounds; the table gives the median step time and its ratio to
the plain variant measured in the same rounds (Dense for one layer, an untied Dense pair for the
autoencoders), with trainable parameter counts and optimizer-slot memory.

    python benchmarks/bench_structured.py                          # n in 128 512 1024, ~10 min
    python benchmarks/bench_structured.py --sizes 128 --rounds 3   # smoke run
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from timing import (
    XLA_MODES,
    compiled_train_step,
    machine_line,
    print_step_table,
    step_benchmark_parser,
)

# timing sets the TensorFlow/XLA environment (log level, --single-thread flags) before Keras
# is first imported: keep it above keras.
# isort: split

import keras

from eqzoo.layers import SymmetricDense
from eqzoo.layers.bounded_spectrum_dense import BoundedSpectrumDense
from eqzoo.layers.dense_transpose import DenseTranspose
from eqzoo.layers.positive_definite_dense import PositiveDefiniteDense
from eqzoo.layers.skew_symmetric_dense import SkewSymmetricDense


class AutodiffSkewSymmetricDense(SkewSymmetricDense):
    """For comparison: the gradient taken back through the slices and pads of the assembly."""

    def _matmul(self, inputs, stored):
        return keras.ops.matmul(inputs, self._assemble(stored))


class AssembledPositiveDefiniteDense(PositiveDefiniteDense):
    """For comparison: `x @ W` with `W = L L^T + epsilon I` formed first, an O(n^3) product."""

    def _matmul(self, inputs, stored):
        return keras.ops.matmul(inputs, self._assemble(stored))


def _one(layer):
    return lambda n: keras.Sequential([keras.Input((n,)), layer(n)])


def _autoencoder(tied):
    def build(n):
        inputs = keras.Input((n,))
        encoder = keras.layers.Dense(n // 4, activation="relu")
        decoder = DenseTranspose(encoder) if tied else keras.layers.Dense(n)
        return keras.Model(inputs, decoder(encoder(inputs)))

    return build


# variant -> (model builder, the variant its ratio is taken against)
VARIANTS = {
    "Dense": (_one(keras.layers.Dense), None),
    "SymmetricDense": (_one(lambda n: SymmetricDense()), "Dense"),
    "SkewSymmetricDense": (_one(lambda n: SkewSymmetricDense()), "Dense"),
    "SkewSymmetricDense, autodiff assembly": (_one(lambda n: AutodiffSkewSymmetricDense()),
                                              "Dense"),
    "PositiveDefiniteDense": (_one(lambda n: PositiveDefiniteDense(epsilon=1e-3)), "Dense"),
    "PositiveDefiniteDense, assembled W": (
        _one(lambda n: AssembledPositiveDefiniteDense(epsilon=1e-3)), "Dense"),
    "BoundedSpectrumDense": (_one(lambda n: BoundedSpectrumDense()), "Dense"),
    "autoencoder n -> n/4 -> n, untied": (_autoencoder(tied=False), None),
    "autoencoder n -> n/4 -> n, tied": (_autoencoder(tied=True),
                                        "autoencoder n -> n/4 -> n, untied"),
}


def main():
    parser = step_benchmark_parser(__doc__.splitlines()[0], [128, 512, 1024], VARIANTS)
    parser.add_argument("--max-xla-eigh", type=int, default=128,
                        help="largest n at which BoundedSpectrumDense is timed under XLA, whose "
                             "CPU eigh takes seconds a step beyond it")
    args = parser.parse_args()

    print(f"# Structured kernels and tied decoders: training step, batch {args.batch}, float32, "
          f"{args.rounds} rounds (medians)\n\n{machine_line()}\n")

    def make_steps(n, jit):
        variants = [v for v in args.variants if not (
            jit and v == "BoundedSpectrumDense" and n > args.max_xla_eigh)]
        return {v: (compiled_train_step(VARIANTS[v][0](n), args.batch, jit), VARIANTS[v][1])
                for v in variants}

    print_step_table(args.sizes, XLA_MODES[args.jit], make_steps, args.rounds,
                     args.seconds_per_round)


if __name__ == "__main__":
    main()
