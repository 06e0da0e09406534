"""Bases of the commutant: the kernels `W` with `rho_in(g)^T W = W rho_out(g)^T` for all `g`.

In the Keras layout `y = x @ W` (rows are examples) that is exactly equivariance,
`f(rho_in(g) x) = rho_out(g) f(x)`: a row vector moves as `x @ rho(g)^T`, and
`x rho_in(g)^T W = x W rho_out(g)^T`. Column-vector texts write it `rho_out(g) W^T = W^T rho_in(g)`.

Five kinds of basis, all computed once with numpy and cached per (rep_in, rep_out, symmetric):

- `PartitionBasis`: S_n on invariants, points and n x n matrices (`V * V`), with channels: the
  Bell(k_in + k_out) maps of Maron et al. 2019 (15 matrix -> matrix, 5 matrix <-> points,
  2 matrix <-> invariants), applied by pooling and broadcasting (diagonals, row and column
  means, transposes), never through an n^4 kernel.
- `DeepSetsBasis`: S_n on points with channels, `W = I (x) Lambda + 11^T (x) Gamma` (Zaheer et
  al. 2017), assembled by broadcasting: 2 c_in c_out values.
- `CirculantBasis`: C_n on points with channels, block circulants `W[i, j] = C[(j - i) mod n]`
  (n c_in c_out values); D_n, symmetric ones, `C[k] = C[n - k]` ((n // 2 + 1) c_in c_out).
  Assembled by broadcasting and reshaping, with no n^2 gather.
- `OrbitBasis`: any two permutation representations. The kernel is constant on the orbits of G
  on index pairs, `W[i, j] = W[p_in[i], p_out[j]]`, found by label propagation; assembly gathers
  the coefficients with the `(n_in, n_out)` int map of orbit ids.
- `DenseBasis`: any representation, the null space of the stacked constraints
  `rho_in(g)^T (x) I - I (x) rho_out(g)` over the generators (row-major `vec(W)`), from the
  eigendecomposition of their Gram matrix (C's right singular vectors); orthonormal. Assembly is
  one `(dim,) x (dim, n_in n_out)` product.
"""

import functools

import numpy as np
from keras import ops

from eqzoo.layers.groups import CyclicGroup, DihedralGroup, SymmetricGroup
from eqzoo.layers.representations import ChannelRep, DefiningRep, TensorProduct, TrivialRep

MAX_DENSE_SIZE = 4096  # n_in * n_out above which the cubic-cost null space takes > ~15 s


class CommutantBasis:
    """`dim` coefficients <-> an `(n_in, n_out)` equivariant kernel (keras.ops both ways)."""

    def __init__(self, shape, dim):
        self.shape = tuple(shape)
        self.dim = int(dim)

    def assemble(self, coefficients):
        raise NotImplementedError

    def project(self, matrix):
        """Least-squares coefficients of `matrix`: the nearest kernel in the commutant."""
        raise NotImplementedError

    def apply(self, x, coefficients):
        """`x @ W` for flat inputs `(..., n_in)`; a basis may compute it without assembling W."""
        return ops.matmul(x, self.assemble(coefficients))

    def initial_coefficients(self, initializer, scale, dtype=None):
        """Starting coefficients: a full-shape draw of `initializer`, projected, times `scale`."""
        return ops.multiply(self.project(initializer(self.shape, dtype=dtype)), scale)

    def dense(self):
        """The basis as a numpy array `(dim, n_in, n_out)` (for tests and small sizes)."""
        eye = np.eye(self.dim, dtype="float64")
        return np.stack(
            [ops.convert_to_numpy(self.assemble(ops.convert_to_tensor(e))) for e in eye]
        )

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, dim={self.dim})"


class DenseBasis(CommutantBasis):
    """An orthonormal basis stored densely, `(dim, n_in * n_out)`; assembly is one matmul."""

    def __init__(self, shape, vectors):
        super().__init__(shape, len(vectors))
        self.vectors = np.asarray(vectors, dtype="float64")

    def assemble(self, coefficients):
        basis = ops.convert_to_tensor(self.vectors, dtype=coefficients.dtype)
        return ops.reshape(ops.matmul(ops.expand_dims(coefficients, 0), basis), self.shape)

    def project(self, matrix):
        basis = ops.convert_to_tensor(self.vectors, dtype=matrix.dtype)
        return ops.reshape(ops.matmul(basis, ops.reshape(matrix, (-1, 1))), (self.dim,))

    def dense(self):
        return self.vectors.reshape((self.dim,) + self.shape)


class OrbitBasis(CommutantBasis):
    """Indicators of the orbits of G on index pairs: `W = coefficients[index]`."""

    def __init__(self, index):
        self.index = np.unique(index, return_inverse=True)[1].reshape(index.shape).astype("int32")
        super().__init__(index.shape, self.index.max() + 1)
        self.counts = np.bincount(self.index.ravel(), minlength=self.dim).astype("float64")

    def assemble(self, coefficients):
        return ops.take(coefficients, self.index, axis=0)

    def project(self, matrix):
        # The indicators are orthogonal, so least squares is the mean over each orbit.
        sums = ops.segment_sum(ops.reshape(matrix, (-1,)), self.index.ravel(), self.dim)
        return ops.divide(sums, ops.convert_to_tensor(self.counts, dtype=matrix.dtype))


class CirculantBasis(OrbitBasis):
    """Block circulants `W[i, a, j, b] = C[(j - i) mod n, a, b]`, assembled without a gather.

    With `reflections` (D_n), shifts k and n - k share their coefficients. The kernel is the
    coefficients broadcast to `(2n - 1, n)` blocks and read as `(n, 2n - 1)`: row i then starts
    at shift `-i mod n`, and its first n blocks are the circulant's row (slicing and reshaping
    only, several times faster than an n^2 gather and its scatter-add gradient).
    """

    def __init__(self, n, c_in, c_out, reflections):
        shift = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n
        self.fold = np.minimum(np.arange(n), n - np.arange(n)) if reflections else None
        super().__init__(_with_channels(np.minimum(shift, n - shift) if reflections else shift,
                                        c_in, c_out))
        self.n, self.c_in, self.c_out = n, c_in, c_out

    def assemble(self, coefficients):
        n, c_in, c_out = self.n, self.c_in, self.c_out
        blocks = ops.reshape(coefficients, (-1, c_in, c_out))
        if self.fold is not None:
            blocks = ops.take(blocks, self.fold, axis=0)
        blocks = ops.broadcast_to(ops.expand_dims(blocks, 0), (2 * n - 1, n, c_in, c_out))
        rows = ops.split(ops.reshape(blocks, (n, 2 * n - 1, c_in, c_out)), [n], axis=1)[0]
        if c_in > 1:
            rows = ops.transpose(rows, (0, 2, 1, 3))
        return ops.reshape(rows, self.shape)


class PartitionBasis(CommutantBasis):
    """S_n on tensors of order k <= 2 with channels: the Bell(k_in + k_out) maps of Maron et al.

    An order-k feature with c channels is an `(n,) * k + (c,)` array: invariants (k = 0),
    points (k = 1) or n x n matrices (k = 2), where a permutation moves a matrix as `P X P^T`.
    The input is pooled by order (means, so no statistic grows with n):

        k_in = 2:  order 2: X, X^T;  order 1: diag X, row means, column means;
                   order 0: mean of diag X, mean of X
        k_in = 1:  order 1: v;  order 0: mean of v          k_in = 0:  order 0: a

    and every pool is placed in the output in each way its order allows:

        k_out = 2: order 2 whole; orders 1 and 0 on the diagonal; order 1 along rows
                   (`Y[i, j] = u[i]`) and along columns (`Y[i, j] = u[j]`); order 0 everywhere
        k_out = 1: order 1 pointwise; order 0 everywhere        k_out = 0: order 0

    Each (pool, placement) pair is one basis map with a `(c_in, c_out)` block of coefficients:
    15 for matrix -> matrix, 5 for matrix <-> points, 2 for matrix <-> invariants, 2 for
    points -> points (DeepSets). These span the commutant when n >= k_in + k_out (Maron et al.,
    "Invariant and Equivariant Graph Networks", ICLR 2019); `apply` costs a few passes over the
    input, and `assemble` builds the `(n_in, n_out)` kernel only when asked (tests, folding).
    """

    def __init__(self, n, order_in, c_in, order_out, c_out):
        self.n, self.order_in, self.c_in, self.order_out, self.c_out = (
            n, order_in, c_in, order_out, c_out)
        self.in_shape = (n,) * order_in + (c_in,)
        self.out_shape = (n,) * order_out + (c_out,)
        pools = {2: 2 if order_in == 2 else 0, 1: {2: 3, 1: 1, 0: 0}[order_in], 0: 2 if
                 order_in == 2 else 1}
        placements = {2: [("whole", 2), ("diagonal", 1), ("diagonal", 0), ("rows", 1),
                          ("columns", 1), ("everywhere", 0)],
                      1: [("pointwise", 1), ("everywhere", 0)],
                      0: [("everywhere", 0)]}[order_out]
        self.blocks = [(place, order, pools[order]) for place, order in placements if pools[order]]
        self.maps = sum(count for _, _, count in self.blocks)
        super().__init__((int(np.prod(self.in_shape)), int(np.prod(self.out_shape))),
                         self.maps * c_in * c_out)
        self._pseudo_inverse = None

    def _pools(self, x):
        """The input's pools by order: `{order: [(batch, (n,) * order, c_in) tensors]}`."""
        if self.order_in == 0:
            return {0: [x]}
        if self.order_in == 1:
            return {1: [x], 0: [ops.mean(x, axis=1)]}
        eye = ops.reshape(ops.eye(self.n, dtype=x.dtype), (1, self.n, self.n, 1))
        diagonal = ops.sum(ops.multiply(x, eye), axis=2)
        return {2: [x, ops.transpose(x, (0, 2, 1, 3))],
                1: [diagonal, ops.mean(x, axis=2), ops.mean(x, axis=1)],
                0: [ops.mean(diagonal, axis=1), ops.mean(x, axis=(1, 2))]}

    def apply(self, x, coefficients):
        lead = leading_shape(x, 1)
        pools = self._pools(ops.reshape(x, (-1,) + self.in_shape))
        n, c_in, c_out = self.n, self.c_in, self.c_out
        eye = ops.reshape(ops.eye(n, dtype=x.dtype), (1, n, n, 1))
        total, start, full = 0, 0, False
        for place, order, count in self.blocks:
            size = count * c_in * c_out
            weights = ops.reshape(coefficients[start:start + size], (count * c_in, c_out))
            start += size
            pooled = pools[order][0] if count == 1 else ops.concatenate(pools[order], axis=-1)
            y = ops.matmul(pooled, ops.cast(weights, x.dtype))
            if place == "diagonal":
                y = ops.multiply(eye, y[:, :, None, :] if order == 1 else y[:, None, None, :])
            elif place == "rows":
                y = y[:, :, None, :]
            elif place == "columns":
                y = y[:, None, :, :]
            elif place == "everywhere" and self.order_out > 0:
                y = ops.reshape(y, (-1,) + (1,) * self.order_out + (c_out,))
            full = full or place in ("whole", "diagonal", "pointwise") or self.order_out == 0
            # `+`, not ops.add: keras.ops.add (TensorFlow) takes an operand with one non-unit
            # axis for a bias and adds it along axis 1 or -1, so a (batch, 1, 1, c) term would
            # land on the rows whenever batch == n.
            total = total + y
        if not full:  # only broadcast terms: give the output its n axes
            total = total + ops.zeros(self.out_shape, dtype=x.dtype)
        return ops.reshape(total, lead + (self.shape[1],))

    def assemble(self, coefficients):
        # Row a of the kernel is the image of the a-th unit input.
        units = ops.eye(self.shape[0], dtype=coefficients.dtype)
        return self.apply(units, coefficients)

    def project(self, matrix):
        if self._pseudo_inverse is None:
            if self.dim * self.shape[0] * self.shape[1] > 2**26:
                raise ValueError(
                    f"Projecting a full kernel onto {self!r} needs its dense basis, "
                    f"{self.dim} x {self.shape[0]} x {self.shape[1]} values; this is only done "
                    "for kernels of at most 2^26 basis entries. Set the coefficients directly.")
            dense = super().dense().reshape(self.dim, -1)
            self._pseudo_inverse = np.linalg.pinv(dense.T)
        inverse = ops.convert_to_tensor(self._pseudo_inverse, dtype=matrix.dtype)
        return ops.reshape(ops.matmul(inverse, ops.reshape(matrix, (-1, 1))), (self.dim,))

    def initial_coefficients(self, initializer, scale, dtype=None):
        # Each placement acts as a Dense layer on the pooled features, so the draw has the fans of
        # one `(maps * c_in, c_out)` kernel: no n^4 draw to project, and `scale` does not apply.
        del scale
        draw = initializer((self.maps * self.c_in, self.c_out), dtype=dtype)
        return ops.reshape(draw, (self.dim,))

    def __repr__(self):
        return (f"PartitionBasis(n={self.n}, order {self.order_in} x {self.c_in} -> order "
                f"{self.order_out} x {self.c_out}, dim={self.dim})")


def leading_shape(x, trailing):
    """`x`'s leading axes as a reshape target: the unknown (batch) one as -1."""
    lead = tuple(x.shape[: len(x.shape) - trailing])
    return tuple(-1 if d is None else int(d) for d in lead)


class DeepSetsBasis(CommutantBasis):
    """`W = I_n (x) Lambda + 1 1^T (x) Gamma`; coefficients `[Lambda.ravel(), Gamma.ravel()]`."""

    def __init__(self, n, c_in, c_out):
        super().__init__((n * c_in, n * c_out), 2 * c_in * c_out)
        self.n, self.c_in, self.c_out = n, c_in, c_out

    def assemble(self, coefficients):
        n, c_in, c_out = self.n, self.c_in, self.c_out
        half = c_in * c_out
        lam = ops.reshape(coefficients[:half], (1, c_in, 1, c_out))
        gam = ops.reshape(coefficients[half:], (1, c_in, 1, c_out))
        eye = ops.reshape(ops.eye(n, dtype=coefficients.dtype), (n, 1, n, 1))
        return ops.reshape(ops.add(ops.multiply(eye, lam), gam), self.shape)

    def project(self, matrix):
        n, c_in, c_out = self.n, self.c_in, self.c_out
        blocks = ops.reshape(matrix, (n, c_in, n, c_out))
        eye = ops.reshape(ops.eye(n, dtype=matrix.dtype), (n, 1, n, 1))
        diagonal = ops.sum(ops.multiply(blocks, eye), axis=(0, 2))
        off = ops.divide(ops.subtract(ops.sum(blocks, axis=(0, 2)), diagonal), n * n - n)
        lam = ops.subtract(ops.divide(diagonal, n), off)
        return ops.concatenate([ops.reshape(lam, (-1,)), ops.reshape(off, (-1,))], axis=0)


@functools.lru_cache(maxsize=128)
def commutant_basis(rep_in, rep_out, symmetric=False, method="auto"):
    """The cached basis of equivariant kernels from `rep_in` to `rep_out`.

    Args:
        rep_in, rep_out: `Representation`s of one group.
        symmetric: also require `W = W^T` (rep_in == rep_out, orthogonal).
        method: "auto" (closed form, else orbits, else dense), "orbits" or "dense".
    """
    _check_pair(rep_in, rep_out, symmetric)
    if method not in ("auto", "orbits", "dense"):
        raise ValueError(
            "Invalid value for argument `method` of commutant_basis: expected one of "
            f"['auto', 'dense', 'orbits']. Received: method={method!r}"
        )
    permutations = rep_in.is_permutation and rep_out.is_permutation
    if method == "dense" or (method == "auto" and not permutations):
        return _dense_basis(rep_in, rep_out, symmetric)
    if not permutations:
        raise ValueError(
            f"method='orbits' needs permutation representations. Received: {rep_in!r} -> "
            f"{rep_out!r}"
        )
    orders = _tensor_order(rep_in), _tensor_order(rep_out)
    if method == "auto" and not symmetric and all(orders) and isinstance(
            rep_in.group, SymmetricGroup):
        (_, k_in, c_in), (_, k_out, c_out) = orders
        n = rep_in.group.degree
        if max(k_in, k_out) == 2 and n >= k_in + k_out:  # below, the maps are dependent
            return PartitionBasis(n, k_in, c_in, k_out, c_out)
    points_in, points_out = _points(rep_in), _points(rep_out)
    if method == "auto" and points_in and points_out:
        (group, c_in), (_, c_out) = points_in, points_out
        n = group.degree
        if isinstance(group, SymmetricGroup) and n > 1 and (not symmetric or c_in == 1):
            return DeepSetsBasis(n, c_in, c_out)
        # One channel: symmetric circulants are the dihedral ones. With several, the transpose
        # also swaps channels; the orbit search below handles that.
        if isinstance(group, (CyclicGroup, DihedralGroup)) and (not symmetric or c_in == 1):
            reflections = isinstance(group, DihedralGroup) or symmetric
            return CirculantBasis(n, c_in, c_out, reflections)
    index = _pair_orbits(rep_in, rep_out)
    return OrbitBasis(_merge_with_transpose(index) if symmetric else index)


def invariant_basis(rep):
    """The basis of invariant vectors `rho(g) b = b`, as kernels of shape `(1, rep.dim)`."""
    return commutant_basis(TrivialRep(rep.group), rep)


def _check_pair(rep_in, rep_out, symmetric):
    if rep_in.group != rep_out.group:
        raise ValueError(
            "rep_in and rep_out must represent the same group. Received: rep_in of "
            f"{rep_in.group!r}, rep_out of {rep_out.group!r}."
        )
    if symmetric and rep_in != rep_out:
        raise ValueError(
            "symmetric=True needs a square kernel between one representation, rep_in == "
            f"rep_out. Received: rep_in={rep_in!r}, rep_out={rep_out!r}."
        )
    if symmetric and not rep_in.is_permutation:
        for m in rep_in.generator_matrices():
            if not np.allclose(m @ m.T, np.eye(rep_in.dim), atol=1e-8):
                raise ValueError(
                    "symmetric=True is only well defined for an orthogonal representation "
                    f"(rho(g) rho(g)^T = I). {rep_in!r} has a generator that is not:\n{m}"
                )


def _points(rep):
    """(group, channels) when `rep` is a permutation group's points, with channels or not."""
    channels = 1
    if isinstance(rep, ChannelRep):
        rep, channels = rep.base, rep.num_channels
    if type(rep) is DefiningRep and hasattr(rep.group, "degree"):
        return rep.group, channels
    return None


def _tensor_order(rep):
    """(group, order, channels) for invariants (0), points (1) and `V * V` matrices (2)."""
    if type(rep) is TrivialRep:
        return rep.group, 0, rep.dim
    channels = 1
    if isinstance(rep, ChannelRep):
        rep, channels = rep.base, rep.num_channels
    if type(rep) is DefiningRep and hasattr(rep.group, "degree"):
        return rep.group, 1, channels
    if (type(rep) is TensorProduct and len(rep.factors) == 2
            and all(type(f) is DefiningRep for f in rep.factors)):  # V ** 3 and up: orbits
        return rep.group, 2, channels
    return None


def _with_channels(index, c_in, c_out):
    """Each point-pair orbit times every channel pair, in the `(n, c)` point-major layout."""
    n_in, n_out = index.shape
    channel_pair = np.arange(c_in)[:, None] * c_out + np.arange(c_out)[None, :]
    full = index[:, None, :, None] * (c_in * c_out) + channel_pair[None, :, None, :]
    return full.reshape(n_in * c_in, n_out * c_out)


def _pair_orbits(rep_in, rep_out):
    """Orbit ids of `(i, j) ~ (p_in[i], p_out[j])` over the generators, by label propagation."""
    n_out = rep_out.dim
    moves = [
        (rep_in.permutation(g)[:, None] * n_out + rep_out.permutation(g)[None, :]).ravel()
        for g in rep_in.group.generators
    ]
    labels = _components(rep_in.dim * n_out, [(np.arange(len(m)), m) for m in moves])
    return labels.reshape(rep_in.dim, n_out)


def _merge_with_transpose(index):
    """Orbit ids after also identifying `(i, j)` with `(j, i)`: symmetric kernels."""
    labels = _components(index.max() + 1, [(index.ravel(), index.T.ravel())])
    return labels[index]


def _components(size, edges):
    """Connected components of the graph on `range(size)` with edge lists `(a, b)`."""
    labels = np.arange(size)
    while True:
        previous = labels
        for a, b in edges:
            low = np.minimum(labels[a], labels[b])
            labels = labels.copy()
            np.minimum.at(labels, a, low)
            np.minimum.at(labels, b, low)
        labels = labels[labels]  # pointer jumping: halves the distance to each component's root
        if np.array_equal(labels, previous):
            return labels


def _dense_basis(rep_in, rep_out, symmetric):
    n_in, n_out = rep_in.dim, rep_out.dim
    size = n_in * n_out
    if size > MAX_DENSE_SIZE:
        raise ValueError(
            f"The generic (dense) commutant basis needs n_in * n_out <= {MAX_DENSE_SIZE}. Received "
            f"{rep_in!r} -> {rep_out!r}, {n_in} * {n_out} = {size}. Use permutation "
            "representations (closed forms, orbits) or smaller representations."
        )
    eye_in, eye_out = np.eye(n_in), np.eye(n_out)
    blocks = [
        np.kron(a.T, eye_out) - np.kron(eye_in, b)
        for a, b in zip(rep_in.generator_matrices(), rep_out.generator_matrices(), strict=True)
    ]
    if symmetric:
        swap = np.arange(size).reshape(n_in, n_out).T.ravel()
        blocks.append(np.eye(size) - np.eye(size)[swap])
    # The null space of the stacked constraints C is that of C^T C: its eigenvectors are C's
    # right singular vectors, and eigh on one N x N matrix is ~5x faster than the SVD of C.
    gram = sum(c.T @ c for c in blocks)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    null = eigenvalues < 1e-9 * max(1.0, eigenvalues[-1])
    return DenseBasis((n_in, n_out), eigenvectors[:, null].T)
