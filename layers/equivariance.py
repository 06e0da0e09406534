"""Measuring equivariance: `max |f(rho_in(g) x) - rho_out(g) f(x)|` over sampled group elements.

Works on any callable on batches (a layer, a model, a function), with inputs and outputs laid out
as their representations expect: flat `(batch, dim)`, or `(batch, n, c)` for a `ChannelRep`.
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
        inputs: the batch `x` (numpy); None draws `batch_size` standard normal examples of
            shape `rep_in.shape` (so `(n, c)` for a `ChannelRep`), in float32.
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
        inputs = rng.normal(size=(batch_size,) + rep_in.shape).astype("float32")
    x = np.asarray(inputs)
    elements = list(group.generators) + list(group.sample(n_samples, seed=seed))
    # One call on every transformed copy at once: a model pays its call overhead once.
    moved = np.concatenate([x] + [rep_in.act(g, x) for g in elements], axis=0).astype(x.dtype)
    outputs = np.asarray(keras.ops.convert_to_numpy(f(moved)), dtype="float64")
    outputs = outputs.reshape((len(elements) + 1, len(x)) + outputs.shape[1:])
    fx = outputs[0]
    try:
        with np.errstate(invalid="ignore"):  # a NaN or inf output is reported, not warned about
            expected = [rep_out.act(g, fx) for g in elements]
            errors = [np.max(np.abs(out - e), initial=0.0)
                      for e, out in zip(expected, outputs[1:], strict=True)]
    except ValueError as e:
        raise ValueError(f"f's output does not match rep_out: {e}") from None
    worst = int(np.argmax(errors))
    error = float(errors[worst]) if np.all(np.isfinite(errors)) else float("inf")
    moved_scale = max(float(np.max(np.abs(e), initial=0.0)) for e in expected)
    return error, elements[worst], float(np.max(np.abs(fx), initial=0.0)), moved_scale
