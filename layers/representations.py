"""Representations `rho: G -> GL(d)` of finite groups: how a group element moves a feature vector.

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

numpy only, but importing it loads Keras through `eqzoo/layers/__init__.py` (`layers.groups`
says why that stays so).
"""

import numpy as np

from eqzoo.layers.groups import (
    FiniteGroup,
    ImageDihedralGroup,
    ImageRotationGroup,
    PermutationGroup,
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
    "ImageRegularRep",
    "ImageRep",
    "RegularRep",
    "Representation",
    "SymmetricSquare",
    "TensorProduct",
    "TrivialRep",
    "rep_from_config",
]


class Representation:
    """Base class: a group, a dimension, and `rho(g)` for every group element `g`."""

    is_permutation = False  # every rho(g) is a permutation matrix

    def __init__(self, group, dim):
        if not isinstance(group, FiniteGroup):
            raise ValueError(
                f"{type(self).__name__} needs a FiniteGroup (e.g. SymmetricGroup(4)). "
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

    def character(self, g):
        """`trace rho(g)`; for a permutation representation, the number of fixed points."""
        if self.is_permutation:
            return int(np.sum(self.permutation(g) == np.arange(self.dim)))
        return float(np.trace(self.matrix(g)))

    def channels(self, k):
        """k copies of this representation, stored point-major as a `shape + (k,)` array."""
        return ChannelRep(self, k)

    def __mul__(self, other):
        """`rep_a * rep_b`: the tensor product `rep_a (x) rep_b` (see `TensorProduct`)."""
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
            moved = flat @ self.matrix(g).T.astype(flat.dtype)
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
        super().__init__(group, group.dim if isinstance(group, FiniteGroup) else 0)
        self.is_permutation = isinstance(group, PermutationGroup)

    def matrix(self, g):
        return np.asarray(g, dtype=np.float64)

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
        super().__init__(group, group.order if isinstance(group, FiniteGroup) else 0)

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
    """`rho_1(g) (+) rho_2(g) (+) ...`: block diagonal, the summands' features concatenated."""

    def __init__(self, *summands):
        if not summands or not all(isinstance(r, Representation) for r in summands):
            raise ValueError(f"DirectSum needs Representations. Received: {summands!r}")
        groups = {r.group for r in summands}
        if len(groups) > 1:
            raise ValueError(
                "All summands of a DirectSum must represent the same group. Received "
                f"representations of {sorted(map(repr, groups))}."
            )
        super().__init__(summands[0].group, sum(r.dim for r in summands))
        self.summands = tuple(summands)
        self.is_permutation = all(r.is_permutation for r in summands)

    def matrix(self, g):
        if self.is_permutation:
            return super().matrix(g)
        out = np.zeros((self.dim, self.dim))
        start = 0
        for r in self.summands:
            out[start:start + r.dim, start:start + r.dim] = r.matrix(g)
            start += r.dim
        return out

    def permutation(self, g):
        offsets = np.cumsum([0] + [r.dim for r in self.summands[:-1]])
        return np.concatenate(
            [r.permutation(g) + o for r, o in zip(self.summands, offsets, strict=True)]
        )

    @property
    def key(self):
        return ("DirectSum",) + tuple(r.key for r in self.summands)

    def __repr__(self):
        return " + ".join(repr(r) for r in self.summands)

    def get_config(self):
        return {"rep": "DirectSum", "summands": [r.get_config() for r in self.summands]}


class TensorProduct(Representation):
    """`rho_a(g) (x) rho_b(g)` on `(a.dim, b.dim)` arrays: `X -> rho_a(g) X rho_b(g)^T`.

    Also written `rep_a * rep_b`. For the points of a permutation group, `V * V` carries n x n
    matrices and permutes their entries, `(P X P^T)[i, j] = X[p[i], p[j]]`.

    Example:

    >>> from eqzoo.layers.groups import SymmetricGroup
    >>> V = DefiningRep(SymmetricGroup(4))
    >>> (V * V).shape, (V * V).dim
    ((4, 4), 16)
    """

    def __init__(self, rep_a, rep_b):
        for name, rep in (("rep_a", rep_a), ("rep_b", rep_b)):
            if not isinstance(rep, Representation):
                raise ValueError(f"TensorProduct needs two Representations. Received: "
                                 f"{name}={rep!r}")
        if rep_a.group != rep_b.group:
            raise ValueError(
                "Both factors of a TensorProduct must represent the same group. Received "
                f"representations of {rep_a.group!r} and {rep_b.group!r}."
            )
        super().__init__(rep_a.group, rep_a.dim * rep_b.dim)
        self.factors = (rep_a, rep_b)
        self.shape = (rep_a.dim, rep_b.dim)
        self.is_permutation = rep_a.is_permutation and rep_b.is_permutation

    def matrix(self, g):
        if self.is_permutation:
            return super().matrix(g)
        a, b = self.factors
        return np.kron(a.matrix(g), b.matrix(g))

    def permutation(self, g):
        a, b = self.factors
        return (a.permutation(g)[:, None] * b.dim + b.permutation(g)[None, :]).ravel()

    @property
    def key(self):
        return ("TensorProduct",) + tuple(r.key for r in self.factors)

    def __repr__(self):
        return f"({self.factors[0]!r} * {self.factors[1]!r})"

    def get_config(self):
        return {"rep": "TensorProduct", "factors": [r.get_config() for r in self.factors]}


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
        "['AntisymmetricSquare', 'ChannelRep', 'DefiningRep', 'DirectSum', 'ImageRegularRep', "
        "'ImageRep', 'PointCloudRep', 'RegularRep', 'SymmetricSquare', 'TensorProduct', "
        "'TrivialRep']. "
        f"Received: {config!r}"
    )
