"""Speed of EGNN on the N-body system: a training step and a forward pass per batch of 100
systems (5 particles, 3-D), against the GNN twin and against the authors' PyTorch EGNN.

Keras: `egnn_nbody` and `gnn_nbody` on TensorFlow, the step a `tf.function` (forward, MSE,
backward, Adam), the forward `tf.function(model)`. The authors' code is run, not re-implemented:
the files of github vgsatorras/egnn are read from a local mirror at run time (`--egnn-mirror`, a
bare git repository; `git show HEAD:<path>` into a scratch folder, never into eqzoo) and
imported from there: `models/egnn_clean/egnn_clean.py` (`EGNN`, their clean reference layer,
no velocity term) and `n_body_system/model.py` (`EGNN_vel`, the model of their N-body table),
both with 64 features and 4 layers on the same fully connected graph as a flat list of 2,000
edges, the same Adam step. Timed in interleaved rounds (median per-round ratios to
`egnn_nbody`, `timing.interleaved_samples`).

    nice -n 10 python benchmarks/bench_nbody_speed.py --single-thread

Prints a markdown table (and appends it to `<output>/nbody.md` with `--append`).
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timing  # noqa: I001 (first: it sets the thread and backend flags Keras reads)

import keras
import numpy as np
import tensorflow as tf

from eqzoo import zoo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH, N, D = 100, 5, 3
PEER_FILES = ["models/egnn_clean/egnn_clean.py", "models/gcl.py", "n_body_system/model.py"]


def batch(seed=0):
    rng = np.random.default_rng(seed)
    x = {"positions": rng.normal(size=(BATCH, N, D)), "velocities": rng.normal(size=(BATCH, N, D)),
         "charges": rng.choice([-1.0, 1.0], size=(BATCH, N, 1))}
    return {k: v.astype("float32") for k, v in x.items()}, rng.normal(size=(BATCH, N, D))


def keras_steps(name, x, y):
    model = zoo.create_model(name)
    optimizer = keras.optimizers.Adam(5e-4)
    optimizer.build(model.trainable_variables)
    x = {k: tf.constant(v) for k, v in x.items()}
    y = tf.constant(y.astype("float32"))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    forward = tf.function(lambda: model(x, training=False))
    step().numpy(), forward().numpy()
    return (lambda: step().numpy()), (lambda: forward().numpy()), model.count_params()


def peer_modules(mirror):
    """The authors' files, extracted from the mirror into a scratch folder and imported."""
    scratch = tempfile.mkdtemp(prefix="egnn-peer-")
    for path in PEER_FILES:
        source = subprocess.run(["git", "--git-dir", mirror, "show", f"HEAD:{path}"],
                                check=True, capture_output=True, text=True).stdout
        os.makedirs(os.path.join(scratch, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(scratch, path), "w") as f:
            f.write(source)
    for package in ("models", "models/egnn_clean", "n_body_system"):
        open(os.path.join(scratch, package, "__init__.py"), "w").close()  # no side imports
    sys.path.insert(0, scratch)
    import models.egnn_clean.egnn_clean as clean
    import n_body_system.model as nbody_model

    return clean, nbody_model


def torch_steps(kind, x, y, modules):
    import torch

    clean, nbody_model = modules
    rows, cols = zip(*[(i, j) for i in range(N) for j in range(N) if i != j], strict=True)
    offsets = np.repeat(np.arange(BATCH) * N, len(rows))
    edges = [torch.as_tensor(np.tile(rows, BATCH) + offsets),
             torch.as_tensor(np.tile(cols, BATCH) + offsets)]
    loc = torch.as_tensor(x["positions"].reshape(-1, D))
    vel = torch.as_tensor(x["velocities"].reshape(-1, D))
    q = torch.as_tensor(x["charges"].reshape(-1, 1))
    target = torch.as_tensor(y.reshape(-1, D).astype("float32"))
    r, c = edges
    edge_attr = torch.cat([q[r] * q[c], ((loc[r] - loc[c]) ** 2).sum(1, keepdim=True)], 1)
    h = torch.sqrt((vel**2).sum(1, keepdim=True))
    if kind == "clean":
        model = clean.EGNN(in_node_nf=1, hidden_nf=64, out_node_nf=1, in_edge_nf=2, n_layers=4)

        def predict():
            return model(h, loc, edges, edge_attr)[1]
    else:
        model = nbody_model.EGNN_vel(in_node_nf=1, in_edge_nf=2, hidden_nf=64, n_layers=4,
                                     recurrent=True)

        def predict():
            return model(h, loc.clone(), edges, vel, edge_attr)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, weight_decay=1e-12)

    def step():
        optimizer.zero_grad()
        loss = ((predict() - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    def forward():
        with torch.no_grad():
            return predict().numpy()

    step(), forward()
    return step, forward, sum(p.numel() for p in model.parameters())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds-per-round", type=float, default=1.0)
    parser.add_argument("--single-thread", action="store_true",
                        help="one compute thread everywhere, timed by process CPU time")
    parser.add_argument("--egnn-mirror", default="/work/.mirror/vgsatorras+egnn/repo")
    parser.add_argument("--append", action="store_true")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results"))
    args = parser.parse_args()
    x, y = batch()
    steps, forwards, params = {}, {}, {}
    for name in ("egnn_nbody", "gnn_nbody"):
        steps[name], forwards[name], params[name] = keras_steps(name, x, y)
    if os.path.isdir(args.egnn_mirror):
        modules = peer_modules(args.egnn_mirror)
        for kind, label in (("vel", "authors' EGNN_vel (PyTorch)"),
                            ("clean", "authors' egnn_clean EGNN (PyTorch)")):
            steps[label], forwards[label], params[label] = torch_steps(kind, x, y, modules)
    lines = [f"Batch of {BATCH} systems of {N} particles in {D}-D; {timing.machine_line()}; "
             f"{'one thread, CPU time' if args.single_thread else 'default threads, wall time'}"
             f"; median of {args.rounds} interleaved rounds.", "",
             "| model | parameters | train step (ms) | vs egnn_nbody | forward (ms) | "
             "vs egnn_nbody |", "|---|---|---|---|---|---|"]
    results = {}
    for what, callables in (("step", steps), ("forward", forwards)):
        results[what] = timing.interleaved_medians(
            callables, {k: "egnn_nbody" for k in callables}, args.rounds,
            args.seconds_per_round)
    for name in steps:
        (step_t, step_r), (fwd_t, fwd_r) = ((results[w][0][name], results[w][1][name])
                                            for w in ("step", "forward"))
        lines.append(f"| {name} | {params[name]:,} | {step_t * 1e3:.2f} | {step_r:.2f}x | "
                     f"{fwd_t * 1e3:.2f} | {fwd_r:.2f}x |")
    text = "\n".join(lines)
    print(text)
    if args.append:
        with open(os.path.join(args.output, "nbody.md"), "a") as f:
            f.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
