"""Kernel assembly and training-step time of EquivariantDense: closed forms vs a dense basis.

For S_n (DeepSets, `lambda I + gamma 11^T`), C_n (circulant) and D_n (symmetric circulant) on n
points, four variants of the same n -> n layer are timed in interleaved rounds (medians):

- `closed form`: what EquivariantDense builds (broadcasting for S_n, broadcast-and-reshape block
  circulants for C_n and D_n);
- `orbit gather`: the generic permutation-representation path, a gather of the coefficients by
  the `(n, n)` map of orbit ids (and a scatter-add in the gradient);
- `dense basis`: the same span as an orthonormal `(dim, n^2)` basis, assembled by one matmul (the
  generic path every non-permutation representation takes); skipped when that basis would take
  more than 1 GiB of float32;
- `Dense`: keras.layers.Dense, for scale.

Also reported: building the basis once (numpy, cached afterwards): the closed form, and the
generic orbit search over index pairs that any permutation representation would get, and the
generic null space of the stacked constraints (only up to n^2 = 4096 unknowns).

    python benchmarks/bench_equivariant.py                      # n in 64 256 1024, ~5 min
    python benchmarks/bench_equivariant.py --sizes 64 --rounds 3   # smoke run
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from timing import compiled_train_step, interleaved_medians, machine_line

# timing sets the TensorFlow/XLA environment (log level, --single-thread flags) before Keras
# is first imported: keep it above keras.
# isort: split

import keras
import numpy as np
import tensorflow as tf

from eqzoo.layers.equivariant_basis import MAX_DENSE_SIZE, DenseBasis, commutant_basis
from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.groups import CyclicGroup, DihedralGroup, SymmetricGroup
from eqzoo.layers.representations import DefiningRep

# One tf.function per variant and size is intended: no retracing notes.
tf.get_logger().setLevel("ERROR")

GROUPS = {"S_n": SymmetricGroup, "C_n": CyclicGroup, "D_n": DihedralGroup}
MAX_DENSE_BYTES = 2**30


def dense_version(basis):
    """The same span as an orthonormal dense basis (QR of the assembled basis kernels)."""
    q, _ = np.linalg.qr(basis.dense().reshape(basis.dim, -1).T)
    return DenseBasis(basis.shape, q.T)


class DenseBasisEquivariantDense(EquivariantDense):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.basis = dense_version(self.basis)


class GatherEquivariantDense(EquivariantDense):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.basis = commutant_basis(self.rep_in, self.rep_out, method="orbits")


def make_variant(variant, group):
    rep = DefiningRep(group)
    if variant == "Dense":
        return keras.layers.Dense(rep.dim)
    if variant == "dense basis":
        return DenseBasisEquivariantDense(rep)
    if variant == "orbit gather":
        return GatherEquivariantDense(rep)
    return EquivariantDense(rep)


def make_timers(layer, n, batch):
    model = keras.Sequential([keras.Input((n,)), layer])
    step, params, _ = compiled_train_step(model, batch)

    @tf.function
    def assemble():  # for Dense, reading the kernel variable: the tf.function call overhead
        return tf.reduce_sum(layer.kernel)

    assemble().numpy()
    return (lambda: assemble().numpy()), step, params


def one_off(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds-per-round", type=float, default=0.3)
    args = parser.parse_args()

    print(f"# EquivariantDense: kernel assembly and training step, batch {args.batch}, float32, "
          f"no XLA, {args.rounds} rounds (medians)\n\n{machine_line()}\n")
    print("| group | n | variant | basis dim | kernel assembly ms | train step ms | step / Dense |")
    print("|---|---|---|---|---|---|---|")
    basis_rows = []
    for n in args.sizes:
        for name in args.groups:
            group = GROUPS[name](n)
            rep = DefiningRep(group)
            closed_s, closed = one_off(commutant_basis.__wrapped__, rep, rep)
            orbits_s, _ = one_off(commutant_basis.__wrapped__, rep, rep, method="orbits")
            dense_s = None
            if n * n <= MAX_DENSE_SIZE:
                dense_s, _ = one_off(commutant_basis.__wrapped__, rep, rep, method="dense")
            basis_rows.append((name, n, type(closed).__name__, closed.dim, closed_s, orbits_s,
                               dense_s))
            variants = ["closed form", "orbit gather", "dense basis", "Dense"]
            if closed.dim * n * n * 4 > MAX_DENSE_BYTES:
                variants.remove("dense basis")
            timers = {}
            for v in variants:
                assemble, step, _ = make_timers(make_variant(v, group), n, args.batch)
                timers[v, "assemble"], timers[v, "step"] = assemble, step
            seconds, ratios = interleaved_medians(
                timers, {(v, "step"): ("Dense", "step") for v in variants}, args.rounds,
                args.seconds_per_round)
            for v in variants:
                dim = n * n if v == "Dense" else closed.dim
                assemble_ms, step_ms = seconds[v, "assemble"], seconds[v, "step"]
                ratio = ratios[v, "step"]
                print(f"| {name} | {n} | {v} | {dim:,} | {1e3 * assemble_ms:.3f} | "
                      f"{1e3 * step_ms:.2f} | {ratio:.2f} |", flush=True)
            if "dense basis" not in variants:
                print(f"| {name} | {n} | dense basis | {closed.dim:,} | n/a: basis would take "
                      f"{closed.dim * n * n * 4 / 2**30:.1f} GiB | | |", flush=True)
    print("\nBuilding the basis once (numpy; cached per representation pair afterwards):\n")
    print("| group | n | closed form | dim | closed form s | orbit search s "
          "| null space (eigh) s |")
    print("|---|---|---|---|---|---|---|")
    for name, n, kind, dim, closed_s, orbits_s, dense_s in basis_rows:
        dense = f"{dense_s:.1f}" if dense_s is not None else f"n/a (n^2 > {MAX_DENSE_SIZE})"
        print(f"| {name} | {n} | {kind} | {dim:,} | {closed_s:.4f} | {orbits_s:.3f} | {dense} |")


if __name__ == "__main__":
    main()
