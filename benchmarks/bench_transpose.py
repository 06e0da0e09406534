"""What a transposed read costs next to a copy and a matmul, per backend: the floor under any
symmetric kernel's training step (see benchmarks/symmetric_dense.md).

For each width m, times on the active Keras backend (compiled the backend's way: tf.function with
and without XLA on TensorFlow, jax.jit on JAX, eager on PyTorch) a scaled copy of an m x m float32
matrix, its transpose, `where(lower, A, A^T)` (the mirror of one triangle), `A + A^T`,
`B + A^T` (the same sum with the row-major operand another matrix: XLA on CPU runs this one far
faster than `A + A^T`), and the batch-256 matmul `x @ A`, in interleaved rounds.

    python benchmarks/bench_transpose.py --backend jax --sizes 512 1024 2048
    python benchmarks/bench_transpose.py --backend torch --single-thread
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from timing import add_backend_argument, interleaved_medians, machine_line

# timing sets the backend (--backend) and the TensorFlow/XLA environment (log level,
# --single-thread flags) before Keras is first imported: keep it above keras.
# isort: split

import keras
import numpy as np
from keras import ops

OPERATIONS = {
    "copy (A * c)": lambda a, b, x, mask: ops.multiply(a, 1.0001),
    "transpose": lambda a, b, x, mask: ops.multiply(ops.transpose(a), 1.0001),
    "where(lower, A, A^T)": lambda a, b, x, mask: ops.where(mask, a, ops.transpose(a)),
    "A + A^T": lambda a, b, x, mask: ops.add(a, ops.transpose(a)),
    "B + A^T": lambda a, b, x, mask: ops.add(b, ops.transpose(a)),
    "x @ A (batch 256)": lambda a, b, x, mask: ops.matmul(x, a),
}


def compiled(fn, jit):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=jit)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_argument(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds-per-round", type=float, default=0.2)
    parser.add_argument("--single-thread", action="store_true",
                        help="one compute thread, timed by process CPU time (see timing.py)")
    args = parser.parse_args()
    backend = keras.backend.backend()
    modes = [False, True] if backend == "tensorflow" else [backend == "jax"]
    print(f"# Copy, transpose and matmul of an m x m float32 matrix on {backend}, "
          f"{args.rounds} rounds (medians)\n\n{machine_line()}\n")
    print("| m | XLA | operation | ms (median) | ratio to copy | load |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for m in args.sizes:
        a = ops.convert_to_tensor(rng.normal(size=(m, m)).astype("float32"))
        b = ops.convert_to_tensor(rng.normal(size=(m, m)).astype("float32"))
        x = ops.convert_to_tensor(rng.normal(size=(256, m)).astype("float32"))
        mask = ops.convert_to_tensor(np.tril(np.ones((m, m), dtype=bool)))
        for jit in modes:
            calls = {}
            for name, op in OPERATIONS.items():
                fn = compiled(lambda a, b, x, mask, op=op: op(a, b, x, mask), jit)
                calls[name] = (lambda fn=fn, a=a, b=b, x=x, mask=mask:
                               ops.convert_to_numpy(fn(a, b, x, mask)[:1, :1]))
            medians, ratios = interleaved_medians(
                calls, {k: "copy (A * c)" for k in calls}, args.rounds, args.seconds_per_round)
            load = os.getloadavg()[0]
            for name in calls:
                print(f"| {m} | {'on' if jit else 'off'} | {name} | {1e3 * medians[name]:.3f} | "
                      f"{ratios[name]:.2f} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
