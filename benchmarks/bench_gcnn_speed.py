"""Speed and memory of p4 / p4m group convolutions: a training step against plain Conv2D nets and
escnn, and peak memory against the dense pixel-permutation net as images grow.

Step: a 3-layer 28 x 28 network, batch 64, 3 x 3 filters, padding "same", relu, then global max
pooling and Dense(10), one Adam step on an MSE loss (`timing.compiled_train_step`, tf.function),
timed in interleaved rounds (median of per-round ratios):

- `GroupConv2D` p4 / p4m with `c` channels per orientation (|G| * c output channels);
- `Conv2D` with the same output channels, |G| * c (the goal: the G-CNN at most 1.05x this);
- `Conv2D` with about the G-CNN's parameters (c * sqrt(|G|) channels).

escnn (PyTorch) runs the same network with `R2Conv` on C_4 / D_4 regular fields, beside a torch
`Conv2d` net of |G| * c channels, in its own venv (`--escnn-python`, default /work/peers/escnn):
`escnn_peer.py`, started by this script, times one round of its steps whenever asked, so its
rounds interleave with the Keras rounds (one thread each and process CPU time with
`--single-thread`).

Memory: each model built and trained one step (batch 32) in a fresh process capped at
`--memory-cap-gib` of address space (RLIMIT_AS) and `--timeout` seconds; its peak RSS
(ru_maxrss), build and step seconds are recorded, or where it stops (out of memory, timeout),
beside the size of the dense net's first assembled kernel, (h w) x (16 h w) float32 values.

    nice python benchmarks/bench_gcnn_speed.py --single-thread
    python benchmarks/bench_gcnn_speed.py --part memory --sides 8 28

Writes `<output>/gcnn_speed.md` (appending the sections it ran).
"""

import json
import math
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timing  # noqa: I001 (first: it sets the thread and backend flags Keras reads)

import keras

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ORDERS = {"p4": 4, "p4m": 8}
SIDE, LAYERS = 28, 3


def gcnn(group, c, side=SIDE, layers=LAYERS):
    from eqzoo.layers import GlobalGroupPooling, GroupConv2D

    inputs = keras.Input((side, side, 1))
    h = inputs
    for k in range(layers):
        h = GroupConv2D(c, 3, group=group, lifting=k == 0, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(GlobalGroupPooling(group)(h)))


def cnn(channels, side=SIDE, layers=LAYERS):
    inputs = keras.Input((side, side, 1))
    h = inputs
    for _ in range(layers):
        h = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalMaxPooling2D()(h)))


class EscnnPeer:
    """`escnn_peer.py` running in the escnn venv: asked for one round of its steps at a time, so
    its rounds interleave with the Keras ones (a slow phase of the machine hits both)."""

    def __init__(self, args, configs):
        python = os.path.join(args.escnn_python, "bin", "python")
        if not os.path.exists(python):
            raise RuntimeError(f"escnn venv not found at {args.escnn_python}")
        request = {"configs": configs, "batch": args.batch, "side": SIDE, "layers": LAYERS,
                   "single_thread": args.single_thread}
        env = {**os.environ, "OMP_NUM_THREADS": "1"} if args.single_thread else dict(os.environ)
        self.process = subprocess.Popen(
            [python, os.path.join(HERE, "escnn_peer.py"), json.dumps(request)], cwd="/tmp",
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self.info = json.loads(self._reply("READY"))

    def _reply(self, tag):
        for line in self.process.stdout:
            if line.startswith(tag + " "):
                return line[len(tag) + 1:]
        raise RuntimeError("escnn peer stopped: " + (self.process.stderr.read().strip()
                                                     .splitlines() or ["no output"])[-1])

    def round(self, key, seconds):
        self.process.stdin.write(json.dumps({"config": key, "seconds": seconds}) + "\n")
        self.process.stdin.flush()
        return json.loads(self._reply("TIMES"))

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def start_peer(args, configs):
    """`(peer, None)`, or `(None, why not)` when escnn is absent or fails to start."""
    try:
        return EscnnPeer(args, configs), None
    except (RuntimeError, OSError, json.JSONDecodeError) as error:
        return None, str(error)


def speed(args):
    configs = [(g, c) for g in args.groups for c in args.channels]
    peer, why = start_peer(args, configs)
    rows = [f"### Training step, {LAYERS} layers, {SIDE} x {SIDE}, batch {args.batch}", "",
            timing.machine_line(), ""]
    if peer is None:
        rows += [f"escnn not measured: {why}", ""]
    else:
        errors = ", ".join(f"{k} {v:.1e}" for k, v in peer.info["invariance_error"].items())
        rows += [f"escnn {peer.info['escnn']} on torch {peer.info['torch']} (numpy "
                 f"{peer.info['numpy']}), its own venv `{args.escnn_python}`, interleaved round "
                 f"by round with the Keras steps; its nets' invariance errors: {errors}", ""]
    rows += ["| group | c | variant | step ms (median) | ratio to the same framework's conv "
             "with \\|G\\| c channels (median, middle half of rounds) | ratio to escnn R2Conv "
             "(median, middle half) | trainable params |", "|---|---|---|---|---|---|---|"]
    for group, c in configs:
        n, key = ORDERS[group], f"{group}-{c}"
        matched = max(1, round(c * math.sqrt(n)))
        ours, same = f"GroupConv2D {group}", f"Conv2D {n * c} (same channels)"
        variants = {ours: gcnn(group, c), same: cnn(n * c),
                    f"Conv2D {matched} (about the params)": cnn(matched)}
        steps = {k: timing.compiled_train_step(m, args.batch) for k, m in variants.items()}
        calls = {k: max(3, int(args.seconds_per_round / max(timing.per_call(s[0], 3), 1e-5)))
                 for k, s in steps.items()}
        samples = {k: [] for k in steps}
        for _ in range(args.rounds):
            times = {k: timing.per_call(s[0], calls[k]) for k, s in steps.items()}
            if peer is not None:
                times.update(peer.round(key, args.seconds_per_round))
            for k, t in times.items():
                samples.setdefault(k, []).append(t)
        params = {k: s[1] for k, s in steps.items()}
        if peer is not None:
            params.update(peer.info["params"][key])
        escnn, torch_same = "escnn R2Conv", "torch Conv2d (same channels)"
        for k in samples:
            reference = torch_same if k in (escnn, torch_same) else same
            rows.append(f"| {group} | {c} | {k} | {1e3 * statistics.median(samples[k]):.2f} | "
                        f"{ratio(samples[k], samples[reference])} | "
                        f"{ratio(samples[k], samples.get(escnn))} | {params[k]:,} |")
        print("\n".join(rows[-len(samples):]), flush=True)
    if peer is not None:
        peer.close()
    return rows


def ratio(values, references):
    """The median and middle half of per-round ratios `values[i] / references[i]`, as text."""
    if not references:
        return "-"
    ratios = [v / r for v, r in zip(values, references, strict=True)]
    q1, q3 = timing.quartiles(ratios)
    return f"{statistics.median(ratios):.3f} ({q1:.3f}-{q3:.3f})"


MEMORY_PRESETS = ("p4m_cnn_digits", "d4_invariant_digits")


def run_probe(args, preset, side):
    request = {"preset": preset, "side": side, "cap_gib": args.memory_cap_gib}
    lost = {"params": None, "build_s": None, "step_s": None, "peak_mib": float("nan")}
    try:
        done = subprocess.run([sys.executable, os.path.join(HERE, "gcnn_memory_probe.py"),
                               json.dumps(request)], capture_output=True, text=True,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {**lost, "status": f"stopped: over {args.timeout} s"}
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if lines:
        return json.loads(lines[-1][len("RESULT "):])
    phases = [x[len("PHASE "):] for x in done.stdout.splitlines() if x.startswith("PHASE ")]
    last = (done.stderr.strip().splitlines() or [""])[-1][:80]
    where = f" while {phases[-1]}" if phases else ""
    return {**lost, "status": f"killed (exit {done.returncode}){where}: {last}".rstrip(": ")}


def memory(args):
    rows = [f"### Peak memory (RSS) of building and one training step, batch 32, address space "
            f"capped at {args.memory_cap_gib:g} GiB, {args.timeout} s per run", "",
            "| side | model | params | dense first kernel (h w x 16 h w float32) MiB | build s "
            "| first step s (traces the step) | peak RSS MiB | outcome |",
            "|---|---|---|---|---|---|---|---|"]

    def number(value, fmt):
        return "-" if value is None else format(value, fmt)

    for side in args.sides:
        for preset in MEMORY_PRESETS:
            result = run_probe(args, preset, side)
            kernel = (f"{4 * 16 * side ** 4 / 2**20:,.1f}" if preset == "d4_invariant_digits"
                      else "-")
            rows.append(f"| {side} | `{preset}` | {number(result['params'], ',')} | {kernel} | "
                        f"{number(result['build_s'], '.1f')} | {number(result['step_s'], '.2f')}"
                        f" | {result['peak_mib']:.0f} | {result['status']} |")
            print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = timing.step_benchmark_parser(__doc__.split("\n\n")[0], [28], [])
    parser.set_defaults(batch=64, rounds=7)
    parser.add_argument("--part", choices=["speed", "memory", "both"], default="both")
    parser.add_argument("--groups", nargs="+", default=["p4", "p4m"], choices=list(ORDERS))
    parser.add_argument("--channels", type=int, nargs="+", default=[8])
    parser.add_argument("--escnn-python", default="/work/peers/escnn")
    parser.add_argument("--sides", type=int, nargs="+", default=[8, 16, 28, 32, 36, 40])
    parser.add_argument("--memory-cap-gib", type=float, default=4.0)
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
