"""Packed storage of symmetric matrices: n(n+1)/2 values laid out so the matrix is cut, not gathered.

The layout is LAPACK's rectangular full packed (RFP) idea. Split a symmetric `W` (n x n) into
blocks around `h = ceil(n / 2)`:

    W = [[W11, W21^T],        W11: h x h symmetric, W22: (n-h) x (n-h) symmetric,
         [W21, W22  ]]        W21: (n-h) x h, no structure.

The lower triangle of W11 and the (transposed) lower triangle of W22 fit together in one
rectangle T, W21 sits below it, and the stored array is `[T; W21]`, of shape (n+1, n/2) for even
n and (n, (n+1)/2) for odd n: exactly n(n+1)/2 values. Assembling W is then two slices, two
transposes, two selects against fixed triangular masks and two concatenations, all O(n^2) copies.
Its gradient is the same kind of copies, where a gather from a flat vector would scatter-add.
Every off-diagonal pair of W is a copy of one stored value, so W is bitwise symmetric.

`symmetric_matmul(x, stored, n)` is `x @ unpack_symmetric(stored, n)` with a hand-written
gradient. Automatic differentiation of the assembly would pad each slice's gradient back to the
full stored shape and add the pads up; instead the kernel gradient `G = x^T dy` is symmetrised
once and cut into the packed layout, and the input gradient reuses the assembled W.
"""

import functools

import numpy as np
from keras import ops


def packed_shape(n):
    """Shape of the stored array for an n x n symmetric matrix."""
    h = (n + 1) // 2
    return (n + 1, h) if n % 2 == 0 else (n, h)


def packed_size(n):
    return n * (n + 1) // 2


# The index arrays and masks below are cached but not marked read-only (`setflags`): under
# `jit_compile=True` on PyTorch, torch.compile traces through `lru_cache` into their numpy code,
# and its numpy emulation has no `setflags` (every packed layer failed to train there).


@functools.lru_cache(maxsize=None)
def packed_index(n):
    """`(rows, cols)` int arrays of `packed_shape(n)`: `stored[a, b] == W[rows[a, b], cols[a, b]]`.

    Every pair has `rows >= cols` and each lower-triangle entry of W appears exactly once.
    """
    h = (n + 1) // 2
    even = n % 2 == 0
    rows = np.empty(packed_shape(n), dtype=np.int64)
    cols = np.empty(packed_shape(n), dtype=np.int64)
    t_rows = h + 1 if even else h
    for r in range(t_rows):
        for c in range(h):
            if (even and r > c) or (not even and r >= c):
                rows[r, c], cols[r, c] = (r - 1, c) if even else (r, c)  # W11
            else:
                rows[r, c], cols[r, c] = (h + c, h + r) if even else (h + c - 1, h + r)  # W22
    for i in range(n - h):
        rows[t_rows + i, :] = h + i  # W21
        cols[t_rows + i, :] = np.arange(h)
    return rows, cols


@functools.lru_cache(maxsize=None)
def lower_mask(n):
    """Boolean (n, n) mask of the lower triangle, diagonal included."""
    mask = np.tril(np.ones((n, n), dtype=bool))
    return mask


def mirror_lower(matrix, n):
    """The symmetric matrix whose lower triangle (diagonal included) is that of `matrix`."""
    # A Keras variable passed on as itself reaches JAX's `where` un-read, which JAX refuses.
    matrix = ops.convert_to_tensor(matrix)
    return ops.where(lower_mask(n), matrix, ops.transpose(matrix))


def unpack_symmetric(stored, n):
    """Assembles the n x n symmetric matrix from its packed array (see the module docstring)."""
    h = (n + 1) // 2
    if n % 2 == 0:
        m1, m2, w21 = stored[1 : h + 1], stored[:h], stored[h + 1 :]
    else:
        m1, m2, w21 = stored[:h], stored[: h - 1, 1:], stored[h:]
    w11 = mirror_lower(m1, h)
    # T holds W22's lower triangle transposed, so the roles of M2 and M2^T swap.
    w22 = mirror_lower(ops.transpose(m2), n - h)
    top = ops.concatenate([w11, ops.transpose(w21)], axis=1)
    bottom = ops.concatenate([w21, w22], axis=1)
    return ops.concatenate([top, bottom], axis=0)


def pack_symmetric(matrix, n):
    """The packed array of `matrix`'s lower triangle (a gather: for assignment, not the hot path)."""
    rows, cols = packed_index(n)
    flat = ops.reshape(matrix, (-1,))
    return ops.take(flat, ops.convert_to_tensor(rows * n + cols))


def unpack_strictly_lower(stored, n):
    """The n x n matrix holding a packed strictly lower triangle, zeros on and above the diagonal.

    W's strictly lower triangle is the lower triangle, diagonal included, of its (n-1) x (n-1)
    block `W[1:, :n-1]`, so it packs into `packed_shape(n - 1)`: n(n-1)/2 values.
    """
    block = ops.where(lower_mask(n - 1), unpack_symmetric(stored, n - 1), 0.0)
    return ops.pad(block, [[1, 0], [0, 1]])


def pack_strictly_lower(matrix, n):
    """The packed array of `matrix`'s strictly lower triangle (see `unpack_strictly_lower`)."""
    return pack_symmetric(matrix[1:, : n - 1], n - 1)


def pack_gradient(g, n):
    """The gradient w.r.t. the packed array, given `g`, the gradient w.r.t. the assembled W.

    Entry (i, j) of the packed array feeds W[i, j] and W[j, i]: its gradient is
    `g[i, j] + g[j, i]` off the diagonal and `g[i, i]` on it.
    """
    h = (n + 1) // 2
    s = ops.add(g, ops.transpose(g))
    s11, s21, s22 = s[:h, :h], s[h:, :h], s[h:, h:]
    if n % 2 == 0:
        # T[r, c] is W11[r - 1, c] below the diagonal of T and W22[c, r] on and above it.
        zeros = ops.zeros((1, h), dtype=g.dtype)
        top, bottom = ops.concatenate([zeros, s11], 0), ops.concatenate([s22, zeros], 0)
    else:
        # T[r, c] is W11[r, c] on and below the diagonal and W22[c - 1, r] above it.
        padded = ops.concatenate([s22, ops.zeros((h - 1, 1), dtype=g.dtype)], 1)
        top = s11
        bottom = ops.transpose(ops.concatenate([ops.zeros((1, h), dtype=g.dtype), padded], 0))
    t = ops.where(_strict_t_mask(n), top, bottom)
    t = ops.multiply(t, ops.cast(_diagonal_scale(n), g.dtype))
    return ops.concatenate([t, s21], 0)


@functools.lru_cache(maxsize=None)
def _strict_t_mask(n):
    """Where the packed rectangle T holds W11 (True) rather than W22 (False)."""
    h = (n + 1) // 2
    rows = h + 1 if n % 2 == 0 else h
    mask = np.tril(np.ones((rows, h), dtype=bool), -1 if n % 2 == 0 else 0)
    return mask


@functools.lru_cache(maxsize=None)
def _diagonal_scale(n):
    """1 everywhere in T but 1/2 where T holds a diagonal entry of W (counted twice in g + g^T)."""
    rows, cols = packed_index(n)
    h = (n + 1) // 2
    t_rows = h + 1 if n % 2 == 0 else h
    scale = np.where(rows[:t_rows] == cols[:t_rows], 0.5, 1.0).astype("float32")
    return scale


def symmetric_matmul(x, stored, n):
    """`x @ W` for the symmetric W packed in `stored`, with a gradient that avoids the pads."""

    @ops.custom_gradient
    def matmul(x2d, stored):
        w = unpack_symmetric(stored, n)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            g = ops.matmul(ops.transpose(x2d), upstream)
            return ops.matmul(upstream, w), pack_gradient(g, n)

        return ops.matmul(x2d, w), grad

    batch_shape = ops.shape(x)[:-1]
    # A tensor read of the variable (a same-shape reshape copies nothing), not the variable: the
    # gradient then reaches the variable through that read, on every backend and in eager mode.
    y = matmul(ops.reshape(x, (-1, n)), ops.reshape(stored, packed_shape(n)))
    return ops.reshape(y, (*batch_shape, n))


@functools.lru_cache(maxsize=None)
def _gather_indices(n):
    """`(full, packed, scale)`: W.flat = stored.flat[full]; the packed gradient is
    `(G + G^T).flat[packed] * scale` (scale 1/2 where an entry is a diagonal of W)."""
    rows, cols = packed_index(n)
    position = np.arange(rows.size).reshape(rows.shape)
    full = np.empty((n, n), dtype=np.int32)
    full[rows, cols] = position
    full[cols, rows] = position
    packed = (rows * n + cols).reshape(-1).astype(np.int32)
    scale = np.where(rows == cols, 0.5, 1.0).astype("float32").reshape(-1)
    return full.reshape(-1), packed, scale


def symmetric_matmul_gather(x, stored, n):
    """`symmetric_matmul` by gathers: W is one `take` from the packed values with a fixed (n*n,)
    index, and the packed gradient one `take` from `G + G^T`. Same storage, same values (W and
    the gradient are copies, so bitwise equal to `symmetric_matmul`'s); a gather suits a
    compiler that fuses it (XLA), where slices, selects and concatenations cost more."""
    full, packed, scale = _gather_indices(n)
    shape = packed_shape(n)

    @ops.custom_gradient
    def matmul(x2d, stored):
        w = ops.reshape(ops.take(ops.reshape(stored, (-1,)), full), (n, n))

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            g = ops.matmul(ops.transpose(x2d), upstream)
            s = ops.reshape(ops.add(g, ops.transpose(g)), (-1,))
            folded = ops.multiply(ops.take(s, packed), ops.cast(scale, g.dtype))
            return ops.matmul(upstream, w), ops.reshape(folded, shape)

        return ops.matmul(x2d, w), grad

    batch_shape = ops.shape(x)[:-1]
    y = matmul(ops.reshape(x, (-1, n)), ops.reshape(stored, shape))
    return ops.reshape(y, (*batch_shape, n))
