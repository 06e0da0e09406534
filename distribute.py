"""Backends and distribution: which Keras backend a run uses, and the strategy it trains under.

    strategy = make_strategy("mirrored")  # tf.distribute over every local device
    with strategy.scope():
        model = ...

`--strategy default | mirrored | multiworker` are tf.distribute strategies (TensorFlow);
`data_parallel` is `keras.distribution.DataParallel` (JAX), wrapped by `KerasDistribution` in the
same shape: a `scope()` and `num_replicas_in_sync`. What needs no import (`BACKENDS`,
`STRATEGY_BACKENDS`, the checks of `--backend`, `--strategy` and TF_CONFIG) is checked before
TensorFlow or Keras is imported; the rest imports them when called.
"""

import contextlib
import importlib.util
import json
import os
import re
import sys

from eqzoo.messages import UsageError, short, warn

BACKENDS = ("tensorflow", "jax", "torch")
# Which --strategy runs on which backend; the others are refused before anything is loaded.
# The backends beside TensorFlow (a required dependency): their package and pyproject extra.
PIP_EXTRAS = {"jax": ("JAX", ""),
              "torch": ("PyTorch", "; for a CPU-only PyTorch install its CPU wheel first, as "
                        "the README says")}
STRATEGY_BACKENDS = {"default": BACKENDS, "mirrored": ("tensorflow",),
                     "multiworker": ("tensorflow",), "data_parallel": ("jax",)}


def backend_from_argv(argv):
    """The value of `--backend X` or `--backend=X` in `argv`, or None."""
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.partition("=")[2]
    return None


@contextlib.contextmanager
def native_stderr_muted():
    """TensorFlow's C++ start-up logs (oneDNN, CUDA probing) go straight to file descriptor 2,
    whatever TF_CPP_MIN_LOG_LEVEL says, and would bury a one-line error. Python errors show."""
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow():
    """Imports TensorFlow without its C++ start-up logs."""
    with native_stderr_muted():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # later C++ logs do obey it
        import tensorflow as tf
    return tf


# ----------------------------------------------------------------------------------------------
# Checks of the command line and the environment
# ----------------------------------------------------------------------------------------------
def check_backend_installed(requested):
    """`--backend` (None: not given; then KERAS_BACKEND, unless Keras is in already) names a
    backend, and its package is installed: a missing one is refused naming the pip extra, before
    anything imports Keras (which would fail with a bare `No module named 'jax'`)."""
    if requested is not None and requested not in BACKENDS:
        raise UsageError(f"Invalid value for `backend`: expected {' | '.join(BACKENDS)}. "
                         f"Received: backend={short(requested)}")
    backend = requested if requested is not None or "keras" in sys.modules else (
        os.environ.get("KERAS_BACKEND"))
    if requested is None and backend is not None and backend not in BACKENDS:
        raise UsageError(f"Invalid value for the environment variable KERAS_BACKEND: expected "
                         f"{' | '.join(BACKENDS)}, the backends train.py runs on (or unset it, "
                         f"for tensorflow). Received: KERAS_BACKEND={short(backend)}")
    if backend in PIP_EXTRAS and not _installed(backend):
        given = f"--backend {backend}" if requested is not None else f"KERAS_BACKEND={backend}"
        package, note = PIP_EXTRAS[backend]
        raise UsageError(f"{given} needs {package}, which is not installed here: run "
                         f'pip install -e ".[{backend}]" in the repository (or pip install '
                         f'"eqzoo[{backend}]"){note}, or pass --backend tensorflow.')


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules: blocked
        return False


def check_backend(requested, strategy):
    """`--backend` (None: not given) agrees with the Keras imported, which runs `strategy`."""
    check_backend_installed(requested)
    import keras

    backend = keras.backend.backend()
    if requested is not None and requested != backend:
        raise UsageError(f"--backend {requested} came after Keras was imported with the {backend} "
                         f"backend; run train.py as a script, or set KERAS_BACKEND={requested}.")
    check_strategy_backend(strategy, backend)


def check_strategy_backend(strategy, backend):
    if backend not in STRATEGY_BACKENDS[strategy]:
        instead = {"tensorflow": "mirrored", "jax": "data_parallel"}.get(backend)
        hint = f"use --strategy {instead}" if instead else "use --strategy default"
        backends = STRATEGY_BACKENDS[strategy]
        raise UsageError(f"--strategy {strategy} runs on the {' or '.join(backends)} backend "
                         f"only, and this run uses {backend}: {hint}, or pass --backend "
                         f"{backends[0]}.")


def check_tf_config(strategy):
    """`--strategy multiworker` needs TF_CONFIG naming the cluster and this process's task."""
    text = os.environ.get("TF_CONFIG")
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": '
               '{"type": "worker", "index": 0}}\'')
    if strategy != "multiworker":
        if text:
            warn(f"TF_CONFIG is set, but --strategy is {strategy}: this process trains alone "
                 "(pass --strategy multiworker to join the cluster).")
        return
    if not text:
        raise UsageError(f"--strategy multiworker needs TF_CONFIG, the cluster and this "
                         f"worker's task as JSON, e.g. {example}. Received: TF_CONFIG unset.")
    try:
        tf_config = json.loads(text)
    except ValueError as error:
        raise UsageError(f"TF_CONFIG is not JSON ({error}); expected e.g. {example}. Received: "
                         f"TF_CONFIG={short(text)}") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    task = tf_config.get("task") if isinstance(tf_config, dict) else None
    ok = (isinstance(cluster, dict) and cluster and isinstance(task, dict)
          and all(isinstance(hosts, list) and hosts and all(
              isinstance(host, str) and re.fullmatch(r"[^\s:]+:\d+", host) for host in hosts)
              for hosts in cluster.values())
          and task.get("type") in cluster and isinstance(task.get("index"), int)
          and not isinstance(task.get("index"), bool)
          and 0 <= task["index"] < len(cluster[task["type"]]))
    if not ok:
        raise UsageError(f"Malformed TF_CONFIG: expected a \"cluster\" of task types to lists of "
                         f"host:port and this process's \"task\" (a type in the cluster and an "
                         f"index in its list), e.g. {example}. Received: TF_CONFIG={short(text)}")


# ----------------------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------------------
class KerasDistribution:
    """`keras.distribution` (JAX) in the shape of a tf.distribute strategy: a scope, replicas."""

    def __init__(self, distribution=None, replicas=1):
        import keras

        self.num_replicas_in_sync = replicas
        if distribution is not None:
            keras.distribution.set_distribution(distribution)

    def scope(self):
        return contextlib.nullcontext()


def make_strategy(name):
    import keras

    if name == "data_parallel":
        devices = keras.distribution.list_devices()
        return KerasDistribution(keras.distribution.DataParallel(devices=devices), len(devices))
    if keras.backend.backend() != "tensorflow":
        return KerasDistribution()
    tf = import_tensorflow()
    if name == "mirrored":
        # Without a GPU, MirroredStrategy() would take CPU:0 alone; mirror over every CPU device.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multiworker":
        return multiworker_mirrored_strategy()
    return tf.distribute.get_strategy()


def multiworker_mirrored_strategy():
    tf = import_tensorflow()

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """Works around Keras 3's `fit` across workers (keras-team/keras#20585): it reduces a
        whole `(x, y)` batch in one call, and scalar logs along `axis=0`. Reduce tensor by
        tensor, and scalars as their mean over replicas."""

        def reduce(self, reduce_op, value, axis):
            def reduce_one(v):
                scalar = len(getattr(self.experimental_local_results(v)[0], "shape", ())) == 0
                return super(MultiWorkerMirroredStrategy, self).reduce(
                    reduce_op, v, axis=None if scalar else axis)

            return tf.nest.map_structure(reduce_one, value)

    return MultiWorkerMirroredStrategy()


def is_chief(strategy):
    """The one worker that writes the run folder and W&B: TF_CONFIG's chief, else worker 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type or resolver.task_type == "chief":
        return True
    return (resolver.task_type == "worker" and resolver.task_id == 0
            and "chief" not in resolver.cluster_spec().as_dict())


# ----------------------------------------------------------------------------------------------
# The splits, as the strategy needs them
# ----------------------------------------------------------------------------------------------
def distribute_splits(splits, strategy_name, strategy, info, batch_size):
    """`{"train", "val", "test"}` splits as `strategy_name` needs them: sharded by example over
    workers (multiworker), evenly batched over devices (data_parallel), else unchanged."""
    if strategy_name == "multiworker":
        tf = import_tensorflow()
        # Sets in memory have no files to shard by: shard by example, without the warning.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        return {name: split.with_options(options) for name, split in splits.items()}
    if strategy_name == "data_parallel":
        return even_batches(splits, info, batch_size, strategy.num_replicas_in_sync)
    return splits


def even_batches(splits, info, batch_size, replicas):
    """DataParallel splits every batch evenly over the devices: drop each split's uneven tail."""
    tf = import_tensorflow()
    if batch_size % replicas:
        raise UsageError(f"--strategy data_parallel splits each batch over {replicas} devices, so "
                         f"--batch-size must be a multiple of {replicas}. Received: "
                         f"batch_size={batch_size}")
    sizes = {"train": info.train_size, "val": info.validation_size, "test": info.test_size}
    for name, size in sizes.items():
        if size % batch_size % replicas:
            warn(f"data_parallel: the last {size % batch_size} of {size} {name} examples are left "
                 f"out (a batch must split evenly over {replicas} devices).")
    even = {}
    for name, split in splits.items():
        drop = sizes[name] % batch_size % replicas > 0
        batches = sizes[name] // batch_size + (sizes[name] % batch_size > 0 and not drop)
        even[name] = split.rebatch(batch_size, drop_remainder=drop).apply(
            tf.data.experimental.assert_cardinality(batches))  # rebatch forgets the count
    return even
