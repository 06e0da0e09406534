"""S_n on n x n matrices: Maron et al.'s closed form against the generic paths, per training step.

One `EquivariantDense` from `(V * V).channels(c)` to itself (15 c^2 coefficients, 2 c bias
values), four ways, timed in interleaved rounds (medians):

- `closed form`: what EquivariantDense builds, `PartitionBasis`: pools the input (transpose,
  diagonal, row and column means, totals) and broadcasts back, O(n^2 c^2) per example, no kernel;
- `orbit gather`: the generic path for permutation representations, the `(n^2 c, n^2 c)` kernel
  gathered from the coefficients by the map of orbit ids, then one matmul (O(n^4 c^2));
- `dense basis`: the generic path for any representation, an orthonormal `(dim, n^4 c^2)` basis
  assembled by one matmul; skipped when that basis would exceed 256 MiB of float32;
- `Dense`: keras.layers.Dense on the flattened matrix (n^4 c^2 weights), for scale.

Also: building the basis once (numpy, cached afterwards): the closed form, the orbit search over
index pairs, and the numerical null space of the stacked constraints (only while n_in * n_out
<= 4096 unknowns).

    python benchmarks/bench_matrix_equivariant.py                    # n in 8 16 32, c = 4
    python benchmarks/bench_matrix_equivariant.py --sizes 8 --rounds 3   # smoke run
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_equivariant import DenseBasisEquivariantDense, GatherEquivariantDense
from timing import compiled_train_step, interleaved_medians, machine_line

# timing sets the TensorFlow/XLA environment (log level, --single-thread flags) before Keras
# is first imported: keep it above keras.
# isort: split

import keras
import tensorflow as tf

from eqzoo.layers.equivariant_basis import MAX_DENSE_SIZE, commutant_basis
from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.groups import SymmetricGroup
from eqzoo.layers.representations import DefiningRep

tf.get_logger().setLevel("ERROR")
MAX_DENSE_BYTES = 2**28
VARIANTS = ["closed form", "orbit gather", "dense basis", "Dense"]


def matrices(n, channels):
    points = DefiningRep(SymmetricGroup(n))
    return (points * points).channels(channels)


def make_model(variant, rep):
    inputs = keras.Input(rep.shape)
    if variant == "Dense":
        flat = keras.layers.Flatten()(inputs)
        outputs = keras.layers.Reshape(rep.shape)(keras.layers.Dense(rep.dim)(flat))
    else:
        layer = {"closed form": EquivariantDense, "orbit gather": GatherEquivariantDense,
                 "dense basis": DenseBasisEquivariantDense}[variant]
        outputs = layer(rep, rep)(inputs)
    return keras.Model(inputs, outputs)


def one_off(fn, *args, **kwargs):
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[8, 16, 32],
                        help="n for the training-step table (none: skip it)")
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--basis-sizes", type=int, nargs="*", default=[4, 6, 8, 16, 32],
                        help="n for the basis-building table (one channel)")
    parser.add_argument("--null-space-max", type=int, default=1296,
                        help="largest number of unknowns n^4 for the null-space timing (eigh is "
                             "cubic: 4096 unknowns, n = 8, take tens of minutes on a busy CPU)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds-per-round", type=float, default=0.3)
    args = parser.parse_args()
    c = args.channels

    print(f"# S_n on n x n matrices: one {c}-channel matrix -> matrix layer, batch {args.batch}, "
          f"float32, no XLA, {args.rounds} rounds (medians)\n\n{machine_line()}\n")
    if args.sizes:
        print("| n | variant | parameters | train step ms | step / closed form |")
        print("|---|---|---|---|---|")
    for n in args.sizes:
        rep = matrices(n, c)
        variants = list(VARIANTS)
        dense_bytes = 15 * c * c * rep.dim * rep.dim * 4
        if dense_bytes > MAX_DENSE_BYTES:
            variants.remove("dense basis")
        steps, params = {}, {}
        for v in variants:
            steps[v], params[v], _ = compiled_train_step(make_model(v, rep), args.batch)
        seconds, ratios = interleaved_medians(steps, dict.fromkeys(variants, "closed form"),
                                              args.rounds, args.seconds_per_round)
        for v in variants:
            print(f"| {n} | {v} | {params[v]:,} | {1e3 * seconds[v]:.2f} | {ratios[v]:.2f} |",
                  flush=True)
        if "dense basis" not in variants:
            print(f"| {n} | dense basis | {params['closed form']:,} | n/a: basis would take "
                  f"{dense_bytes / 2**30:.1f} GiB | |", flush=True)

    print("\nBuilding the basis once, one channel (numpy; cached per representation pair):\n")
    print("| n | unknowns n^4 | dim | closed form s | orbit search s | null space (eigh) s |")
    print("|---|---|---|---|---|---|")
    for n in args.basis_sizes:
        rep = matrices(n, 1)
        closed_s = one_off(commutant_basis.__wrapped__, rep, rep)
        orbit_s = one_off(commutant_basis.__wrapped__, rep, rep, method="orbits")
        dense = f"n/a (> {min(args.null_space_max, MAX_DENSE_SIZE)} unknowns)"
        if rep.dim ** 2 <= min(args.null_space_max, MAX_DENSE_SIZE):
            dense = f"{one_off(commutant_basis.__wrapped__, rep, rep, method='dense'):.2f}"
        dim = commutant_basis(rep, rep).dim
        print(f"| {n} | {rep.dim ** 2:,} | {dim} | {closed_s:.5f} | {orbit_s:.3f} | {dense} |",
              flush=True)


if __name__ == "__main__":
    main()
