"""Synthetic tasks whose ground truth has a known symmetry, generated from a seed.

Each task is a function `options -> SyntheticTask`: the examples, the noiseless ground truth `f`
that made the targets (so tests can check `f(g . x)` against the declared symmetry on the data
itself) and that symmetry. Task parameters (the coupling `J`, the stored patterns) are drawn from
the seed before any example, so changing `num_examples` or the noise keeps the same task.
"""

import inspect
import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from eqzoo.datasets import pipeline
from eqzoo.datasets.info import DatasetInfo, Splits, Symmetry
from eqzoo.datasets.registry import register, reject_options, reject_tfds_arguments
from eqzoo.layers.groups import DihedralGroup, FiniteGroup, SymmetricGroup


class SyntheticTask(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    target_fn: Callable  # noiseless ground truth on a batch: the `y` of `x` before any noise
    symmetry: Symmetry | None
    structure: str
    description: str


def sign_flip(n):
    """`{I, -I}` on n coordinates: the global sign flip `x -> -x`."""
    return FiniteGroup([-np.eye(n)], name=f"SignFlip({n})")


def quadratic_form(seed, num_examples=512, dim=8, noise=0.05):
    """`y = x^T J x + noise`, `J = J^T` random, `x ~ N(0, I)`: a symmetric-interaction task."""
    param_rng, data_rng = _rngs(seed)
    a = param_rng.standard_normal((dim, dim))
    coupling = (a + a.T) / (2.0 * np.sqrt(dim))

    def target_fn(x):
        return np.einsum("bi,ij,bj->b", x, coupling, x)[:, None]

    x = data_rng.standard_normal((num_examples, dim))
    y = target_fn(x) + noise * data_rng.standard_normal((num_examples, 1))
    return SyntheticTask(
        x, y, target_fn, Symmetry(sign_flip(dim), axis=0, target="invariant"), "vector",
        f"y = x^T J x + N(0, {noise:g}^2) with a random symmetric {dim}x{dim} coupling J and "
        "x ~ N(0, I); invariant under x -> -x.",
    )


def _set_task(reduce, label):
    def make(seed, num_examples=512, set_size=8, features=3):
        _, data_rng = _rngs(seed)

        def target_fn(x):
            return reduce(x, axis=1)

        x = data_rng.standard_normal((num_examples, set_size, features))
        return SyntheticTask(
            x,
            target_fn(x),
            target_fn,
            Symmetry(SymmetricGroup(set_size), axis=0, target="invariant"),
            "set",
            f"Sets of {set_size} elements with {features} N(0, 1) features; the target is their "
            f"elementwise {label}, invariant under any permutation of the elements.",
        )

    make.__doc__ = f"`y = {label}_i x_i` over the elements of a set: invariant under S_n."
    return make


set_sum = _set_task(np.sum, "sum")
set_max = _set_task(np.max, "max")


def cyclic_signal(seed, num_examples=512, length=16, modes=3, noise=0.1, bandwidth=2.0):
    """Smooth a noisy periodic signal: `y = h * x`, circular convolution by an even `h`.

    The heat kernel `h` has Fourier transform `exp(-k^2 / (2 bandwidth^2))`, real and even in
    `k`, so `h` is even and the map commutes with every cyclic shift and reflection.
    """
    _, data_rng = _rngs(seed)
    k = np.fft.fftfreq(length, d=1.0 / length)
    h = np.real(np.fft.ifft(np.exp(-0.5 * (k / bandwidth) ** 2)))
    circulant = h[(np.arange(length)[:, None] - np.arange(length)[None, :]) % length]

    def target_fn(x):
        return x @ circulant.T

    t = np.arange(length) / length
    freqs = data_rng.integers(1, length // 2 + 1, size=(num_examples, modes, 1))
    amplitudes = data_rng.standard_normal((num_examples, modes, 1))
    phases = data_rng.uniform(0, 2 * np.pi, size=(num_examples, modes, 1))
    clean = np.sum(amplitudes * np.cos(2 * np.pi * freqs * t + phases), axis=1)
    x = clean + noise * data_rng.standard_normal((num_examples, length))
    return SyntheticTask(
        x, target_fn(x), target_fn, Symmetry(DihedralGroup(length), axis=0, target="equivariant"),
        "signal",
        f"Periodic signals of length {length} ({modes} random Fourier modes plus N(0, {noise:g}^2) "
        f"noise); the target is the signal smoothed by a heat kernel of bandwidth {bandwidth:g}, "
        "equivariant under cyclic shifts and reflections.",
    )


def hopfield_patterns(seed, num_examples=512, size=32, patterns=4, corruption=0.1):
    """Complete a corrupted +-1 pattern to the stored pattern nearest to it: sign-flip equivariant.

    The memories are `patterns` random +-1 vectors and their negatives: a Hopfield network with
    the symmetric Hebbian coupling `W = sum_mu xi_mu xi_mu^T` stores both signs. Each input flips
    `round(corruption * size)` entries of a memory; inputs whose nearest memory is not the one
    they came from are redrawn, so the target is exactly `f(x) = argmax_xi <xi, x>`, and
    `f(-x) = -f(x)`.
    """
    if not 0 <= corruption < 0.5:
        raise ValueError(f"Invalid value for option `corruption` of 'hopfield_patterns': expected "
                         f"a number in [0, 0.5). Received: corruption={corruption!r}")
    param_rng, data_rng = _rngs(seed)
    stored = param_rng.choice([-1.0, 1.0], size=(patterns, size))
    memories = np.concatenate([stored, -stored])
    if len({tuple(m) for m in memories}) < len(memories):
        raise ValueError(f"hopfield_patterns: {patterns} random patterns of size {size} collide "
                         f"(or are negatives of each other) for seed={seed}; use a larger `size`.")

    def target_fn(x):
        return memories[np.argmax(x @ memories.T, axis=1)]

    flips = int(round(corruption * size))
    source = data_rng.integers(0, len(memories), size=num_examples)
    x = np.empty((num_examples, size))
    redraw = np.arange(num_examples)
    for _ in range(100):
        mask = np.ones((len(redraw), size))
        chosen = np.argsort(data_rng.random((len(redraw), size)), axis=1)[:, :flips]
        np.put_along_axis(mask, chosen, -1.0, axis=1)
        x[redraw] = memories[source[redraw]] * mask
        overlaps = x[redraw] @ memories.T
        own = overlaps[np.arange(len(redraw)), source[redraw]]
        overlaps[np.arange(len(redraw)), source[redraw]] = -np.inf
        redraw = redraw[own <= overlaps.max(axis=1)]
        if not len(redraw):
            break
    else:
        raise ValueError(f"hopfield_patterns: with corruption={corruption} the corrupted inputs "
                         "keep landing nearer another memory; lower `corruption` or `patterns`.")
    return SyntheticTask(
        x, memories[source], target_fn, Symmetry(sign_flip(size), axis=0, target="equivariant"),
        "vector",
        f"Pattern completion: {patterns} stored +-1 patterns of size {size} and their negatives; "
        f"the input has {flips} entries flipped, the target is the stored pattern. Equivariant "
        "under the global sign flip.",
    )


def _random_graphs(rng, num_examples, nodes, max_density, task):
    """Erdos-Renyi graphs G(n, p), p ~ U(0, max_density) per graph: symmetric 0/1 adjacency."""
    if not 0 < max_density <= 1:
        raise ValueError(f"Invalid value for option `max_density` of {task!r}: expected a number "
                         f"in (0, 1]. Received: max_density={max_density!r}")
    p = rng.uniform(0.0, max_density, size=(num_examples, 1, 1))
    upper = np.triu(rng.random((num_examples, nodes, nodes)) < p, k=1)
    return (upper | upper.transpose(0, 2, 1)).astype(np.float64)


def graph_triangles(seed, num_examples=512, nodes=8, max_density=0.5):
    """Count the triangles of a random graph, `trace(A^3) / 6`: invariant under relabelling."""
    _, data_rng = _rngs(seed)

    def target_fn(a):
        return np.einsum("bij,bjk,bki->b", a, a, a)[:, None] / 6.0

    x = _random_graphs(data_rng, num_examples, nodes, max_density, "graph_triangles")
    return SyntheticTask(
        x, target_fn(x), target_fn,
        Symmetry(SymmetricGroup(nodes), axis=(0, 1), target="invariant"), "graph",
        f"Adjacency matrices of Erdos-Renyi graphs on {nodes} nodes, edge probability drawn from "
        f"U(0, {max_density:g}) per graph; the target is the number of triangles, trace(A^3) / 6, "
        "invariant under any relabelling of the nodes, A -> P A P^T.",
    )


def line_graph_degrees(seed, num_examples=512, nodes=8, max_density=0.5):
    """Each edge's degree in the line graph, `A_ij (d_i + d_j - 2)`: equivariant, symmetric."""
    _, data_rng = _rngs(seed)

    def target_fn(a):
        degrees = a.sum(axis=2)
        return a * (degrees[:, :, None] + degrees[:, None, :] - 2.0)

    x = _random_graphs(data_rng, num_examples, nodes, max_density, "line_graph_degrees")
    return SyntheticTask(
        x, target_fn(x), target_fn,
        Symmetry(SymmetricGroup(nodes), axis=(0, 1), target="equivariant"), "graph",
        f"Adjacency matrices of Erdos-Renyi graphs on {nodes} nodes, edge probability drawn from "
        f"U(0, {max_density:g}) per graph; the target is the symmetric matrix of edge degrees in "
        "the line graph, Y_ij = A_ij (d_i + d_j - 2) (the edges sharing an end with edge ij), "
        "equivariant under relabelling: Y -> P Y P^T when A -> P A P^T.",
    )


TASKS = {
    "quadratic_form": quadratic_form,
    "set_sum": set_sum,
    "set_max": set_max,
    "cyclic_signal": cyclic_signal,
    "hopfield_patterns": hopfield_patterns,
    "graph_triangles": graph_triangles,
    "line_graph_degrees": line_graph_degrees,
}


# The float64 values each task generates, from its options: `make` checks them against the
# memory available before generating anything.
ELEMENTS = {
    "quadratic_form": lambda num_examples, dim, **_: num_examples * (dim + 1) + dim * dim,
    "set_sum": lambda num_examples, set_size, features, **_: (
        num_examples * (set_size + 1) * features),
    "set_max": lambda num_examples, set_size, features, **_: (
        num_examples * (set_size + 1) * features),
    "cyclic_signal": lambda num_examples, length, modes, **_: (
        num_examples * (2 * length + 3 * modes) + length * length),
    "hopfield_patterns": lambda num_examples, size, patterns, **_: (
        3 * num_examples * size + 2 * patterns * size),
    # The adjacency matrices and the uniform draws they are cut from, then the targets.
    "graph_triangles": lambda num_examples, nodes, **_: num_examples * (2 * nodes * nodes + 1),
    "line_graph_degrees": lambda num_examples, nodes, **_: 3 * num_examples * nodes * nodes,
}
# Each generated float64 value is also delivered as float32: 8 + 4 bytes at least.
BYTES_PER_ELEMENT = 12


def make(name, seed, **options):
    """The `SyntheticTask` `name` with `options` checked against its defaults, before any split."""
    check_options(name, TASKS[name], ELEMENTS[name], options)
    return TASKS[name](seed, **options)


def check_options(name, task, elements, options):
    """`options` of `task(seed, **options)` against its defaults' kinds, and the memory that
    `elements(**options)` float64 values need against the memory available."""
    defaults = {k: p.default for k, p in list(inspect.signature(task).parameters.items())[1:]}
    reject_options(name, options, allowed=defaults)
    for option, value in options.items():
        # Integer defaults count things (positive integers); float defaults are scales (>= 0).
        integer = isinstance(defaults[option], int)
        kind = numbers.Integral if integer else numbers.Real
        if (isinstance(value, bool) or not isinstance(value, kind) or value < (1 if integer else 0)
                or not math.isfinite(value)):
            expected = "a positive integer" if integer else "a non-negative finite number"
            raise ValueError(
                f"Invalid value for option `{option}` of {name!r}: expected {expected}. "
                f"Received: {option}={value!r}"
            )
    needed = BYTES_PER_ELEMENT * elements(**{**defaults, **options})
    available = pipeline.available_memory()
    if available is not None and needed > available:
        given = ", ".join(f"{k}={v!r}" for k, v in sorted(options.items()))
        raise ValueError(
            f"Dataset {name!r} with {given} needs at least {needed:,} bytes "
            f"({needed / 2**30:.1f} GiB) of memory, but {available:,} bytes "
            f"({available / 2**30:.1f} GiB) are available; expected smaller sizes."
        )


def load(name, *, batch_size, seed, validation_fraction, test_fraction, reconstruction,
         data_dir, download, **options):
    reject_tfds_arguments(name, data_dir, download)
    train_size = options.pop("train_size", None)  # a split option, not a task parameter
    task = make(name, seed, **options)
    indices = pipeline.split_indices(
        len(task.x),
        validation_fraction or pipeline.DEFAULT_VALIDATION_FRACTION,
        test_fraction or pipeline.DEFAULT_TEST_FRACTION,
        seed,
        name=name,
    )
    indices = pipeline.subsample_train(indices, train_size, seed, name=name)
    arrays = pipeline.ArraySplits(
        {split: task.x[idx].astype(np.float32) for split, idx in indices.items()},
        {split: task.y[idx].astype(np.float32) for split, idx in indices.items()},
        indices,
    )
    options_text = ", ".join(f"{k}={v!r}" for k, v in sorted(options.items())) or "defaults"
    info = DatasetInfo(
        name=name,
        task="regression",
        structure=task.structure,
        input_shape=task.x.shape[1:],
        output_shape=task.y.shape[1:],
        num_classes=None,
        train_size=len(indices["train"]),
        validation_size=len(indices["validation"]),
        test_size=len(indices["test"]),
        symmetry=task.symmetry,
        source=f"synthetic ({options_text}, seed={seed})",
        description=task.description,
        preprocessing="none: generated as float64, delivered as float32",
    )
    if reconstruction:
        arrays, info = pipeline.as_reconstruction(arrays, info)
    return Splits(*pipeline.to_pipelines(arrays, batch_size=batch_size, seed=seed), info)


def _rngs(seed):
    """Independent streams for task parameters and for examples."""
    return np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])


for _name, _task in TASKS.items():
    register(_name, load, source="synthetic", description=(_task.__doc__ or "").splitlines()[0])
