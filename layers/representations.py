"""Representations `rho: G -> GL(d)` of matrix groups: how a group element moves a feature vector.

A group element is its matrix in the group's defining representation (see `layers.groups`);
a representation maps it to the `d x d` matrix acting on column vectors, `x -> rho(g) x`. On a
batch of row vectors (the Keras layout) that is `x @ rho(g)^T`, which `act` applies.

Layouts: a feature vector is flat, of length `dim`. `rep.channels(k)` is k copies of `rep`
stored point-major, i.e. an `(rep.dim, k)` array flattened row-major, so a DeepSets batch
`(batch, n, k)` and its flat view `(batch, n * k)` carry the same representation
`rho(g) (x) I_k`. `DirectSum(a, b)` concatenates: the first `a.dim` entries carry `a`.

Tensor representations: `rep_a * rep_b` is the tensor product `rep_a (x) rep_b` (as in EMLP,
`V * V`), `rho(g) = rho_a(g) (x) rho_b(g)`, laid out as an `(a.dim, b.dim)` array flattened
row-major: for the points of a permutation group, `V * V` carries n x n matrices (adjacency or
distance matrices), moved by `X -> P X P^T`. `SymmetricSquare(V)` and `AntisymmetricSquare(V)`
are its symmetric and antisymmetric parts, stored packed: the entries `X[i, j]` with `i <= j`
(`i < j` for the antisymmetric part) in `np.triu_indices` order. Sym^2 of a permutation
representation permutes unordered pairs, so it is again one; Lambda^2 permutes with signs.

Continuous groups (`groups.LieGroup`): every representation also knows its Lie algebra action
`drho(A)`: A on V, -A^T on the dual V* (`rep.dual()`, `rho(g)^-T`), block diagonal on direct
sums, `drho_1(A) (x) I + I (x) drho_2(A)` on products. Building reps: `V + W` (`DirectSum`),
`k * V` (k copies, a direct sum), `V * W` (`TensorProduct`), `V ** k`, `T(p, q, G)` =
`V^(x p) (x) V*^(x q)`, `ParityRep(G)` (the determinant: pseudo-scalars; `ParityRep(G) * V`
are pseudo-vectors) and `FactorRep(G1 * G2, rep)` (a factor's representation, of the product).
Input layout: a rank-k tensor of a d-dimensional V is `(batch, d, ..., d)`, or flattened
row-major `(batch, d**k)`; a direct sum is the concatenation of its flattened summands, in
order. So for O(3), `5 * TrivialRep(G) + 5 * V` takes `(batch, 20)`: 5 masses, then 5
positions `(x, y, z)` each, and `V ** 2` takes `(batch, 3, 3)` or `(batch, 9)`.

numpy only, but importing it loads Keras through `eqzoo/layers/__init__.py` (`layers.groups`
says why that stays so).
"""

import functools
import math
import re

import numpy as np

from eqzoo.layers.groups import (
    GROUP_TYPES,
    FiniteGroup,
    ImageDihedralGroup,
    ImageRotationGroup,
    PermutationGroup,
    ProductGroup,
    group_from_config,
    permutation_matrix,
)
from eqzoo.layers.plane_groups import point_group
from eqzoo.layers.point_clouds import PointCloudRep

__all__ = [
    "AntisymmetricSquare",
    "ChannelRep",
    "DefiningRep",
    "DirectSum",
    "DualRep",
    "FactorRep",
    "ImageRegularRep",
    "ImageRep",
    "ParityRep",
    "RegularRep",
    "Representation",
    "SymmetricSquare",
    "T",
    "TensorProduct",
    "TrivialRep",
    "parse_rep",
    "rep_from_config",
    "uniform_rep",
]


class Representation:
    """Base class: a group, a dimension, and `rho(g)` for every group element `g`."""

    is_permutation = False  # every rho(g) is a permutation matrix

    def __init__(self, group, dim):
        if not isinstance(group, GROUP_TYPES):
            raise ValueError(
                f"{type(self).__name__} needs a group (e.g. SymmetricGroup(4) or SO(3)). "
                f"Received: {group!r}"
            )
        self.group = group
        self.dim = int(dim)
        self.shape = (self.dim,)

    def __call__(self, g):
        return self.matrix(g)

    def matrix(self, g):
        """`rho(g)`, a `(dim, dim)` numpy array acting on column vectors."""
        return permutation_matrix(self.permutation(g))

    def permutation(self, g):
        """For a permutation representation: the index array `p` with `(rho(g) x)[i] = x[p[i]]`."""
        raise ValueError(f"{self!r} is not a permutation representation.")

    def generator_matrices(self):
        return [self.matrix(g) for g in self.group.generators]

    def drho(self, a):
        """`d rho(A)`, the Lie algebra action: `d/dt rho(expm(t A))` at t = 0, `(dim, dim)`."""
        if self.is_permutation:  # a permutation representation of a finite group: no algebra
            return np.zeros((self.dim, self.dim))
        raise ValueError(f"{self!r} does not define its Lie algebra action.")

    def algebra_matrices(self):
        """`d rho(A)` for every element of the group's Lie algebra basis (none if finite)."""
        return [self.drho(a) for a in self.group.lie_algebra]

    def dual(self):
        """The dual representation `rho(g)^-T` (itself when every `rho(g)` is orthogonal)."""
        return self if self.is_permutation else DualRep(self)

    def __add__(self, other):
        """`rep_a + rep_b`: the direct sum (see `DirectSum`)."""
        if not isinstance(other, Representation):
            return NotImplemented
        return DirectSum(self, other)

    def __rmul__(self, k):
        """`k * rep`: k copies of `rep`, a direct sum laid out copy after copy."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            return NotImplemented
        if k < 1:
            raise ValueError(f"k * rep needs a positive integer k. Received: k={k!r}")
        return self if k == 1 else DirectSum(*[self] * int(k))

    def __pow__(self, k):
        """`rep ** k`: the k-fold tensor product (`rep ** 0` is the trivial representation)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"rep ** k needs an integer k >= 0. Received: k={k!r}")
        if k == 0:
            return TrivialRep(self.group)
        return self if k == 1 else TensorProduct(*[self] * int(k))

    def _act_flat(self, g, flat):
        return flat @ self.matrix(g).T.astype(flat.dtype)

    def character(self, g):
        """`trace rho(g)`; for a permutation representation, the number of fixed points."""
        if self.is_permutation:
            return int(np.sum(self.permutation(g) == np.arange(self.dim)))
        return float(np.trace(self.matrix(g)))

    def channels(self, k):
        """k copies of this representation, stored point-major as a `shape + (k,)` array."""
        return ChannelRep(self, k)

    def __mul__(self, other):
        """`rep_a * rep_b`: the tensor product `rep_a (x) rep_b` (see `TensorProduct`); `rep * k`
        for an integer k is k copies, as `k * rep`."""
        if isinstance(other, (int, np.integer)) and not isinstance(other, bool):
            return self.__rmul__(other)
        if not isinstance(other, Representation):
            return NotImplemented
        return TensorProduct(self, other)

    def act(self, g, x):
        """`rho(g)` applied to a numpy batch whose trailing axes are `(dim,)` or `shape`."""
        x = np.asarray(x)
        if x.shape[-1:] == (self.dim,):
            trailing = 1
        elif len(self.shape) > 1 and x.shape[-len(self.shape):] == self.shape:
            trailing = len(self.shape)
        else:
            expected = " or ".join(str(s) for s in dict.fromkeys([(self.dim,), self.shape]))
            raise ValueError(
                f"{self!r} acts on arrays whose trailing shape is {expected}. "
                f"Received: shape={x.shape}"
            )
        flat = x.reshape(x.shape[: x.ndim - trailing] + (self.dim,))
        if self.is_permutation:
            moved = flat[..., self.permutation(g)]
        else:
            moved = self._act_flat(np.asarray(g, dtype=np.float64), flat)
        return moved.reshape(x.shape)

    @property
    def key(self):
        return (type(self).__name__, self.group.key)

    def __eq__(self, other):
        return isinstance(other, Representation) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        return f"{type(self).__name__}({self.group!r})"

    def get_config(self):
        return {"rep": type(self).__name__, "group": self.group.get_config()}


class DefiningRep(Representation):
    """The group's own matrices; for a permutation group, its permutation representation.

    Example:

    >>> from eqzoo.layers.groups import CyclicGroup
    >>> DefiningRep(CyclicGroup(4)).permutation(CyclicGroup(4).generators[0]).tolist()
    [1, 2, 3, 0]
    """

    def __init__(self, group):
        super().__init__(group, group.dim if isinstance(group, GROUP_TYPES) else 0)
        self.is_permutation = isinstance(group, PermutationGroup)

    def matrix(self, g):
        return np.asarray(g, dtype=np.float64)

    def drho(self, a):
        return np.asarray(a, dtype=np.float64)

    def dual(self):
        return self if self.group.orthogonal else DualRep(self)

    def permutation(self, g):
        if not self.is_permutation:
            return super().permutation(g)  # raises: not a permutation representation
        return np.argmax(np.asarray(g), axis=1)


class TrivialRep(Representation):
    """`rho(g) = I` on `dim` invariant features (e.g. the output of a set classifier)."""

    is_permutation = True

    def __init__(self, group, dim=1):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"TrivialRep needs a positive integer dim. Received: dim={dim!r}")
        super().__init__(group, dim)

    def permutation(self, g):
        return np.arange(self.dim)

    @property
    def key(self):
        return super().key + (self.dim,)

    def __repr__(self):
        return f"TrivialRep({self.group!r}, dim={self.dim})"

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


class RegularRep(Representation):
    """G acting on functions on G by left translation: `rho(g) e_h = e_{gh}`, dim `|G|`."""

    is_permutation = True

    def __init__(self, group):
        if not isinstance(group, FiniteGroup):
            raise ValueError(f"RegularRep needs a finite group (its dim is the group's order). "
                             f"Received: {group!r}")
        super().__init__(group, group.order)

    def permutation(self, g):
        # rho(g) e_h = e_{gh} means (rho(g) x)[gh] = x[h], i.e. p[gh] = h.
        p = np.empty(self.dim, dtype=np.int64)
        for h_index, h in enumerate(self.group.elements()):
            p[self.group.index(np.asarray(g) @ h)] = h_index
        return p


class ChannelRep(Representation):
    """k copies of `base`, `rho(g) (x) I_k`, laid out as a `base.shape + (k,)` array.

    For points `(n, k)`; for n x n matrices (`(V * V).channels(k)`), `(n, n, k)`.
    """

    def __init__(self, base, channels):
        if not isinstance(base, Representation):
            raise ValueError(f"ChannelRep needs a Representation as base. Received: {base!r}")
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or (
                channels < 1):
            raise ValueError(
                f"ChannelRep needs a positive integer number of channels. Received: "
                f"channels={channels!r}"
            )
        super().__init__(base.group, base.dim * int(channels))
        self.base = base
        self.num_channels = int(channels)
        self.shape = tuple(base.shape) + (self.num_channels,)
        self.is_permutation = base.is_permutation

    def matrix(self, g):
        if self.is_permutation:
            return super().matrix(g)
        return np.kron(self.base.matrix(g), np.eye(self.num_channels))

    def drho(self, a):
        return np.kron(self.base.drho(a), np.eye(self.num_channels))

    def dual(self):
        return self if self.is_permutation else self.base.dual().channels(self.num_channels)

    def permutation(self, g):
        k = self.num_channels
        return (self.base.permutation(g)[:, None] * k + np.arange(k)).ravel()

    @property
    def key(self):
        return ("ChannelRep", self.base.key, self.num_channels)

    def __repr__(self):
        return f"{self.base!r}.channels({self.num_channels})"

    def get_config(self):
        return {"rep": "ChannelRep", "base": self.base.get_config(), "channels": self.num_channels}


class ImageRep(ChannelRep):
    """The pixels of an `(height, width, channels)` image, moved by a group of the pixel grid.

    The same matrices as `DefiningRep(group).channels(channels)` (pixels row-major, channels
    innermost), laid out as the image itself, so `act`, `equivariance_error` and `GroupAveraged`
    take `(batch, height, width, channels)` batches, e.g. digits' `(batch, 8, 8, 1)`.

    Example:

    >>> from eqzoo.layers.groups import ImageDihedralGroup
    >>> ImageRep(ImageDihedralGroup(8, 8), channels=1).shape
    (8, 8, 1)
    """

    def __init__(self, group, channels=1):
        if not hasattr(group, "height") or not hasattr(group, "width"):
            raise ValueError(
                "ImageRep needs a group acting on an image's pixel grid, e.g. "
                f"ImageDihedralGroup(8, 8). Received: {group!r}"
            )
        super().__init__(DefiningRep(group), channels)
        self.shape = (group.height, group.width, self.num_channels)

    @property
    def key(self):
        return ("ImageRep", self.group.key, self.num_channels)

    def __repr__(self):
        return f"ImageRep({self.group!r}, channels={self.num_channels})"

    def get_config(self):
        return {"rep": "ImageRep", "group": self.group.get_config(),
                "channels": self.num_channels}


class ImageRegularRep(Representation):
    """G-CNN feature maps of p4 or p4m: pixels x orientations x channels, `(h, w, |G| * c)`.

    `(g . F)(u, h) = F(g^{-1} u, g^{-1} h)`: the pixels move as in `ImageRep` (np.rot90 and
    np.flip of the map) and the orientation axis by the regular representation of the point
    group, C_4 for p4 (`group` an `ImageRotationGroup`, 4 orientations) or D_4 for p4m
    (`ImageDihedralGroup`, 8). Layout: channel `j * c + i` of a pixel is orientation `j` of
    channel `i` (orientation-major, so a reshape to `(h, w, |G|, c)` separates them); orientation
    `j = 4 f + k` is the filter transformed by `np.rot90(flip^f(filter), k)` (see
    `layers.plane_groups`). The grid must be square: a quarter turn maps no other to itself.
    `size` is the map's own side when it differs from the group's grid, e.g. after padding
    "valid", strides or pooling: the same group element then moves the smaller map (rotated
    about its own centre), so a model from 9 x 9 images to 7 x 7 maps is checked with one group.

    Example:

    >>> from eqzoo.layers.groups import ImageRotationGroup
    >>> ImageRegularRep(ImageRotationGroup(8, 8), channels=3).shape
    (8, 8, 12)
    """

    is_permutation = True

    def __init__(self, group, channels=1, size=None):
        names = {ImageRotationGroup: "p4", ImageDihedralGroup: "p4m"}
        if type(group) not in names or group.height != group.width:
            raise ValueError(
                "ImageRegularRep needs the pixel group of a square grid: ImageRotationGroup(n, n) "
                f"for p4 or ImageDihedralGroup(n, n) for p4m. Received: {group!r}"
            )
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or (
                channels < 1):
            raise ValueError("ImageRegularRep needs a positive integer number of channels. "
                             f"Received: channels={channels!r}")
        if size is not None and (isinstance(size, bool) or not isinstance(
                size, (int, np.integer)) or size < 1):
            raise ValueError("ImageRegularRep needs size None (the group's grid) or a positive "
                             f"integer side. Received: size={size!r}")
        self.point_group = point_group(names[type(group)])
        self.num_channels = int(channels)
        self.size = group.height if size is None else int(size)
        orientations = self.point_group.order
        super().__init__(group, self.size * self.size * orientations * self.num_channels)
        self.shape = (self.size, self.size, orientations * self.num_channels)

    def permutation(self, g):
        n, c = self.group.height, self.num_channels
        j = self.point_group.identify(g, n, n)
        grid = np.arange(self.size * self.size).reshape(self.size, self.size)
        pixels = self.point_group.transform(grid, j).ravel()
        orientations = self.point_group.orientation_permutation(j)
        return (pixels[:, None, None] * (self.point_group.order * c)
                + orientations[None, :, None] * c + np.arange(c)[None, None, :]).ravel()

    @property
    def key(self):
        return ("ImageRegularRep", self.group.key, self.num_channels, self.size)

    def __repr__(self):
        size = "" if self.size == self.group.height else f", size={self.size}"
        return f"ImageRegularRep({self.group!r}, channels={self.num_channels}{size})"

    def get_config(self):
        return {"rep": "ImageRegularRep", "group": self.group.get_config(),
                "channels": self.num_channels, "size": self.size}


class DirectSum(Representation):
    """`rho_1(g) (+) rho_2(g) (+) ...`: block diagonal, the summands' features concatenated.

    Also written `rep_1 + rep_2` and, for copies, `k * rep`. Nested sums are flattened, so
    `(a + b) + c` and `a + (b + c)` are one `DirectSum(a, b, c)` with one layout.
    """

    def __init__(self, *summands):
        if not summands or not all(isinstance(r, Representation) for r in summands):
            raise ValueError(f"DirectSum needs Representations. Received: {summands!r}")
        groups = {r.group for r in summands}
        if len(groups) > 1:
            raise ValueError(
                "All summands of a DirectSum must represent the same group. Received "
                f"representations of {sorted(map(repr, groups))}."
            )
        flat = []
        for r in summands:
            flat.extend(r.summands if isinstance(r, DirectSum) else [r])
        super().__init__(flat[0].group, sum(r.dim for r in flat))
        self.summands = tuple(flat)
        self.is_permutation = all(r.is_permutation for r in flat)

    def _blocks(self, matrices):
        out = np.zeros((self.dim, self.dim))
        start = 0
        for r, m in zip(self.summands, matrices, strict=True):
            out[start:start + r.dim, start:start + r.dim] = m
            start += r.dim
        return out

    def matrix(self, g):
        if self.is_permutation:
            return super().matrix(g)
        return self._blocks([r.matrix(g) for r in self.summands])

    def drho(self, a):
        return self._blocks([r.drho(a) for r in self.summands])

    def dual(self):
        return self if self.is_permutation else DirectSum(*[r.dual() for r in self.summands])

    def _act_flat(self, g, flat):
        parts, start = [], 0
        for r in self.summands:
            part = flat[..., start:start + r.dim]
            parts.append(part[..., r.permutation(g)] if r.is_permutation else r._act_flat(g, part))
            start += r.dim
        return np.concatenate(parts, axis=-1)

    def permutation(self, g):
        offsets = np.cumsum([0] + [r.dim for r in self.summands[:-1]])
        return np.concatenate(
            [r.permutation(g) + o for r, o in zip(self.summands, offsets, strict=True)]
        )

    @property
    def key(self):
        return ("DirectSum",) + tuple(r.key for r in self.summands)

    def __repr__(self):
        runs = []  # consecutive equal summands, written k*rep
        for r in self.summands:
            if runs and runs[-1][0] == r:
                runs[-1][1] += 1
            else:
                runs.append([r, 1])
        return " + ".join(f"{k}*{r!r}" if k > 1 else repr(r) for r, k in runs)

    def get_config(self):
        return {"rep": "DirectSum", "summands": [r.get_config() for r in self.summands]}


class TensorProduct(Representation):
    """`rho_a(g) (x) rho_b(g) (x) ...` on `(a.dim, b.dim, ...)` arrays; `X -> rho_a X rho_b^T`.

    Also written `rep_a * rep_b`, and `V ** k` for powers; nested products are flattened, so
    `(V * V) * V` is `V ** 3`, laid out as a `(d, d, d)` array (or flattened row-major, `d**3`).
    For the points of a permutation group, `V * V` carries n x n matrices and permutes their
    entries, `(P X P^T)[i, j] = X[p[i], p[j]]`. The Lie algebra acts by
    `drho_a(A) (x) I + I (x) drho_b(A)`.

    Example:

    >>> from eqzoo.layers.groups import SymmetricGroup
    >>> V = DefiningRep(SymmetricGroup(4))
    >>> (V * V).shape, (V * V).dim
    ((4, 4), 16)
    """

    def __init__(self, *factors):
        for i, rep in enumerate(factors):
            if not isinstance(rep, Representation):
                raise ValueError(f"TensorProduct needs Representations. Received: factor {i} "
                                 f"= {rep!r}")
        if len(factors) < 2:
            raise ValueError(f"TensorProduct needs at least two factors. Received: {factors!r}")
        for rep in factors[1:]:
            if rep.group != factors[0].group:
                raise ValueError(
                    "All factors of a TensorProduct must represent the same group. Received "
                    f"representations of {factors[0].group!r} and {rep.group!r}."
                )
        flat = []
        for r in factors:
            flat.extend(r.factors if isinstance(r, TensorProduct) else [r])
        super().__init__(flat[0].group, int(np.prod([r.dim for r in flat])))
        self.factors = tuple(flat)
        self.shape = tuple(r.dim for r in flat)
        self.is_permutation = all(r.is_permutation for r in flat)

    def matrix(self, g):
        if self.is_permutation:
            return super().matrix(g)
        return functools.reduce(np.kron, [r.matrix(g) for r in self.factors])

    def drho(self, a):
        total = np.zeros((self.dim, self.dim))
        for i, r in enumerate(self.factors):
            parts = [np.eye(f.dim) for f in self.factors]
            parts[i] = r.drho(a)
            total += functools.reduce(np.kron, parts)
        return total

    def dual(self):
        return self if self.is_permutation else TensorProduct(*[r.dual() for r in self.factors])

    def _act_flat(self, g, flat):
        # One factor's matrix per axis: d^k x k work, not the (d^k)^2 Kronecker product.
        lead = flat.shape[:-1]
        x = flat.reshape(lead + self.shape)
        for axis, r in enumerate(self.factors):
            m = r.matrix(g).astype(flat.dtype)
            x = np.moveaxis(np.tensordot(x, m, axes=([len(lead) + axis], [1])), -1,
                            len(lead) + axis)
        return x.reshape(flat.shape)

    def permutation(self, g):
        index = np.zeros((), dtype=np.int64)
        for r in self.factors:
            index = (index[..., None] * r.dim + r.permutation(g))
        return index.ravel()

    @property
    def key(self):
        return ("TensorProduct",) + tuple(r.key for r in self.factors)

    def __repr__(self):
        return "(" + " * ".join(repr(r) for r in self.factors) + ")"

    def get_config(self):
        return {"rep": "TensorProduct", "factors": [r.get_config() for r in self.factors]}


class DualRep(Representation):
    """The dual (contragredient) representation `rho(g)^-T`, `drho(A) = -drho_base(A)^T`.

    Made by `rep.dual()`, which returns `rep` itself when every `rho(g)` is orthogonal (O(n),
    SO(n), permutations): then `rho(g)^-T = rho(g)`. For the Lorentz group, `V.dual()` is the
    covariant vectors, moved by `eta g eta`.

    Example:

    >>> from eqzoo.layers.groups import LorentzGroup, O
    >>> DefiningRep(O(3)).dual() == DefiningRep(O(3))
    True
    >>> DefiningRep(LorentzGroup()).dual()
    DualRep(DefiningRep(O(1,3)))
    """

    def __init__(self, base):
        if not isinstance(base, Representation):
            raise ValueError(f"DualRep needs a Representation. Received: {base!r}")
        super().__init__(base.group, base.dim)
        self.base = base
        self.shape = base.shape

    def matrix(self, g):
        return np.linalg.inv(self.base.matrix(g)).T

    def drho(self, a):
        return -self.base.drho(a).T

    def dual(self):
        return self.base

    @property
    def key(self):
        return ("DualRep", self.base.key)

    def __repr__(self):
        return f"DualRep({self.base!r})"

    def get_config(self):
        return {"rep": "DualRep", "base": self.base.get_config()}


class ParityRep(Representation):
    """The determinant `rho(g) = det g` on one feature: pseudo-scalars (`drho(A) = trace A`).

    For O(n) (and O(1,3)) it is +1 on rotations and -1 on reflections; `ParityRep(G) * V` are
    pseudo-vectors (e.g. angular momentum), `ParityRep(G) * V ** 2` pseudo-tensors. For SO(n)
    it is trivial.

    Example:

    >>> from eqzoo.layers.groups import O
    >>> ParityRep(O(3)).matrix(np.diag([-1.0, 1.0, 1.0])).tolist()
    [[-1.0]]
    """

    def __init__(self, group):
        super().__init__(group, 1)

    def matrix(self, g):
        return np.array([[np.linalg.det(np.asarray(g, dtype=np.float64))]])

    def drho(self, a):
        return np.array([[float(np.trace(np.asarray(a, dtype=np.float64)))]])

    def dual(self):
        unimodular = all(abs(np.trace(a)) < 1e-12 for a in self.group.lie_algebra) and all(
            abs(abs(np.linalg.det(h)) - 1.0) < 1e-9 for h in self.group.generators)
        return self if unimodular else DualRep(self)

    def get_config(self):
        return {"rep": "ParityRep", "group": self.group.get_config()}


class FactorRep(Representation):
    """A representation of one factor of a `ProductGroup`, as one of the product.

    `rho(g) = rep(g_i)` with `g_i` the factor's block of `g`; the other factors act trivially.
    Products of these are the product group's tensors: for SO(3) x S_n on n points in R^3,
    `FactorRep(G, DefiningRep(S_n)) * FactorRep(G, DefiningRep(SO(3)))` is laid out `(n, 3)`.

    Args:
        group: the `ProductGroup`.
        rep: a representation of one of its factors.
        factor: the factor's index; None finds the one factor equal to `rep.group`.

    Example:

    >>> from eqzoo.layers.groups import SO, SymmetricGroup
    >>> G = SO(3) * SymmetricGroup(4)
    >>> (FactorRep(G, DefiningRep(SymmetricGroup(4))) * FactorRep(G, DefiningRep(SO(3)))).shape
    (4, 3)
    """

    def __init__(self, group, rep, factor=None):
        if not isinstance(group, ProductGroup):
            raise ValueError(f"FactorRep needs a ProductGroup (e.g. SO(3) * SymmetricGroup(4)). "
                             f"Received: {group!r}")
        if not isinstance(rep, Representation):
            raise ValueError(f"FactorRep needs a Representation of a factor. Received: {rep!r}")
        matches = [i for i, f in enumerate(group.factors) if f == rep.group]
        if factor is None:
            if len(matches) != 1:
                which = "several factors (pass factor=i)" if matches else "not a factor"
                raise ValueError(f"FactorRep: {rep!r} represents {rep.group!r}, which is {which} "
                                 f"of {group!r}.")
            factor = matches[0]
        if factor not in matches:
            raise ValueError(f"FactorRep: factor {factor!r} of {group!r} is not {rep.group!r}, "
                             f"the group of {rep!r}.")
        super().__init__(group, rep.dim)
        self.rep, self.factor = rep, int(factor)
        self.shape = rep.shape
        self.is_permutation = rep.is_permutation

    def matrix(self, g):
        return self.rep.matrix(self.group.block(self.factor, g))

    def drho(self, a):
        return self.rep.drho(self.group.block(self.factor, a))

    def permutation(self, g):
        return self.rep.permutation(self.group.block(self.factor, g))

    def dual(self):
        return self if self.is_permutation else FactorRep(self.group, self.rep.dual(),
                                                          self.factor)

    @property
    def key(self):
        return ("FactorRep", self.group.key, self.factor, self.rep.key)

    def __repr__(self):
        return f"FactorRep({self.group!r}, {self.rep!r})"

    def get_config(self):
        return {"rep": "FactorRep", "group": self.group.get_config(),
                "base": self.rep.get_config(), "factor": self.factor}


def T(p, q=0, group=None):
    """`V^(x p) (x) V*^(x q)`: tensors of type (p, q) of the group's defining representation V.

    `T(0, 0, G)` is the trivial representation, `T(1, 0, G)` is V, `T(2, 0, G)` is `V * V`
    (matrices, `(d, d)`). For an orthogonal group V* is V, so `T(p, q) = T(p + q)`.

    Example:

    >>> from eqzoo.layers.groups import LorentzGroup
    >>> T(1, 1, LorentzGroup()).shape
    (4, 4)
    """
    for name, k in (("p", p), ("q", q)):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"T(p, q, group) needs integers p, q >= 0. Received: {name}={k!r}")
    if not isinstance(group, GROUP_TYPES):
        raise ValueError(f"T(p, q, group) needs a group, e.g. T(2, 0, SO(3)). Received: "
                         f"group={group!r}")
    v = DefiningRep(group)
    factors = [v] * p + [v.dual()] * q
    if not factors:
        return TrivialRep(group)
    return factors[0] if len(factors) == 1 else TensorProduct(*factors)


class _Square(Representation):
    """The (anti)symmetric part of `base (x) base`, stored as the packed upper triangle."""

    offset = 0  # 0: pairs i <= j (symmetric); 1: i < j (antisymmetric)
    sign = 1.0

    def __init__(self, base):
        if not isinstance(base, Representation):
            raise ValueError(f"{type(self).__name__} needs a Representation. Received: {base!r}")
        rows, cols = np.triu_indices(base.dim, k=self.offset)
        super().__init__(base.group, len(rows))
        self.base = base
        self.pairs = (rows, cols)
        position = np.full((base.dim, base.dim), -1, dtype=np.int64)
        position[rows, cols] = np.arange(len(rows))
        self._position = position

    def matrix(self, g):
        # (A X A^T)[p, q] = sum_{i <= j} (A[p, i] A[q, j] + sign A[p, j] A[q, i]) X[i, j],
        # where a diagonal term (i = j, symmetric part only) is counted once.
        if self.is_permutation:
            return super().matrix(g)
        a = self.base.matrix(g)
        (p, q), (i, j) = self.pairs, self.pairs
        m = a[p][:, i] * a[q][:, j] + self.sign * a[p][:, j] * a[q][:, i]
        return np.where((i == j)[None, :], m / 2.0, m)

    def drho(self, a):
        # d/dt of X -> A(t) X A(t)^T is X -> D X + X D^T: the Kronecker sum, restricted.
        d = self.base.drho(a)
        eye = np.eye(self.base.dim)
        full = np.kron(d, eye) + np.kron(eye, d)  # on row-major vec(X)
        rows, cols = self.pairs
        n = self.base.dim
        embed = np.zeros((n * n, self.dim))  # packed coordinates -> the full matrix X
        embed[rows * n + cols, np.arange(self.dim)] = 1.0
        embed[cols * n + rows, np.arange(self.dim)] += self.sign * (rows != cols)
        return full[rows * n + cols] @ embed

    def dual(self):
        return self if self.is_permutation else type(self)(self.base.dual())

    def permutation(self, g):
        if not self.is_permutation:
            return super().permutation(g)  # raises: not a permutation representation
        p = self.base.permutation(g)
        rows, cols = self.pairs
        a, b = p[rows], p[cols]
        return self._position[np.minimum(a, b), np.maximum(a, b)]

    @property
    def key(self):
        return (type(self).__name__, self.base.key)

    def __repr__(self):
        return f"{type(self).__name__}({self.base!r})"

    def get_config(self):
        return {"rep": type(self).__name__, "base": self.base.get_config()}


class SymmetricSquare(_Square):
    """`Sym^2(base)`: symmetric matrices `X = X^T`, `X -> A X A^T`, dim `d (d + 1) / 2`.

    Coordinates are the entries `X[i, j]`, `i <= j`, in `np.triu_indices(d)` order. For a
    permutation representation it permutes unordered pairs `{i, j}`, so it is one too.
    """

    def __init__(self, base):
        super().__init__(base)
        self.is_permutation = base.is_permutation


class AntisymmetricSquare(_Square):
    """`Lambda^2(base)`: antisymmetric matrices `X = -X^T`, `X -> A X A^T`, dim `d (d - 1) / 2`.

    Coordinates are the entries `X[i, j]`, `i < j`, in `np.triu_indices(d, 1)` order. Even for
    a permutation representation the entries move with signs, so this is never a permutation
    representation: its equivariant maps come from the numerical null space.
    """

    offset = 1
    sign = -1.0


_SQUARES = {"SymmetricSquare": SymmetricSquare, "AntisymmetricSquare": AntisymmetricSquare}


def rep_from_config(config):
    """The representation a `get_config()` dict describes (a Representation passes through)."""
    if isinstance(config, Representation):
        return config
    name = config.get("rep") if isinstance(config, dict) else None
    if name == "ChannelRep":
        return ChannelRep(rep_from_config(config["base"]), config["channels"])
    if name == "DirectSum":
        return DirectSum(*[rep_from_config(c) for c in config["summands"]])
    if name == "TensorProduct":
        return TensorProduct(*[rep_from_config(c) for c in config["factors"]])
    if name == "DualRep":
        return DualRep(rep_from_config(config["base"]))
    if name == "ParityRep":
        return ParityRep(group_from_config(config["group"]))
    if name == "FactorRep":
        return FactorRep(group_from_config(config["group"]), rep_from_config(config["base"]),
                         config["factor"])
    if name in _SQUARES:
        return _SQUARES[name](rep_from_config(config["base"]))
    if name == "TrivialRep":
        return TrivialRep(group_from_config(config["group"]), config["dim"])
    if name == "ImageRep":
        return ImageRep(group_from_config(config["group"]), config["channels"])
    if name == "ImageRegularRep":
        return ImageRegularRep(group_from_config(config["group"]), config["channels"],
                               config.get("size"))
    if name == "PointCloudRep":
        return PointCloudRep.from_config(config)
    if name in ("DefiningRep", "RegularRep"):
        return {"DefiningRep": DefiningRep, "RegularRep": RegularRep}[name](
            group_from_config(config["group"]))
    raise ValueError(
        "Unknown representation config: expected a Representation or a dict with 'rep' one of "
        "['AntisymmetricSquare', 'ChannelRep', 'DefiningRep', 'DirectSum', 'DualRep', "
        "'FactorRep', 'ImageRegularRep', 'ImageRep', 'ParityRep', 'PointCloudRep', 'RegularRep', "
        "'SymmetricSquare', 'TensorProduct', 'TrivialRep']. "
        f"Received: {config!r}"
    )


def uniform_rep(channels, group):
    """About `channels` features spread evenly over tensor ranks: EMLP's hidden layers.

    EMLP's heuristic (Finzi et al. 2021, `uniform_rep`): repeatedly take the highest rank r with
    `(r + 1) d^r` features left, and add `d^(r - i)` copies of every rank i <= r, so each rank
    gets about the same number of features. A rank-r tensor is `T(r)` for an orthogonal group;
    otherwise the copies are split over `T(p, r - p)` in binomial proportions (round-robin
    from the middle for the remainder, where EMLP draws them at random). Copies are grouped by
    type, scalars first.

    Example:

    >>> from eqzoo.layers.groups import O
    >>> rep = uniform_rep(384, O(3))  # 102 scalars, 34 vectors, 11 T(2), 3 T(3)
    >>> rep.dim, len(rep.summands)
    (384, 150)
    """
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise ValueError(f"uniform_rep needs a positive integer number of channels. Received: "
                         f"channels={channels!r}")
    d, left, counts = group.dim, int(channels), {}
    while left > 0:
        rank = 0
        while (rank + 2) * d ** (rank + 1) <= left:
            rank += 1
        for i in range(rank + 1):
            counts[i] = counts.get(i, 0) + d ** (rank - i)
        left -= (rank + 1) * d**rank
    orthogonal = group.orthogonal
    parts = []
    for rank in sorted(counts):
        if orthogonal or rank == 0:
            parts.append((counts[rank], T(rank, 0, group)))
            continue
        split = [counts[rank] // 2**rank * math.comb(rank, p) for p in range(rank + 1)]
        middle = sorted(range(rank + 1), key=lambda p: (abs(2 * p - rank), p))
        for i in range(counts[rank] - sum(split)):
            split[middle[i % len(middle)]] += 1
        parts += [(n, T(p, rank - p, group)) for p, n in enumerate(split) if n]
    return DirectSum(*[rep for n, rep in parts for _ in range(n)])


REP_TERM = re.compile(r"^(?:(\d+)\s*\*\s*)?((?:S|V|P|T\d+|T\(\d+,\s*\d+\))(?:\s*\*\*\s*\d+)?"
                      r"(?:\s*\*\s*(?:S|V|P|T\d+|T\(\d+,\s*\d+\))(?:\s*\*\*\s*\d+)?)*)$")


def parse_rep(text, group):
    """A representation from text, for presets and `--set`: `"5*S + 5*V"`, `"T2"`, `"V**2"`.

    Terms are joined by `+`; a term is an optional count `k*` and a product (`*`) of atoms:
    `S` (a scalar), `V` (the defining representation), `P` (`ParityRep`), `Tk` (`V ** k`),
    `T(p,q)` (`T(p, q, group)`), each optionally raised to a power `**k`.

    Example:

    >>> from eqzoo.layers.groups import O
    >>> parse_rep("5*S + 5*V", O(3)).dim
    20
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"parse_rep needs a text such as '5*S + 5*V' or 'T2'. Received: "
                         f"{text!r}")
    terms = []
    for term in text.split("+"):
        match = REP_TERM.match(term.strip())
        if not match:
            raise ValueError(f"Cannot read the representation {text!r}: the term {term.strip()!r}"
                             " is not `[k*]atom[*atom...]` with atoms S, V, P, Tk, T(p,q) (each "
                             "optionally **k).")
        count, product = match.groups()
        factors = []
        for atom in re.split(r"(?<!\*)\*(?!\*)", product.replace(" ", "")):
            base, _, power = atom.partition("**")
            factors.append(_atom(base, group) ** (int(power) if power else 1))
        rep = factors[0] if len(factors) == 1 else TensorProduct(*factors)
        terms.append(int(count) * rep if count else rep)
    return terms[0] if len(terms) == 1 else DirectSum(*terms)


def is_rep_text(text):
    """Whether `text` has the syntax `parse_rep` reads (no group needed)."""
    return isinstance(text, str) and bool(text.strip()) and all(
        REP_TERM.match(term.strip()) for term in text.split("+"))


def _atom(text, group):
    if text == "S":
        return TrivialRep(group)
    if text == "V":
        return DefiningRep(group)
    if text == "P":
        return ParityRep(group)
    if text.startswith("T("):
        p, q = (int(k) for k in text[2:-1].split(","))
        return T(p, q, group)
    return T(int(text[1:]), 0, group)
