"""Measuring equivariance: `max |f(rho_in(g) x) - rho_out(g) f(x)|` over sampled group elements.

Works on any callable on batches (a layer, a model, a function), with inputs and outputs laid out
as their representations expect: flat `(batch, dim)`, `(batch, n, c)` for a `ChannelRep`, or
dicts of named tensors for a point cloud's `PointCloudRep` (`layers.point_clouds`).
Any group: a finite group's elements are drawn uniformly, a compact Lie group's from Haar
measure, any other's as `expm` of a random Lie algebra element times random discrete generators
(see `groups.LieGroup.sample`); the discrete generators are always tried too.

Tolerance: a Lorentz boost multiplies features by its `gamma` (2-3 for the default samples, ~20
at the tail), and float32 round-off grows with them, so `assert_equivariant` passes when
`max |f(rho_in(g) x) - rho_out(g) f(x)| <= atol + rtol * max |rho_out(g) f(x)|`, the maximum
over the same elements and examples: `atol` alone for finite and compact groups' small outputs,
`rtol` for large ones.
"""

import keras
import numpy as np


def equivariance_error(f, group, rep_in, rep_out, n_samples=8, seed=0, inputs=None,
                       batch_size=4):
    """`max |f(rho_in(g) x) - rho_out(g) f(x)|` over the generators and `n_samples` sampled `g`.

    Args:
        f: a callable on a batch, e.g. a Keras layer or model.
        group: the group; `rep_in` and `rep_out` must represent it (None: `rep_in.group`).
        rep_in, rep_out: the `Representation`s of f's input and output.
        n_samples: group elements drawn uniformly, on top of every generator.
        seed: seed of the element and input draws.
        inputs: the batch `x` (numpy, or a dict of arrays); None draws `batch_size` standard
            normal examples of shape `rep_in.shape` (so `(n, c)` for a `ChannelRep`, a dict for
            a `PointCloudRep`, whose masks are drawn as ones), in float32.
        batch_size: examples drawn when `inputs` is None.

    Returns:
        The error, a float (absolute, in f's output units).
    """
    return _measure(f, group, rep_in, rep_out, n_samples, seed, inputs, batch_size)[0]


def assert_equivariant(f, group, rep_in, rep_out, n_samples=8, atol=1e-5, seed=0, inputs=None,
                       batch_size=4, rtol=1e-5):
    """Fails with the worst group element and its error when f is not equivariant within tolerance.

    Arguments as for `equivariance_error`; passes when `max |f(rho_in(g) x) - rho_out(g) f(x)|
    <= atol + rtol * max |rho_out(g) f(x)|` (relative for large outputs, e.g. after boosts).

    Example:

    >>> from eqzoo.layers.groups import SymmetricGroup
    >>> from eqzoo.layers.representations import DefiningRep
    >>> from eqzoo.layers.equivariant_dense import EquivariantDense
    >>> rep = DefiningRep(SymmetricGroup(4))
    >>> assert_equivariant(EquivariantDense(rep), SymmetricGroup(4), rep, rep)
    """
    error, worst, scale, moved_scale = _measure(f, group, rep_in, rep_out, n_samples, seed,
                                                inputs, batch_size)
    if not error <= atol + rtol * moved_scale:
        raise AssertionError(
            f"{getattr(f, 'name', f)!r} is not equivariant from {rep_in!r} to {rep_out!r}: "
            f"max |f(rho_in(g) x) - rho_out(g) f(x)| = {error:.3g} > atol={atol:g} + rtol="
            f"{rtol:g} * {moved_scale:.3g} (max |f(x)| = {scale:.3g}). Worst element g: "
            f"{rep_in.group.describe(worst)}"
        )


def describes(rep_in, rep_out, model):
    """Whether `rep_in` and `rep_out` act on what `model` takes and gives: a representation's own
    shape, or its values flattened row-major (`(d * d,)` for T(2) of a d-dimensional V), or, for
    a point cloud's `PointCloudRep`, the same dict of named shapes."""
    return (_fits(rep_in.shape, _shapes(model.input)) and
            _fits(rep_out.shape, _shapes(model.output)))


def _shapes(tensors):
    if isinstance(tensors, dict):
        return {name: tuple(t.shape[1:]) for name, t in tensors.items()}
    if isinstance(tensors, (list, tuple)):
        return tuple(tensors[0].shape[1:]) if len(tensors) == 1 else None
    return tuple(tensors.shape[1:])


def _fits(rep_shape, shape):
    if isinstance(rep_shape, dict) or isinstance(shape, dict):
        return (isinstance(rep_shape, dict) and isinstance(shape, dict)
                and {k: tuple(v) for k, v in rep_shape.items()} == shape)
    return shape is not None and tuple(shape) in {tuple(rep_shape),
                                                  (int(np.prod(rep_shape, dtype=int)),)}


def _measure(f, group, rep_in, rep_out, n_samples, seed, inputs, batch_size):
    for argument, value in (("n_samples", n_samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (
                0 if argument == "n_samples" else 1):
            least = "a non-negative" if argument == "n_samples" else "a positive"
            raise ValueError(f"Invalid value for argument `{argument}`: expected {least} "
                             f"integer. Received: {argument}={value!r}")
    group = rep_in.group if group is None else group
    for name, rep in (("rep_in", rep_in), ("rep_out", rep_out)):
        if rep.group != group:
            raise ValueError(
                f"Both representations must be of the group under test, {group!r}. Received: "
                f"{name}={rep!r}, a representation of {rep.group!r}."
            )
    rng = np.random.default_rng(seed)
    if inputs is None:
        inputs = _draw(rng, batch_size, rep_in)
    x = keras.tree.map_structure(np.asarray, inputs)
    elements = list(group.generators) + list(group.sample(n_samples, seed=seed))
    # One call on every transformed copy at once: a model pays its call overhead once.
    copies = [x] + [rep_in.act(g, x) for g in elements]
    moved = keras.tree.map_structure(
        lambda first, *rest: np.concatenate([first, *rest], axis=0).astype(first.dtype),
        *copies)
    size = len(keras.tree.flatten(x)[0])
    outputs = keras.tree.map_structure(
        lambda out: np.asarray(keras.ops.convert_to_numpy(out), dtype="float64").reshape(
            (len(elements) + 1, size) + tuple(out.shape[1:])), f(moved))
    fx = keras.tree.map_structure(lambda out: out[0], outputs)
    try:
        with np.errstate(invalid="ignore"):  # a NaN or inf output is reported, not warned about
            expected = [rep_out.act(g, fx) for g in elements]
            errors = [_max_difference(keras.tree.map_structure(lambda out, k=k: out[k], outputs),
                                      e)
                      for k, e in enumerate(expected, start=1)]
    except ValueError as e:
        raise ValueError(f"f's output does not match rep_out: {e}") from None
    worst = int(np.argmax(errors))
    error = float(errors[worst]) if np.all(np.isfinite(errors)) else float("inf")
    scale = max(float(np.max(np.abs(leaf), initial=0.0)) for leaf in keras.tree.flatten(fx))
    moved_scale = max(float(np.max(np.abs(leaf), initial=0.0))
                      for e in expected for leaf in keras.tree.flatten(e))
    return error, elements[worst], scale, moved_scale


def _draw(rng, batch_size, rep_in):
    """Standard normal float32 inputs of `rep_in.shape` (a dict of shapes: masks are ones)."""
    if not isinstance(rep_in.shape, dict):
        return rng.normal(size=(batch_size,) + rep_in.shape).astype("float32")
    kinds = getattr(rep_in, "fields", {})
    return {name: np.ones((batch_size,) + shape, "float32")
            if kinds.get(name, ("",))[0] == "mask"
            else rng.normal(size=(batch_size,) + shape).astype("float32")
            for name, shape in rep_in.shape.items()}


def _max_difference(a, b):
    """`max |a - b|` over every tensor of two structures (dicts of arrays, or arrays)."""
    if isinstance(a, dict) != isinstance(b, dict) or (
            isinstance(a, dict) and sorted(a) != sorted(b)):
        raise ValueError(f"outputs {_keys(a)} against rep_out's {_keys(b)}")
    pairs = zip(keras.tree.flatten(a), keras.tree.flatten(b), strict=True)
    return max(float(np.max(np.abs(u - v), initial=0.0)) for u, v in pairs)


def _keys(x):
    return f"keys {sorted(x)}" if isinstance(x, dict) else "a tensor"
