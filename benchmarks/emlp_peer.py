"""EMLP 1.0.3 (the paper authors' library) on eqzoo's data: test MSE, epoch time, basis solves.

Runs in its own venv, never eqzoo's (EMLP is a peer, not a dependency), so it imports nothing
from eqzoo; `bench_emlp_tasks.py` writes the arrays and calls this script:

    python3 -m venv /work/peers/emlp
    /work/peers/emlp/bin/pip install emlp==1.0.3 six
    /work/peers/emlp/bin/pip install jax==0.4.30 jaxlib==0.4.30 optax==0.2.3 numpy==1.26.4 \\
        ml_dtypes==0.4.1
    /work/peers/emlp/bin/python benchmarks/emlp_peer.py train --data o5.npz --task o5_synthetic \\
        --epochs 30 --out o5.json
    /work/peers/emlp/bin/python benchmarks/emlp_peer.py solve --rep o5_t2_t2 --out solve.json

`train`: the paper's model (`EMLP(rep_in, rep_out, group, ch=384, num_layers=3)`) inside EMLP's
`Standardize` with the scales eqzoo fitted (so both see the same standardised inputs), Adam at
3e-3, batches of 500 (`--batch-size`), the loss being the MSE of the raw targets, as in the paper's
`train_regression.py`. EMLP's `default_aug` is broken in 1.0.3 and is not used (no augmentation
is needed for an equivariant model). `solve`: the wall time of one `equivariant_basis()` in a
fresh process (EMLP caches solutions per process).
"""

import argparse
import json
import time

import numpy as np

GROUPS = {"o5_synthetic": "O(5)", "inertia": "O(3)", "particle_scattering": "O13()"}
# The basis solves timed: EMLP's spelling of each space of maps (one fresh process each).
SOLVES = {
    "o5_t2_t2": "(T(2) >> T(2))(O(5))",
    "o3_t3_t3": "(T(3) >> T(3))(O(3))",
    "so3_t6": "T(6)(SO(3))",
    "so3_t7": "T(7)(SO(3))",
    "so3_t8": "T(8)(SO(3))",
    "lorentz_t2v_t2": "((T(2) + V) >> T(2))(O13())",
}


def solve_reps():
    from emlp.groups import O13, SO, O
    from emlp.reps import T, V

    return {
        "o5_t2_t2": lambda: (T(2) >> T(2))(O(5)),
        "o3_t3_t3": lambda: (T(3) >> T(3))(O(3)),
        "so3_t6": lambda: T(6)(SO(3)),
        "so3_t7": lambda: T(7)(SO(3)),
        "so3_t8": lambda: T(8)(SO(3)),
        "lorentz_t2v_t2": lambda: ((T(2) + V) >> T(2))(O13()),
    }


def task_reps(task):
    from emlp.groups import O13, O
    from emlp.reps import Scalar, T, Vector

    if task == "o5_synthetic":
        return 2 * Vector, Scalar, O(5)
    if task == "inertia":
        return 5 * Scalar + 5 * Vector, T(2), O(3)
    return 4 * Vector, Scalar, O13()


def train(args):
    import jax.numpy as jnp
    import objax
    from emlp.nn import EMLP, Standardize

    data = np.load(args.data)
    rep_in, rep_out, group = task_reps(args.task)
    start, cpu = time.perf_counter(), time.process_time()
    model = EMLP(rep_in, rep_out, group=group, ch=args.channels, num_layers=3)
    build_seconds, build_cpu = time.perf_counter() - start, time.process_time() - cpu
    stats = (0.0, data["input_scales"], float(data["target_shift"]), float(data["target_scale"]))
    model = Standardize(model, stats)
    optimizer = objax.optimizer.Adam(model.vars())

    def loss(x, y):
        return jnp.mean((model(x, training=True) - y) ** 2)

    grad_values = objax.GradValues(loss, model.vars())

    def step(x, y, lr):
        grads, values = grad_values(x, y)
        optimizer(lr, grads)
        return values

    step = objax.Jit(step, model.vars() + optimizer.vars())
    predict = objax.Jit(lambda x: model(x, training=False), model.vars())
    x, y = data["x_train"], data["y_train"]
    batch = min(args.batch_size, len(x))
    rng = np.random.default_rng(args.seed)
    epoch_seconds, epoch_cpu = [], []
    for _ in range(args.epochs):
        start, cpu = time.perf_counter(), time.process_time()
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            rows = order[i:i + batch]
            value = step(jnp.asarray(x[rows]), jnp.asarray(y[rows]), args.lr)
        float(value[0])
        epoch_seconds.append(time.perf_counter() - start)
        epoch_cpu.append(time.process_time() - cpu)

    def mse(x, y):
        return float(np.mean((np.asarray(predict(jnp.asarray(x))) - y) ** 2))

    result = {"task": args.task, "train_size": len(x), "epochs": args.epochs, "seed": args.seed,
              "channels": args.channels, "batch_size": batch,
              "test_mse": mse(data["x_test"], data["y_test"]), "train_mse": mse(x, y),
              "build_seconds": build_seconds, "build_cpu_seconds": build_cpu,
              "first_epoch_seconds": epoch_seconds[0],
              "epoch_seconds": float(np.median(epoch_seconds[1:] or epoch_seconds)),
              "epoch_cpu_seconds": float(np.median(epoch_cpu[1:] or epoch_cpu))}
    _write(args.out, result)


def solve(args):
    rep = solve_reps()[args.rep]()
    start, cpu = time.perf_counter(), time.process_time()
    basis = rep.equivariant_basis()  # an array, or for some spaces a lazy linear operator
    dim = int(basis.shape[-1])
    _write(args.out, {"rep": args.rep, "emlp_spelling": SOLVES[args.rep], "dim": dim,
                      "seconds": time.perf_counter() - start,
                      "cpu_seconds": time.process_time() - cpu})


def _write(path, result):
    print(json.dumps(result))
    with open(path, "w") as f:
        json.dump(result, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--task", required=True, choices=sorted(GROUPS))
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--batch-size", type=int, default=500)
    t.add_argument("--channels", type=int, default=384)
    t.add_argument("--out", required=True)
    s = commands.add_parser("solve")
    s.add_argument("--rep", required=True, choices=sorted(SOLVES))
    s.add_argument("--out", required=True)
    args = parser.parse_args()
    train(args) if args.command == "train" else solve(args)


if __name__ == "__main__":
    main()
