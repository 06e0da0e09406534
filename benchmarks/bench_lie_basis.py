"""Basis solve times of EquivariantDense for continuous groups, beside EMLP 1.0.3's.

Each case is solved cold (every cache cleared) `--repeats` times in this process and the
median wall time is reported with the basis dimension. EMLP's times are the ones measured on
this machine and quoted in issue 21 and its follow-up (EMLP 1.0.3, its own venv under
/work/peers/; its basis solve, `emlp.nn.Linear` construction). The EMLP peer itself is run by
the lie-tasks benchmarks; this script needs eqzoo only.

    python benchmarks/bench_lie_basis.py                 # writes benchmarks/results/lie_basis.md
    python benchmarks/bench_lie_basis.py --repeats 1 --quick --no-write   # smoke run
"""

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from eqzoo.fileio import write_text
from eqzoo.layers import lie_basis
from eqzoo.layers.groups import SO, LorentzGroup, O
from eqzoo.layers.representations import DefiningRep, TrivialRep, uniform_rep

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "lie_basis.md")


def cases(quick):
    so3, o3, o5 = DefiningRep(SO(3)), DefiningRep(O(3)), DefiningRep(O(5))
    lorentz = DefiningRep(LorentzGroup())
    # (name, rep_in, rep_out, EMLP seconds: issue 21's, and this machine's later measurement)
    out = [
        ("O(5) T(2) -> T(2)", o5 ** 2, o5 ** 2, "2.8-3.3 / 13.8"),
        ("O(3) T(3) -> T(3)", o3 ** 3, o3 ** 3, "6.6 / 41.8"),
        ("SO(3) T(3) -> T(3)", so3 ** 3, so3 ** 3, "-"),
        ("O(1,3) T(2) + V -> T(2)", lorentz ** 2 + lorentz, lorentz ** 2, "-"),
        ("SO(3) T(6) -> scalar", so3 ** 6, TrivialRep(SO(3)), "7.4 / 5.4"),
        ("SO(3) T(7) -> scalar", so3 ** 7, TrivialRep(SO(3)), "66 / 98.9"),
    ]
    if not quick:
        out.append(("SO(3) T(8) -> scalar", so3 ** 8, TrivialRep(SO(3)), "119 / > 420"))
    # EMLP's hidden layers: 384 channels as scalars, vectors, T(2), T(3) (147,456 entries).
    for group in (O(3), LorentzGroup()):
        hidden = uniform_rep(384, group)
        out.append((f"{group!r} uniform_rep(384) -> itself", hidden, hidden, "-"))
    return out


def solve_seconds(rep_in, rep_out, repeats):
    times, dim = [], None
    for _ in range(repeats):
        lie_basis.block_basis.cache_clear()
        lie_basis.leaf_basis.cache_clear()
        start = time.perf_counter()
        dim = lie_basis.block_basis(rep_in, rep_out).dim
        times.append(time.perf_counter() - start)
    return statistics.median(times), dim


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="leave out SO(3) T(8)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    rows = []
    for name, rep_in, rep_out, emlp in cases(args.quick):
        seconds, dim = solve_seconds(rep_in, rep_out, args.repeats)
        entries = rep_in.dim * rep_out.dim
        rows.append(f"| {name} | {entries:,} | {dim} | {seconds:.3f} | {emlp} |")
        print(rows[-1], flush=True)
    table = "\n".join(["| maps | kernel entries | basis dim | eqzoo s (median, cold) | "
                       "EMLP 1.0.3 s (issue 21 / this machine) |", "|---|---|---|---|---|", *rows])
    text = f"""# Basis solve times: continuous groups

`python benchmarks/bench_lie_basis.py` ({args.repeats} cold solves per case, median wall time;
{platform.machine()}, Python {platform.python_version()}, 2 shared cores; one BLAS thread).
eqzoo solves each distinct pair of summands once, in closed form for tensors of the named
groups (pairings by the invariant form, Levi-Civita for SO(n), orthonormalized by an SVD),
see `layers/lie_basis.py`. EMLP's times are its basis solves as measured with EMLP 1.0.3 on
this machine (issue 21 gives the first number; a later run, on a busier machine, the second).
Dimensions agree with EMLP's (15, 36, 91 for SO(3) T(6), T(7), T(8) -> scalar) and with
invariant theory (tests/test_lie_basis.py checks them against Weyl's integration formula and
Haar character integrals).

{table}
"""
    if not args.no_write:
        write_text(RESULTS, text)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
