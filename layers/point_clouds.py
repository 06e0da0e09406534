"""The symmetry of point clouds: `EuclideanGroup(d, n)` = E(d) x S_n, and how it moves named inputs.

An element `g = (Q, t, p)` is an orthogonal d x d matrix `Q` (rotation or reflection, det +-1), a
translation `t` and a permutation `p` of the n points. It acts on a cloud by

    positions  x_i -> Q x_{p[i]} + t     vectors (velocities)  v_i -> Q v_{p[i]}
    scalars    h_i -> h_{p[i]}           pairs (edge attributes)  a_ij -> a_{p[i] p[j]}

`PointCloudRep(group, fields)` names which of these each input (or output) is, so that
`assert_equivariant` and `equivariance_error` check models on dicts of named tensors: e.g.
`{"positions": "position", "velocities": "vector", "charges": ("scalar", 1)}` for the N-body
inputs, and `"position"` for a model that outputs positions. The group is continuous: `sample`
draws Q from the Haar measure on O(d) (QR of a Gaussian matrix, signs fixed, so half the draws are
reflections), t ~ N(0, 1) and p uniformly; its "generators" are a fixed reflection, a rotation,
a translation and a cyclic shift, so that a check always includes a reflection.
"""

import numpy as np

__all__ = ["EuclideanGroup", "PointCloudRep", "random_orthogonal"]

KINDS = ("position", "vector", "scalar", "pair", "mask", "invariant")


def random_orthogonal(d, rng):
    """A Haar-random d x d orthogonal matrix (det +1 or -1 with probability 1/2 each)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


class EuclideanGroup:
    """E(d) x S_n: rotations, reflections and translations of R^d, and permutations of n points.

    Args:
        dim: the spatial dimension d (any positive integer).
        points: the number of points n the permutations act on.

    Example:

    >>> group = EuclideanGroup(3, 5)
    >>> q, t, p = group.sample(1, seed=0)[0]
    >>> bool(np.allclose(q @ q.T, np.eye(3))), t.shape, sorted(p.tolist())
    (True, (3,), [0, 1, 2, 3, 4])
    """

    is_continuous = True
    order = float("inf")

    def __init__(self, dim, points):
        for argument, value in (("dim", dim), ("points", points)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Invalid value for argument `{argument}` of EuclideanGroup: "
                                 f"expected a positive integer. Received: {argument}={value!r}")
        self.dim, self.points = int(dim), int(points)
        self.name = f"E({self.dim})xS({self.points})"

    def __repr__(self):
        return self.name

    @property
    def key(self):
        return (type(self).__name__, self.dim, self.points)

    def __eq__(self, other):
        return isinstance(other, EuclideanGroup) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def get_config(self):
        return {"group": "EuclideanGroup", "dim": self.dim, "points": self.points}

    @property
    def generators(self):
        """Fixed elements every check includes: a reflection, a rotation, a translation, a shift."""
        d, n = self.dim, self.points
        reflection = np.diag([-1.0] + [1.0] * (d - 1))
        rotation = np.eye(d)
        if d >= 2:
            c, s = np.cos(0.7), np.sin(0.7)
            rotation[:2, :2] = [[c, -s], [s, c]]
        identity, none = np.arange(n), np.zeros(d)
        return [(reflection, none, identity), (rotation, none, identity),
                (np.eye(d), np.linspace(-1.0, 2.0, d), identity),
                (np.eye(d), none, np.roll(identity, 1))]

    def sample(self, k, seed=None):
        """`k` elements `(Q, t, p)`: Q Haar-random in O(d), t ~ N(0, I), p a uniform permutation."""
        rng = np.random.default_rng(seed)
        return [(random_orthogonal(self.dim, rng), rng.standard_normal(self.dim),
                 rng.permutation(self.points)) for _ in range(k)]

    def describe(self, element):
        q, t, p = element
        return (f"Q {np.round(q, 3).tolist()} (det {np.linalg.det(q):+.0f}), "
                f"t {np.round(t, 3).tolist()}, permutation {np.asarray(p).tolist()}")


class PointCloudRep:
    """How `EuclideanGroup(d, n)` moves a point cloud's inputs or outputs, field by field.

    Args:
        group: the `EuclideanGroup`.
        fields: a dict `{name: kind}` for dict inputs (outputs), or one kind for a plain tensor.
            A kind is "position" `(n, d)`, "vector" `(n, d)`, "mask" `(n,)`, or one of "scalar"
            `(n, c)`, "pair" `(n, n, c)`, "invariant" `(c,)` written `(kind, c)` (c = 1 alone).

    `shape` is the shape of one example (a dict of shapes for dict fields), which
    `equivariance_error` draws random inputs of (masks are drawn as ones).
    """

    is_permutation = False

    def __init__(self, group, fields):
        if not isinstance(group, EuclideanGroup):
            raise ValueError(f"PointCloudRep needs a EuclideanGroup (e.g. EuclideanGroup(3, 5)). "
                             f"Received: {group!r}")
        self.group = group
        self.is_dict = isinstance(fields, dict)
        items = fields.items() if self.is_dict else [(None, fields)]
        self.fields = {name: _kind(name, value) for name, value in items}
        shapes = {name: _shape(kind, channels, group)
                  for name, (kind, channels) in self.fields.items()}
        self.shape = shapes if self.is_dict else shapes[None]

    def act(self, g, x):
        """`g` applied to a numpy batch (a dict of arrays for dict fields)."""
        if not self.is_dict:
            return _act(self.fields[None][0], g, np.asarray(x))
        missing = sorted(set(self.fields) - set(x))
        if missing:
            raise ValueError(f"{self!r} acts on dicts with keys {sorted(self.fields)}. Received "
                             f"keys {sorted(x)}, missing {missing}.")
        return {name: _act(self.fields[name][0], g, np.asarray(value)) if name in self.fields
                else np.asarray(value) for name, value in x.items()}

    @property
    def key(self):
        return (type(self).__name__, self.group.key, tuple(sorted(
            (str(name), kind, channels) for name, (kind, channels) in self.fields.items())))

    def __eq__(self, other):
        return isinstance(other, PointCloudRep) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        if not self.is_dict:
            return f"PointCloudRep({self.group!r}, {self.fields[None][0]!r})"
        kinds = ", ".join(f"{name}: {kind}" for name, (kind, _) in self.fields.items())
        return f"PointCloudRep({self.group!r}, {{{kinds}}})"

    def get_config(self):
        fields = {name: [kind, channels] for name, (kind, channels) in self.fields.items()}
        return {"rep": "PointCloudRep", "group": self.group.get_config(),
                "fields": fields if self.is_dict else fields[None]}

    @classmethod
    def from_config(cls, config):
        group = config["group"]
        return cls(EuclideanGroup(group["dim"], group["points"]), config["fields"])


def _kind(name, value):
    kind, channels = (value, 1) if isinstance(value, str) else tuple(value)
    if kind not in KINDS or isinstance(channels, bool) or not isinstance(
            channels, (int, np.integer)) or channels < 1:
        raise ValueError(f"Invalid field {name!r} of PointCloudRep: expected one of {list(KINDS)}"
                         f" or (kind, channels) with channels a positive integer. Received: "
                         f"{value!r}")
    return kind, int(channels)


def _shape(kind, channels, group):
    n, d = group.points, group.dim
    return {"position": (n, d), "vector": (n, d), "mask": (n,), "scalar": (n, channels),
            "pair": (n, n, channels), "invariant": (channels,)}[kind]


def _act(kind, g, x):
    q, t, p = g
    if kind == "invariant":
        return x
    moved = x[:, p]
    if kind == "pair":
        moved = moved[:, :, p]
    if kind in ("position", "vector"):
        moved = moved @ np.asarray(q, dtype=x.dtype).T
    if kind == "position":
        moved = moved + np.asarray(t, dtype=x.dtype)
    return moved
