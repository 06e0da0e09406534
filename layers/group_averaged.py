"""GroupAveraged: any Keras model made equivariant by averaging over a finite group (Reynolds)."""

import math

import keras
import numpy as np
from keras import ops

from eqzoo.layers.groups import SymmetricGroup, group_from_config
from eqzoo.layers.representations import rep_from_config

MAX_ENUMERATED = 10_000  # elements; beyond, each call would run the model that many times


@keras.saving.register_keras_serializable(package="eqzoo")
class GroupAveraged(keras.layers.Wrapper):
    """Symmetrizes a model over a finite group: `F(x) = mean_g rho_out(g)^{-1} f(rho_in(g) x)`.

    The Reynolds operator. With every element of G (`samples=None`, the default), `F` is exactly
    equivariant, `F(rho_in(h) x) = rho_out(h) F(x)` for every `h` in G, whatever `f` is (the sum
    over `g h` runs over G again), and `F = f` when `f` already is equivariant. With a
    `TrivialRep` output it is the average prediction over the transformed inputs: invariant.
    The wrapped model is called once per call, on all `|G|` transformed copies of the batch
    stacked, so a call costs `|G|` times as much. Its weights stay its own (trainable unless it is
    frozen): the wrapper works on a model trained elsewhere, and can be trained further.

    Groups too large to enumerate (more than `MAX_ENUMERATED` elements) need `samples=k`: `F`
    then averages over k elements drawn uniformly (with replacement) once, from `seed`, and kept
    fixed. That is an approximation: the result is in general NOT exactly equivariant; its error
    shrinks as k grows.

    Args:
        model: any Keras layer or model taking batches laid out as `rep_in` (flat `(batch,
            rep_in.dim)`, or any shape with `rep_in.dim` values per example, such as an
            `ImageRep`'s `(batch, h, w, c)`), with `rep_out.dim` output values per example.
        group: the finite group; `rep_in` and `rep_out` must represent it.
        rep_in, rep_out: `Representation`s (or their `get_config()` dicts) of input and output.
        samples: None to average over every element (exact), or an integer k in
            `[1, MAX_ENUMERATED]` (10,000) of sampled elements (approximate); more is refused
            before any is drawn, since every call runs the model on k copies of the batch.
        seed: seed of the sampled elements (unused when `samples` is None).

    Input shape:
        The wrapped model's, `(batch_size, ...)` with `rep_in.dim` values per example, e.g.
        `(batch_size, h, w, c)` for an `ImageRep`.

    Output shape:
        The wrapped model's, `(batch_size, ...)` with `rep_out.dim` values per example.

    Example:

    >>> from eqzoo.layers.groups import ImageDihedralGroup
    >>> from eqzoo.layers.representations import ImageRep, TrivialRep
    >>> group = ImageDihedralGroup(8, 8)
    >>> mlp = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                         keras.layers.Dense(10)])
    >>> invariant = GroupAveraged(mlp, group, ImageRep(group), TrivialRep(group, 10))
    >>> tuple(invariant(np.zeros((2, 8, 8, 1), "float32")).shape)
    (2, 10)
    """

    def __init__(self, model, group, rep_in, rep_out, samples=None, seed=0, **kwargs):
        super().__init__(model, **kwargs)
        self.group = group_from_config(group)
        self.rep_in, self.rep_out = rep_from_config(rep_in), rep_from_config(rep_out)
        for name, rep in (("rep_in", self.rep_in), ("rep_out", self.rep_out)):
            if rep.group != self.group:
                raise ValueError(
                    f"GroupAveraged needs representations of the group it averages over, "
                    f"{self.group!r}. Received: {name}={rep!r}, a representation of {rep.group!r}."
                )
        if samples is not None and (isinstance(samples, bool) or not isinstance(
                samples, (int, np.integer)) or not 1 <= samples <= MAX_ENUMERATED):
            raise ValueError(
                "Invalid value for argument `samples` of GroupAveraged: expected None (every "
                f"element, exact) or an integer in [1, {MAX_ENUMERATED}] (each call runs the "
                f"model once per sample). Received: samples={samples!r}"
            )
        self.samples = None if samples is None else int(samples)
        self.seed = int(seed)
        elements = self._elements()
        self.num_elements = len(elements)
        self._moves_in = _row_action(self.rep_in, elements, inverse=False)
        self._moves_out = _row_action(self.rep_out, elements, inverse=True)

    @property
    def exact(self):
        """True when every group element is averaged over (the result is then equivariant)."""
        return self.samples is None

    @property
    def metrics(self):
        # A wrapped compiled model keeps its own loss and metric trackers; the model that trains
        # this wrapper compiles its own. Keras skips a nested Model's the same way, but only when
        # the Model is a direct sublayer: without this they would be reported, never built.
        if isinstance(self.layer, keras.Model):
            return list(self._metrics)
        return super().metrics

    def _elements(self):
        if self.samples is not None:
            return self.group.sample(self.samples, seed=self.seed)
        too_many = (f"GroupAveraged enumerates every element by default, and {self.group!r} has "
                    f"more than {MAX_ENUMERATED}; pass samples=k to average over k sampled "
                    "elements (approximately equivariant).")
        if isinstance(self.group, SymmetricGroup) and math.factorial(self.group.n) > (
                MAX_ENUMERATED):
            raise ValueError(too_many)
        try:
            return self.group.elements(max_order=MAX_ENUMERATED)
        except ValueError:
            raise ValueError(too_many) from None

    def call(self, inputs):
        k = self.num_elements
        trailing = tuple(inputs.shape[1:])
        if math.prod(trailing) != self.rep_in.dim:
            raise ValueError(
                f"GroupAveraged with rep_in={self.rep_in!r} expects {self.rep_in.dim} values per "
                f"example. Received: input shape {(None,) + trailing}"
            )
        flat = ops.reshape(inputs, (-1, self.rep_in.dim))
        moved = _act(flat, self._moves_in, self.rep_in.dim)  # (batch, k, d_in)
        moved = ops.reshape(ops.transpose(moved, (1, 0, 2)), (-1,) + trailing)
        outputs = self.layer(moved)
        out_trailing = tuple(outputs.shape[1:])
        if math.prod(out_trailing) != self.rep_out.dim:
            raise ValueError(
                f"GroupAveraged with rep_out={self.rep_out!r} expects the model to output "
                f"{self.rep_out.dim} values per example. Received: output shape "
                f"{(None,) + out_trailing}"
            )
        outputs = ops.transpose(ops.reshape(outputs, (k, -1, self.rep_out.dim)), (1, 0, 2))
        back = _act(outputs, self._moves_out, self.rep_out.dim, per_element=True)
        # Averaged in the wrapped model's dtype, returned in this layer's compute dtype (a float32
        # model wrapped under mixed_float16 gives float16, as any Keras layer would).
        averaged = ops.mean(back, axis=1)
        return ops.cast(ops.reshape(averaged, (-1,) + out_trailing), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "group": self.group.get_config(),
                "rep_in": self.rep_in.get_config(), "rep_out": self.rep_out.get_config(),
                "samples": self.samples, "seed": self.seed}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # keras.layers.Wrapper.from_config pops "layer" out of the caller's dict: work on a copy.
        return super().from_config(dict(config), custom_objects=custom_objects)


def _row_action(rep, elements, inverse):
    """How each element moves a batch of row vectors: index arrays `(k, d)` for a permutation
    representation (`x[..., p]`), else matrices `(k, d, d)` to right-multiply, `rho(g)^T`."""
    if rep.is_permutation:
        perms = np.stack([rep.permutation(g) for g in elements])
        return np.argsort(perms, axis=1).astype("int32") if inverse else perms.astype("int32")
    matrices = [rep.matrix(g) for g in elements]
    if inverse:
        matrices = [np.linalg.inv(m) for m in matrices]
    return np.stack([m.T for m in matrices])


def _act(x, moves, dim, per_element=False):
    """`(batch, d)` -> `(batch, k, d)`, every element applied; with `per_element`, x is already
    `(batch, k, d)` and element i moves slice i."""
    k = len(moves)
    if moves.ndim == 2:  # permutations, gathered in one take
        if not per_element:
            return ops.take(x, moves, axis=1)
        index = (np.arange(k)[:, None] * dim + moves).reshape(-1)
        gathered = ops.take(ops.reshape(x, (-1, k * dim)), index, axis=1)
        return ops.reshape(gathered, (-1, k, dim))
    matrices = ops.convert_to_tensor(moves, dtype=x.dtype)
    return ops.einsum("bkj,kji->bki" if per_element else "bj,kji->bki", x, matrices)
