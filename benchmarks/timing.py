"""What the training-step benchmarks share: a compiled Adam step, and interleaved median timing.

Machines here are noisy, so variants are timed in rounds, each round timing every variant once,
and a variant's ratio to its reference is the median of per-round ratios. `compiled_train_step`
is TensorFlow's own `tf.function` step; `keras_train_step` is `Model.train_on_batch`, on
whichever Keras backend is active; `interleaved_medians` times any callables; `print_step_table`
times a set of steps per width and XLA mode and prints the markdown table the scripts share.
"""

import importlib.util
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# --backend NAME: the Keras backend of the scripts that take the flag. Keras reads KERAS_BACKEND
# when first imported (below), so it is set here, before that; a name that is not a backend is
# left to the script's parser to refuse (`add_backend_argument`).
BACKENDS = ("tensorflow", "jax", "torch")
if "--backend" in sys.argv[:-1] and sys.argv[sys.argv.index("--backend") + 1] in BACKENDS:
    os.environ["KERAS_BACKEND"] = sys.argv[sys.argv.index("--backend") + 1]
# --single-thread: one compute thread on every backend, timed by the process's CPU time, which
# other jobs on a shared machine disturb far less than wall time. XLA reads its flags at import.
SINGLE_THREAD = "--single-thread" in sys.argv
if SINGLE_THREAD:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_cpu_multi_thread_eigen=false"
                               " intra_op_parallelism_threads=1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

clock = time.perf_counter
if SINGLE_THREAD:
    clock = time.process_time
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if importlib.util.find_spec("torch") is not None:  # the backend, or the PyTorch peers
        import torch

        torch.set_num_threads(1)


def machine_line():
    backend = keras.backend.backend()
    version = {"tensorflow": tf.__version__}.get(backend) or __import__(backend).__version__
    return (f"Keras {keras.__version__} on {backend} {version}, "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f} at start"
            + (", one thread, timed by process CPU time" if SINGLE_THREAD else ""))


def keras_train_step(model, batch, jit=False, seed=0):
    """`(step, trainable_params, adam_slot_bytes)`: `model.train_on_batch` (Adam, MSE) on a fixed
    random batch, compiled the active backend's way (`jit` is XLA on TensorFlow; JAX always
    compiles; PyTorch runs eagerly)."""
    if keras.backend.backend() == "jax":
        jit = True
    elif keras.backend.backend() == "torch":
        jit = False
    optimizer = keras.optimizers.Adam(1e-4)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch,) + tuple(model.input_shape[1:])).astype("float32")
    y = rng.normal(size=(batch,) + tuple(model.output_shape[1:])).astype("float32")
    model.train_on_batch(x, y)  # trace and compile
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    slot_bytes = sum(int(np.prod(v.shape)) * 4 for v in optimizer.variables if len(v.shape))
    return (lambda: model.train_on_batch(x, y)), params, slot_bytes


def compiled_train_step(model, batch, jit=False, seed=0):
    """`(step, trainable_params, adam_slot_bytes)` for one forward/backward/Adam step on a fixed
    random batch regressed onto itself (or onto random targets of the output's shape)."""
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(batch,) + tuple(model.input_shape[1:])).astype("float32"))
    y = tf.constant(rng.normal(size=(batch,) + tuple(model.output_shape[1:])).astype("float32"))
    step(x, y).numpy()  # trace and compile
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    slot_bytes = sum(int(np.prod(v.shape)) * 4 for v in optimizer.variables if len(v.shape))
    return (lambda: step(x, y).numpy()), params, slot_bytes


def per_call(fn, calls):
    start = clock()
    for _ in range(calls):
        fn()
    return (clock() - start) / calls


def interleaved_samples(callables, references, rounds, seconds_per_round):
    """Seconds per call of each callable in each round, and its per-round ratio to
    `references[name]` (a name in `callables`, or None for no ratio): the callables take turns
    within every round, so a slow phase of the machine hits all of them alike."""
    calls = {k: max(3, int(seconds_per_round / max(per_call(f, 3), 1e-5)))
             for k, f in callables.items()}
    samples = {k: [] for k in callables}
    ratios = {k: [] for k in callables}
    for _ in range(rounds):
        times = {k: per_call(f, calls[k]) for k, f in callables.items()}
        for k, t in times.items():
            samples[k].append(t)
            if references.get(k) in times:
                ratios[k].append(t / times[references[k]])
    return samples, ratios


def interleaved_medians(callables, references, rounds, seconds_per_round):
    """Median seconds per call of each callable, and the median of its per-round ratio to
    `references[name]` (a name in `callables`, or None for no ratio)."""
    samples, ratios = interleaved_samples(callables, references, rounds, seconds_per_round)
    return ({k: statistics.median(v) for k, v in samples.items()},
            {k: statistics.median(v) if v else None for k, v in ratios.items()})


def quartiles(values):
    """`(25th, 75th)` percentiles of `values` (inclusive method; both the one value if alone)."""
    if len(values) == 1:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def print_step_table(sizes, modes, make_steps, rounds, seconds_per_round):
    """For each width n and XLA mode, times the steps `make_steps(n, jit)` returns (a dict
    `variant -> ((step, trainable_params, adam_slot_bytes), reference variant or None)`) in
    interleaved rounds, and prints one markdown row per variant: median step time, median ratio
    to its reference and the 25th-75th percentiles of the per-round ratios (how far the machine's
    noise moves it), parameters, optimizer-slot memory, and the 1-minute load average when the
    rounds ended (the machine is shared; read ratios measured under load accordingly)."""
    print("| n | XLA | variant | step ms (median) | ratio to reference (median) "
          "| ratio, middle half of rounds | trainable params | Adam slots MiB | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for jit in modes:
            steps = make_steps(n, jit)
            samples, ratios = interleaved_samples(
                {v: s[0][0] for v, s in steps.items()}, {v: s[1] for v, s in steps.items()},
                rounds, seconds_per_round)
            load = os.getloadavg()[0]
            for v, ((_, params, slot_bytes), _) in steps.items():
                ratio, spread = "-", "-"
                if ratios[v]:
                    ratio = f"{statistics.median(ratios[v]):.3f}"
                    spread = "{:.3f}-{:.3f}".format(*quartiles(ratios[v]))
                print(f"| {n} | {'on' if jit else 'off'} | {v} | "
                      f"{1e3 * statistics.median(samples[v]):.2f} | {ratio} | {spread} "
                      f"| {params:,} | {slot_bytes / 2**20:.2f} | {load:.1f} |", flush=True)


def step_benchmark_parser(description, sizes, variants):
    """The command line the training-step scripts share: widths, batch, rounds, variants, XLA."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=int, nargs="+", default=sizes)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds-per-round", type=float, default=0.4,
                        help="approximate time spent on each variant in each round")
    parser.add_argument("--variants", nargs="+", default=list(variants), choices=list(variants))
    parser.add_argument("--single-thread", action="store_true",
                        help="one compute thread, timed by process CPU time (steadier on a "
                             "shared machine; read at import of this module)")
    parser.add_argument("--jit", "--xla", dest="jit", choices=["off", "on", "both"],
                        default="both", help="XLA for TensorFlow steps (jit_compile)")
    return parser


def add_backend_argument(parser):
    """`--backend` for a script's parser: its help and choices. This module has already set
    KERAS_BACKEND from it when imported (Keras reads it once, when first imported)."""
    parser.add_argument("--backend", choices=BACKENDS,
                        help="the Keras backend (default: KERAS_BACKEND, else tensorflow)")


XLA_MODES = {"off": [False], "on": [True], "both": [False, True]}
