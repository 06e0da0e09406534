"""Where SymmetricDense's training step spends its time over Dense's: the blocks formulation with
its parts taken out, one at a time. TIMING ONLY: the ablated variants compute wrong values on
purpose (a kernel that is not symmetric, a gradient that is not folded) and must never be used.

The default layer at n >= 1024 multiplies W by blocks (`packing.symmetric_matmul_blocks`); what
it does beyond Dense's two matmuls is (a) mirroring the two diagonal leaves forward (a transpose
each), (b) folding their gradients `G + G^T` backward (a transpose each), and (c) splitting the
matmuls into blocks and gluing the results. The variants drop (a), (b), both, and finally all of
it: Dense's two matmuls on a matrix copied out of the packed variable (`[M1 M1]`), with its
gradient added back. Even n up to 1024 (one level of blocks, the default layer's split there).

    python benchmarks/bench_symmetric_dense_ablation.py --backend jax
    python benchmarks/bench_symmetric_dense_ablation.py --backend tensorflow --jit both
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timing

# timing sets the backend (--backend) and the TensorFlow/XLA environment before Keras is first
# imported: keep it above keras.
# isort: split

import keras
from keras import ops

from eqzoo.layers import SymmetricDense, packing
from eqzoo.layers.packing import packed_blocks, packed_shape


def ablated_blocks(x, stored, n, mirror, fold):
    """`symmetric_matmul_blocks` at one level, with the leaf mirror and/or fold left out."""
    h = n // 2

    @ops.custom_gradient
    def matmul(x2d, stored):
        m1, m2, w21 = packed_blocks(stored, n)
        w11, w22 = m1, m2
        if mirror:  # the layer's leaf mirror
            w11, w22 = packing._mirror(m1, True), packing._mirror(m2, False)

        def apply(v):
            v1, v2 = v[:, :h], v[:, h:]
            y1 = ops.add(ops.matmul(v1, w11), ops.matmul(v2, w21))
            y2 = ops.add(ops.matmul(v1, ops.transpose(w21)), ops.matmul(v2, w22))
            return ops.concatenate([y1, y2], 1)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            x1, x2, d1, d2 = x2d[:, :h], x2d[:, h:], upstream[:, :h], upstream[:, h:]
            if fold:  # the layer's leaf fold
                lower = packing._sym_fold(x1, d1, True, 0)
                upper = packing._sym_fold(x2, d2, False, 0)
            else:
                lower = ops.tril(ops.matmul(ops.transpose(x1), d1))
                upper = ops.triu(ops.matmul(ops.transpose(x2), d2))
            s21 = ops.add(ops.matmul(ops.transpose(x2), d1), ops.matmul(ops.transpose(d2), x1))
            t = ops.add(ops.pad(lower, [[1, 0], [0, 0]]), ops.pad(upper, [[0, 1], [0, 0]]))
            return apply(upstream), ops.concatenate([t, s21], 0)

        return apply(x2d), grad

    return matmul(ops.reshape(x, (-1, n)), ops.reshape(stored, packed_shape(n)))


def dense_on_packed(x, stored, n):
    """Dense's two matmuls on `[M1 M1]`, an n x n matrix copied out of the packed variable."""
    h = n // 2

    @ops.custom_gradient
    def matmul(x2d, stored):
        w = ops.concatenate([stored[1:], stored[1:]], 1)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            g = ops.matmul(ops.transpose(x2d), upstream)
            packed = ops.pad(ops.add(g[:, :h], g[:, h:]), [[1, 0], [0, 0]])
            return ops.matmul(upstream, ops.transpose(w)), packed

        return ops.matmul(x2d, w), grad

    return matmul(ops.reshape(x, (-1, n)), ops.reshape(stored, packed_shape(n)))


def layer(matmul):
    class Ablated(SymmetricDense):
        def _matmul(self, inputs, stored):
            return matmul(inputs, stored, self.input_dim)

    return Ablated()


VARIANTS = {
    "Dense": None,  # keras.layers.Dense(n), made in make_steps
    "packed (default)": SymmetricDense,
    "no leaf mirror": lambda: layer(lambda x, s, n: ablated_blocks(x, s, n, False, True)),
    "no leaf fold": lambda: layer(lambda x, s, n: ablated_blocks(x, s, n, True, False)),
    "neither": lambda: layer(lambda x, s, n: ablated_blocks(x, s, n, False, False)),
    "Dense's matmuls on packed": lambda: layer(dense_on_packed),
}


def main():
    parser = timing.step_benchmark_parser(__doc__.splitlines()[0], [1024], VARIANTS)
    timing.add_backend_argument(parser)
    args = parser.parse_args()
    for n in args.sizes:
        if n % 2 or n > 1024:
            parser.error(f"--sizes: got {n}; this ablation takes even widths up to 1024 "
                         "(one level of blocks)")
    backend = keras.backend.backend()
    modes = timing.XLA_MODES[args.jit] if backend == "tensorflow" else [backend == "jax"]
    print(f"# SymmetricDense ablation on {backend}, batch {args.batch}, float32, {args.rounds} "
          f"rounds (medians; timing only, ablated variants compute wrong values)\n\n"
          f"{timing.machine_line()}\n")

    def make_steps(n, jit):
        def model(v):
            made = keras.layers.Dense(n) if v == "Dense" else VARIANTS[v]()
            return keras.Sequential([keras.Input((n,)), made])

        reference = {v: None if v == "Dense" else "Dense" for v in args.variants}
        return {v: (timing.keras_train_step(model(v), args.batch, jit), reference[v])
                for v in args.variants}

    timing.print_step_table(args.sizes, modes, make_steps, args.rounds, args.seconds_per_round)


if __name__ == "__main__":
    main()
