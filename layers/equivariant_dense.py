"""EquivariantDense: a Dense layer whose kernel and bias commute with a group's action."""

import math

import keras
import numpy as np
from keras import ops

from eqzoo.layers.equivariant_basis import leading_shape
from eqzoo.layers.lie_basis import commutant_basis, invariant_basis
from eqzoo.layers.representations import rep_from_config
from eqzoo.layers.structured_dense import StructuredDense

INIT_SCALINGS = ("match", "project")


@keras.saving.register_keras_serializable(package="eqzoo")
class EquivariantDense(StructuredDense):
    """Dense layer equivariant under a group: `f(rho_in(g) x) = rho_out(g) f(x)`.

    `y = activation(x @ W + b)` with the kernel in the commutant, `rho_in(g)^T W = W rho_out(g)^T`
    for every `g` (the row-vector form of `rho_out(g) W^T = W^T rho_in(g)`), and an invariant bias,
    `rho_out(g) b = b`. Both are stored as coefficients of a basis (see
    `layers.equivariant_basis`), so the layer has `dim(commutant) + dim(invariants)` parameters:
    for `S_n` on n points, DeepSets' `W = lambda I + gamma 11^T` and a constant bias (3 values);
    for `C_n`, circulants (n + 1); for `D_n`, symmetric circulants (n // 2 + 2). An elementwise
    activation keeps equivariance when `rho_out` permutes coordinates.

    Continuous groups (`groups.LieGroup`: SO(n), O(n), Lorentz, Sp(2m), products): the kernel
    solves `drho_in(A)^T W = W drho_out(A)^T` for the Lie algebra and the discrete generators'
    constraint, block by block over the representations' summands, in closed form for tensors
    of the named groups (see `layers.lie_basis`): for SO(3), `V -> V` has 1 parameter (a scale)
    and `T(2) -> T(2)` 3 (identity, transpose, trace). No pointwise activation keeps
    equivariance there: use `GatedNonlinearity` or `NormNonlinearity`.

    Inputs are flat, `(..., rep_in.dim)`, or shaped as `rep_in.shape`: `(..., n, c_in)` for a
    `ChannelRep` of points, `(..., n, n)` for n x n matrices `V * V` (adjacency or distance
    matrices), `(..., n, n, c_in)` for `(V * V).channels(c_in)`; outputs then are shaped as
    `rep_out.shape` (e.g. `(..., n, n, c_out)`, `(..., n, c_out)`, or `(..., dim)` for a
    `TrivialRep` of invariant outputs), and flat inputs give flat outputs. For S_n on matrices,
    points and invariants the kernel is never assembled: the layer pools and broadcasts (see
    `PartitionBasis`), so an n x n -> n x n layer costs O(n^2) per channel pair, not O(n^4).

    Args:
        rep_in: the `Representation` carried by the input (or its `get_config()` dict).
        rep_out: the representation of the output; None means `rep_in`.
        symmetric: also require `W = W^T` (needs rep_out == rep_in, orthogonal). With
            `TrivialGroup(n)` this is `SymmetricDense`: n(n+1)/2 kernel values.
        activation, use_bias, bias_initializer, kernel_regularizer, bias_regularizer: as for
            `keras.layers.Dense`; the regularizers see the assembled kernel and bias.
        kernel_initializer: called with the full `(rep_in.dim, rep_out.dim)` shape; the layer
            starts from its projection onto the commutant, scaled as `init_scaling` says.
        init_scaling: `"match"` (default) scales the projection by `sqrt(n_in n_out / dim)`, so
            the kernel's mean square matches the initializer's (a bare projection would shrink
            it by that factor, e.g. n for circulants); `"project"` keeps the bare projection,
            as EMLP's layers start (Finzi et al., 2021). For continuous groups the commutant is
            tiny beside `n_in n_out` (a 384-wide O(3) layer: a few hundred of 147,456), and the
            matched start is then many times larger than EMLP's: `EMLPBlock` uses `"project"`.

    Input shape:
        `(batch_size, ..., rep_in.dim)` (flat), or `(batch_size, ...) + rep_in.shape`, e.g.
        `(batch_size, n, c_in)` for `DefiningRep(SymmetricGroup(n)).channels(c_in)`.

    Output shape:
        `(batch_size, ..., rep_out.dim)` for flat inputs, else `(batch_size, ...) +
        rep_out.shape`, e.g. `(batch_size, n, c_out)`.

    Example:

    >>> from eqzoo.layers.groups import SymmetricGroup
    >>> from eqzoo.layers.representations import DefiningRep
    >>> rep = DefiningRep(SymmetricGroup(5)).channels(3)
    >>> layer = EquivariantDense(rep, DefiningRep(SymmetricGroup(5)).channels(4))
    >>> tuple(layer(np.ones((2, 5, 3), "float32")).shape)
    (2, 5, 4)
    >>> layer.count_params()  # Lambda and Gamma (3 x 4 each) + one bias per output channel
    28
    """

    stored_name = "coefficients"

    def __init__(self, rep_in, rep_out=None, symmetric=False, activation=None, use_bias=True,
                 init_scaling="match", **kwargs):
        if "units" in kwargs:
            raise ValueError(
                "EquivariantDense takes its output width from `rep_out` (its dim), not from "
                f"`units`. Received: units={kwargs['units']!r}"
            )
        super().__init__(units=None, activation=activation, use_bias=use_bias, **kwargs)
        self.rep_in = rep_from_config(rep_in)
        self.rep_out = self.rep_in if rep_out is None else rep_from_config(rep_out)
        self.symmetric = bool(symmetric)
        if init_scaling not in INIT_SCALINGS:
            raise ValueError(f"EquivariantDense init_scaling must be one of {INIT_SCALINGS}. "
                             f"Received: init_scaling={init_scaling!r}")
        self.init_scaling = init_scaling
        self.basis = commutant_basis(self.rep_in, self.rep_out, self.symmetric)
        if self.basis.dim == 0:
            raise ValueError(
                f"The only linear map from {self.rep_in!r} to {self.rep_out!r} that is equivariant"
                f"{' and symmetric' if symmetric else ''} is zero, so EquivariantDense would have "
                "nothing to learn. Check the representations."
            )
        self.bias_basis = invariant_basis(self.rep_out)

    # ---- StructuredDense hooks ---------------------------------------------------------------

    def _stored_shape(self, input_dim):
        return (self.basis.dim,)

    def _assemble(self, stored):
        return self.basis.assemble(stored)

    def _stored_from_kernel(self, kernel):
        return self.basis.project(ops.convert_to_tensor(kernel, dtype=self._stored.dtype))

    def _initial_stored(self, initializer, dtype):
        # A bare projection of the draw would shrink the kernel's mean square by dim / (n_in
        # n_out) (e.g. n for circulants); the basis may also draw a smaller shape (see
        # `PartitionBasis.initial_coefficients`).
        scale = (math.sqrt(self.input_dim * self.output_dim / self.basis.dim)
                 if self.init_scaling == "match" else 1.0)
        return self.basis.initial_coefficients(initializer, scale, dtype=dtype)

    def _kernel_output_dim(self, input_dim):
        if input_dim != self.rep_in.dim:
            raise ValueError(
                f"EquivariantDense with rep_in={self.rep_in!r} expects a flat input width of "
                f"{self.rep_in.dim}. Received: input last dimension={input_dim}."
            )
        return self.rep_out.dim

    def _check_kernel(self, matrix, atol):
        kernel = ops.convert_to_tensor(matrix, dtype="float64")
        nearest = ops.convert_to_numpy(self.basis.assemble(self.basis.project(kernel)))
        error = float(np.max(np.abs(matrix - nearest), initial=0.0))
        if error > atol:
            raise ValueError(
                f"EquivariantDense can only hold kernels equivariant from {self.rep_in!r} to "
                f"{self.rep_out!r}. Received a matrix at max distance {error:.3g} from the "
                f"nearest one, above atol={atol:g}."
            )

    # ---- Keras layer anatomy -----------------------------------------------------------------

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self._points_layout = self._layout(input_shape)
        # The kernel acts on the flattened input, whatever its layout.
        super().build(input_shape[:1] + (self.rep_in.dim,))
        trailing = self.rep_in.shape if self._points_layout else (self.rep_in.dim,)
        axes = {-i - 1: size for i, size in enumerate(reversed(trailing))}
        self.input_spec = keras.layers.InputSpec(min_ndim=len(trailing) + 1, axes=axes)

    def _build_bias(self):
        self._bias_coefficients = None
        # With no invariant vector in rho_out, the only equivariant bias is 0: nothing to store.
        if self.use_bias and self.bias_basis.dim > 0:
            self._bias_coefficients = self.add_weight(
                name="bias_coefficients",
                shape=(self.bias_basis.dim,),
                initializer=_ProjectedInitializer(self.bias_basis, self.bias_initializer),
                regularizer=(
                    _AssembledBiasRegularizer(self.bias_basis, self.bias_regularizer)
                    if self.bias_regularizer is not None else None
                ),
            )

    def _layout(self, input_shape):
        """True for inputs shaped as `rep_in.shape` (e.g. `(..., n, c)` for a ChannelRep, `(..., n,
        n)` for `V * V`), False for flat ones; else an error."""
        if input_shape[-1:] == (self.rep_in.dim,):
            return False
        rank = len(self.rep_in.shape)
        if rank > 1 and input_shape[-rank:] == self.rep_in.shape:
            return True
        expected = " or ".join(str(s) for s in dict.fromkeys([(self.rep_in.dim,),
                                                              self.rep_in.shape]))
        raise ValueError(
            f"EquivariantDense with rep_in={self.rep_in!r} expects inputs whose trailing shape "
            f"is {expected}. Received: input_shape={input_shape}"
        )

    @property
    def bias(self):
        """The assembled, invariant bias vector (None when `use_bias=False`)."""
        if not self.built or not self.use_bias:
            return None
        if self._bias_coefficients is None:
            return ops.zeros((self.output_dim,), dtype=self.variable_dtype)
        return ops.reshape(self.bias_basis.assemble(self._bias_coefficients), (-1,))

    def call(self, inputs):
        trailing = len(self.rep_in.shape) if self._points_layout else 1
        lead = leading_shape(inputs, trailing)
        flat = ops.reshape(inputs, lead + (self.input_dim,)) if self._points_layout else inputs
        outputs = self.basis.apply(flat, self._stored)
        if self._bias_coefficients is not None:
            outputs = ops.add(outputs, self.bias)
        if self._points_layout:
            outputs = ops.reshape(outputs, lead + self._output_shape())
        return self.activation(outputs)

    def _output_shape(self):
        return self.rep_out.shape if self._points_layout else (self.rep_out.dim,)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        points = self._layout(input_shape)
        trailing = len(self.rep_in.shape) if points else 1
        out = self.rep_out.shape if points else (self.rep_out.dim,)
        return input_shape[: len(input_shape) - trailing] + out

    def to_dense(self):
        """A plain Keras layer with this kernel and bias: `Dense` for flat inputs, `EinsumDense`
        contracting the `(n, c_in)` axes for points-with-channels inputs."""
        if not self.built or not self._points_layout:
            return super().to_dense()
        out = self._output_shape()
        axes_in, axes_out = "abcd"[:len(self.rep_in.shape)], "wxyz"[:len(out)]
        equation = f"...{axes_in},{axes_in}{axes_out}->...{axes_out}"
        per_channel = self.use_bias and len(out) == 2 and self._bias_same_at_every_point()
        if per_channel:
            # One bias per channel, broadcast over the points: exact, and TFLite's converter
            # rejects a bias over (points, 1) ("'tf.Transpose' op x should be of the same rank").
            bias_axes = axes_out[-1]
        else:
            bias_axes = axes_out if self.use_bias else None
        dense = keras.layers.EinsumDense(
            equation, output_shape=out, activation=self.activation, name=self.name,
            bias_axes=bias_axes, dtype=self.dtype_policy,
        )
        dense.build((None,) + self.rep_in.shape)
        weights = [ops.convert_to_numpy(self.kernel).reshape(self.rep_in.shape + out)]
        if self.use_bias:
            bias = ops.convert_to_numpy(self.bias).reshape(out)
            weights.append(bias[0] if per_channel else bias)
        dense.set_weights(weights)
        return dense

    def _bias_same_at_every_point(self):
        """Whether every invariant bias of a points-with-channels output is equal at all points
        (a group transitive on the points), so the bias is one value per channel."""
        if self.bias_basis.dim == 0:  # no invariant vector: the bias is 0 everywhere
            return True
        vectors = self.bias_basis.dense().reshape((self.bias_basis.dim,) + self.rep_out.shape)
        return bool(np.all(vectors == vectors[:, :1]))

    def get_config(self):
        config = super().get_config()
        config.pop("units")
        return {**config, "rep_in": self.rep_in.get_config(),
                "rep_out": self.rep_out.get_config(), "symmetric": self.symmetric,
                "init_scaling": self.init_scaling}


class _ProjectedInitializer:
    """Draws a full-shape tensor and projects it onto the basis."""

    def __init__(self, basis, initializer):
        self.basis, self.initializer = basis, initializer

    def __call__(self, shape, dtype=None):
        del shape
        return self.basis.initial_coefficients(self.initializer, 1.0, dtype=dtype)


class _AssembledBiasRegularizer:
    def __init__(self, basis, regularizer):
        self.basis, self.regularizer = basis, regularizer

    def __call__(self, coefficients):
        return self.regularizer(ops.reshape(self.basis.assemble(coefficients), (-1,)))
