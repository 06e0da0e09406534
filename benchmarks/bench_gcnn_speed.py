"""Speed and memory of p4 / p4m group convolutions: a training step against plain Conv2D nets and
escnn, and peak memory against the dense pixel-permutation net as images grow.

Step: a 3-layer 28 x 28 network, batch 64, 3 x 3 filters, padding "same", relu, then global max
pooling and Dense(10), one Adam step on an MSE loss (`timing.compiled_train_step`, tf.function),
timed in interleaved rounds (median per-round ratios, `timing.interleaved_samples`):

- `GroupConv2D` p4 / p4m with `c` channels per orientation (|G| * c output channels);
- `Conv2D` with the same output channels, |G| * c (the goal: the G-CNN at most 1.05x this);
- `Conv2D` with about the G-CNN's parameters (c * sqrt(|G|) channels).

escnn (PyTorch) runs the same network with `R2Conv` on C_4 / D_4 regular fields, beside a torch
`Conv2d` of |G| * c channels, in its own venv (`--escnn-python`, default /work/peers/escnn) in a
subprocess started by this script, timed the same way (one thread when `--single-thread`).

Memory: each model built and trained one step (batch 32) in a fresh process capped at
`--memory-cap-gib` of address space (RLIMIT_AS) and `--timeout` seconds; its peak RSS
(ru_maxrss) is recorded, or where it stops (out of memory, timeout). Sides 8..28.

    nice python benchmarks/bench_gcnn_speed.py --single-thread
    python benchmarks/bench_gcnn_speed.py --part memory

Writes `<output>/gcnn_speed.md` (appending the sections it ran).
"""

import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timing  # noqa: I001 (first: it sets the thread and backend flags Keras reads)

import keras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDERS = {"p4": 4, "p4m": 8}


def gcnn(group, c, side=28, layers=3):
    from eqzoo.layers import GlobalGroupPooling, GroupConv2D

    inputs = keras.Input((side, side, 1))
    h = inputs
    for k in range(layers):
        h = GroupConv2D(c, 3, group=group, lifting=k == 0, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(GlobalGroupPooling(group)(h)))


def cnn(channels, side=28, layers=3):
    inputs = keras.Input((side, side, 1))
    h = inputs
    for _ in range(layers):
        h = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalMaxPooling2D()(h)))


ESCNN_SCRIPT = r'''
import json, sys, time, statistics
import numpy as np, torch
args = json.loads(sys.argv[1])
if args["single_thread"]:
    torch.set_num_threads(1)
clock = time.process_time if args["single_thread"] else time.perf_counter
from escnn import gspaces, nn as enn

def escnn_net(group, c):
    g = gspaces.rot2dOnR2(4) if group == "p4" else gspaces.flipRot2dOnR2(4)
    fields = [enn.FieldType(g, [g.trivial_repr])] + [enn.FieldType(g, c * [g.regular_repr])] * 3
    layers = []
    for a, b in zip(fields[:-1], fields[1:]):
        layers += [enn.R2Conv(a, b, 3, padding=1), enn.ReLU(b)]
    body = enn.SequentialModule(*layers)
    pool = enn.GroupPooling(fields[-1])
    head = torch.nn.Linear(c, 10)
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__(); self.body, self.pool, self.head = body, pool, head
        def forward(self, x):
            h = self.pool(self.body(enn.GeometricTensor(x, fields[0]))).tensor
            return self.head(torch.amax(h, dim=(2, 3)))
    return Net()

def torch_cnn(channels):
    layers, cin = [], 1
    for _ in range(3):
        layers += [torch.nn.Conv2d(cin, channels, 3, padding=1), torch.nn.ReLU()]
        cin = channels
    body = torch.nn.Sequential(*layers); head = torch.nn.Linear(channels, 10)
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__(); self.body, self.head = body, head
        def forward(self, x):
            return self.head(torch.amax(self.body(x), dim=(2, 3)))
    return Net()

def step_of(net, batch):
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(batch, 1, 28, 28)).astype("float32"))
    y = torch.tensor(rng.normal(size=(batch, 10)).astype("float32"))
    def step():
        opt.zero_grad(set_to_none=True)
        loss = ((net(x) - y) ** 2).mean(); loss.backward(); opt.step()
    step()
    return step, sum(p.numel() for p in net.parameters())

def per_call(f, n):
    t = clock()
    for _ in range(n):
        f()
    return (clock() - t) / n

out = {}
for group, c in args["configs"]:
    steps = {"escnn R2Conv": step_of(escnn_net(group, c), args["batch"]),
             "torch Conv2d |G|c": step_of(torch_cnn({"p4": 4, "p4m": 8}[group] * c),
                                          args["batch"])}
    calls = {k: max(3, int(args["seconds"] / max(per_call(s, 2), 1e-5)))
             for k, (s, _) in steps.items()}
    samples = {k: [] for k in steps}; ratios = []
    for _ in range(args["rounds"]):
        t = {k: per_call(s, calls[k]) for k, (s, _) in steps.items()}
        for k in t: samples[k].append(t[k])
        ratios.append(t["escnn R2Conv"] / t["torch Conv2d |G|c"])
    out[f"{group}-{c}"] = {k: {"ms": 1e3 * statistics.median(v), "params": steps[k][1]}
                            for k, v in samples.items()}
    out[f"{group}-{c}"]["ratio"] = statistics.median(ratios)
out["versions"] = {"torch": torch.__version__}
print("RESULT" + json.dumps(out))
'''


def escnn_rows(args, configs):
    python = os.path.join(args.escnn_python, "bin", "python")
    if not os.path.exists(python):
        return None, f"escnn venv not found at {args.escnn_python}"
    request = {"configs": configs, "batch": args.batch, "rounds": args.rounds,
               "seconds": args.seconds_per_round, "single_thread": args.single_thread}
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if args.single_thread else dict(os.environ)
    done = subprocess.run([python, "-c", ESCNN_SCRIPT, json.dumps(request)], capture_output=True,
                          text=True, timeout=3600, env=env, cwd="/tmp")
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    if done.returncode or not lines:
        return None, (done.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(lines[-1][len("RESULT"):]), None


def speed(args):
    rows = [f"### Training step, 3 layers, 28 x 28, batch {args.batch}", "",
            timing.machine_line(), "",
            "| group | c | variant | step ms (median) | ratio (median of rounds) | ratio, middle "
            "half | trainable params |", "|---|---|---|---|---|---|---|"]
    configs = [(g, c) for g in args.groups for c in args.channels]
    for group, c in configs:
        n = ORDERS[group]
        matched = max(1, round(c * math.sqrt(n)))
        variants = {f"GroupConv2D {group}": gcnn(group, c),
                    f"Conv2D {n * c} (same channels)": cnn(n * c),
                    f"Conv2D {matched} (about the params)": cnn(matched)}
        steps = {k: timing.compiled_train_step(m, args.batch) for k, m in variants.items()}
        reference = f"Conv2D {n * c} (same channels)"
        samples, ratios = timing.interleaved_samples(
            {k: s[0] for k, s in steps.items()}, {k: reference for k in steps},
            args.rounds, args.seconds_per_round)
        for k, (_, params, _) in steps.items():
            q1, q3 = timing.quartiles(ratios[k])
            rows.append(f"| {group} | {c} | {k} | {1e3 * timing.statistics.median(samples[k]):.2f}"
                        f" | {timing.statistics.median(ratios[k]):.3f} | {q1:.3f}-{q3:.3f} | "
                        f"{params:,} |")
        print("\n".join(rows[-3:]), flush=True)
    peers, why = escnn_rows(args, configs)
    rows += ["", "escnn 1.0.11 (PyTorch, separate venv, same script, after the Keras rounds): "
             "R2Conv on regular fields against torch Conv2d with |G| * c channels", ""]
    if peers is None:
        rows.append(f"escnn not measured: {why}")
    else:
        rows += [f"torch {peers['versions']['torch']}", "",
                 "| group | c | variant | step ms (median) | ratio to torch Conv2d |G|c | params |",
                 "|---|---|---|---|---|---|"]
        for group, c in configs:
            entry = peers[f"{group}-{c}"]
            for k in ("escnn R2Conv", "torch Conv2d |G|c"):
                ratio = f"{entry['ratio']:.3f}" if k == "escnn R2Conv" else "1"
                rows.append(f"| {group} | {c} | {k} | {entry[k]['ms']:.2f} | {ratio} | "
                            f"{entry[k]['params']:,} |")
    return rows


MEMORY_SCRIPT = r'''
import json, os, resource, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
args = json.loads(sys.argv[1])
cap = int(args["cap_gib"] * 2**30)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import numpy as np
from eqzoo import zoo
try:
    model = zoo.create_model(args["preset"], input_shape=(args["side"], args["side"], 1))
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.zeros((32, args["side"], args["side"], 1), "float32")
    model.train_on_batch(x, np.zeros(32, "int32"))
    status, params = "trained one step", model.count_params()
except (MemoryError, Exception) as e:
    status, params = f"stopped: {type(e).__name__}: {str(e).splitlines()[0][:80]}", None
print("RESULT" + json.dumps({"status": status, "params": params,
      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def memory(args):
    rows = [f"### Peak memory (RSS) of building and one training step, batch 32, address space "
            f"capped at {args.memory_cap_gib:g} GiB, {args.timeout} s per run", "",
            "| side | model | params | peak RSS MiB | outcome |", "|---|---|---|---|---|"]
    for side in args.sides:
        for preset in ("p4m_cnn_digits", "d4_invariant_digits"):
            request = {"preset": preset, "side": side, "cap_gib": args.memory_cap_gib}
            try:
                done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, json.dumps(request)],
                                      capture_output=True, text=True, timeout=args.timeout)
                lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT")]
                result = json.loads(lines[-1][6:]) if lines else {
                    "status": f"killed (exit {done.returncode}): "
                              f"{(done.stderr.strip().splitlines() or [''])[-1][:80]}",
                    "params": None, "peak_mib": float("nan")}
            except subprocess.TimeoutExpired:
                result = {"status": f"stopped: over {args.timeout} s", "params": None,
                          "peak_mib": float("nan")}
            params = f"{result['params']:,}" if result["params"] else "-"
            rows.append(f"| {side} | `{preset}` | {params} | {result['peak_mib']:.0f} | "
                        f"{result['status']} |")
            print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = timing.step_benchmark_parser(__doc__.split("\n\n")[0], [28], [])
    parser.set_defaults(batch=64, rounds=7)
    parser.add_argument("--part", choices=["speed", "memory", "both"], default="both")
    parser.add_argument("--groups", nargs="+", default=["p4", "p4m"], choices=list(ORDERS))
    parser.add_argument("--channels", type=int, nargs="+", default=[8])
    parser.add_argument("--escnn-python", default="/work/peers/escnn")
    parser.add_argument("--sides", type=int, nargs="+", default=[8, 12, 16, 20, 24, 28])
    parser.add_argument("--memory-cap-gib", type=float, default=8.0)
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results"))
    args = parser.parse_args(argv)
    rows = []
    if args.part in ("speed", "both"):
        rows += speed(args) + [""]
    if args.part in ("memory", "both"):
        rows += memory(args) + [""]
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "gcnn_speed.md")
    with open(path, "a") as f:
        f.write("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
