"""Packed storage of symmetric matrices: n(n+1)/2 values laid out so W is cut, not gathered.

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
gradient, computed by blocks so that W is never assembled: the off-diagonal block is a slice of
the stored array and enters its matmuls where it lies, the diagonal blocks are split again, and
the kernel gradient is read straight into the packed layout (`symmetric_matmul_blocks`; on
PyTorch a native autograd function doing the same). Only small leaf blocks are ever transposed.
`symmetric_matmul_assembled` (assemble W, fold `G + G^T`) is the earlier formulation; on
TensorFlow and JAX it stays the faster one up to `ASSEMBLED_UP_TO` wide, and it is the reference
the blocks are tested and measured against.
"""

import functools

import keras
import numpy as np
from keras import ops


def packed_shape(n):
    """Shape of the stored array for an n x n symmetric matrix."""
    h = (n + 1) // 2
    return (n + 1, h) if n % 2 == 0 else (n, h)


# The index arrays and masks below are cached but not marked read-only (`setflags`): under
# `jit_compile=True` on PyTorch, torch.compile traces through `lru_cache` into their numpy code,
# and its numpy emulation has no `setflags` (every packed layer failed to train there).


@functools.cache
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


@functools.cache
def lower_mask(n):
    """Boolean (n, n) mask of the lower triangle, diagonal included."""
    return np.tril(np.ones((n, n), dtype=bool))


def mirror_lower(matrix, n):
    """The symmetric matrix whose lower triangle (diagonal included) is that of `matrix`."""
    # A Keras variable passed on as itself reaches JAX's `where` un-read, which JAX refuses.
    matrix = ops.convert_to_tensor(matrix)
    return ops.where(lower_mask(n), matrix, ops.transpose(matrix))


def packed_blocks(stored, n):
    """`(M1, M2, W21)`, the three pieces of the packed array: W11's lower triangle is M1's, W22's
    lower triangle is M2's upper triangle transposed, and W21 is stored as it is."""
    h = (n + 1) // 2
    if n % 2 == 0:
        return stored[1 : h + 1], stored[:h], stored[h + 1 :]
    return stored[:h], stored[: h - 1, 1:], stored[h:]


def unpack_symmetric(stored, n):
    """Assembles the n x n symmetric matrix from its packed array (see the module docstring)."""
    h = (n + 1) // 2
    m1, m2, w21 = packed_blocks(stored, n)
    w11 = mirror_lower(m1, h)
    # T holds W22's lower triangle transposed, so the roles of M2 and M2^T swap.
    w22 = mirror_lower(ops.transpose(m2), n - h)
    top = ops.concatenate([w11, ops.transpose(w21)], axis=1)
    bottom = ops.concatenate([w21, w22], axis=1)
    return ops.concatenate([top, bottom], axis=0)


def pack_symmetric(matrix, n):
    """The packed array of `matrix`'s lower triangle (a gather: for assignment, not hot paths)."""
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


@functools.cache
def _strict_t_mask(n):
    """Where the packed rectangle T holds W11 (True) rather than W22 (False)."""
    h = (n + 1) // 2
    rows = h + 1 if n % 2 == 0 else h
    return np.tril(np.ones((rows, h), dtype=bool), -1 if n % 2 == 0 else 0)


@functools.cache
def _diagonal_scale(n):
    """1 everywhere in T but 1/2 where T holds a diagonal entry of W (counted twice in g + g^T)."""
    rows, cols = packed_index(n)
    h = (n + 1) // 2
    t_rows = h + 1 if n % 2 == 0 else h
    return np.where(rows[:t_rows] == cols[:t_rows], 0.5, 1.0).astype("float32")


def symmetric_matmul(x, stored, n):
    """`x @ W` for the symmetric W packed in `stored`, with its gradients: by blocks, never
    assembling W (`symmetric_matmul_blocks`), except up to `ASSEMBLED_UP_TO` wide on TensorFlow
    and JAX, where assembling it (`symmetric_matmul_assembled`) is faster; on PyTorch the same
    blocks as a native `torch.autograd.Function` (`symmetric_matmul_torch`)."""
    if keras.backend.backend() == "torch":
        return symmetric_matmul_torch(x, stored, n)
    if n <= ASSEMBLED_UP_TO:
        return symmetric_matmul_assembled(x, stored, n)
    return symmetric_matmul_blocks(x, stored, n)


def symmetric_matmul_torch(x, stored, n, levels=None):
    """`symmetric_matmul_blocks` as a native `torch.autograd.Function`, `levels` deep
    (`split_levels(n)` by default); PyTorch backend only (`layers/_symmetric_matmul_torch.py`)."""
    from eqzoo.layers import _symmetric_matmul_torch

    if levels is None:
        levels = split_levels(n)
    stored = ops.reshape(stored, packed_shape(n))  # a tensor read of the variable
    return _symmetric_matmul_torch.symmetric_matmul(ops.convert_to_tensor(x), stored, n, levels,
                                                    packed_blocks)


# Up to this width `symmetric_matmul` assembles W on TensorFlow and JAX: fewer, larger ops win
# there. Single-thread CPU time per train step, ratio to Dense (benchmarks/symmetric_dense.md):
# TF n=64 1.085x assembled vs 1.103x blocks, n=256 1.104x vs 1.156x, n=512 1.091x vs 1.117x;
# JAX n=64 0.983x vs 1.073x, n=512 1.168x vs 1.281x; at n=1024 the blocks win (TF 0.97x).
ASSEMBLED_UP_TO = 512

# The largest diagonal block `symmetric_matmul` multiplies whole, per backend (measured in
# benchmarks/symmetric_dense.md): a smaller block means more, smaller matmuls; a larger one, a
# transpose that leaves the cache.
LEAF_SIZE = {"torch": 256}
DEFAULT_LEAF_SIZE = 512


def split_levels(n, leaf=None):
    """How often `symmetric_matmul` halves W's diagonal blocks: until they are at most `leaf`
    (default: `LEAF_SIZE` of the active backend) wide."""
    if leaf is None:
        leaf = LEAF_SIZE.get(keras.backend.backend(), DEFAULT_LEAF_SIZE)
    levels, size = 0, (n + 1) // 2
    while size > leaf:
        levels, size = levels + 1, (size + 1) // 2
    return levels


def _mirror(m, lower):
    """The symmetric matrix whose lower (upper) triangle, diagonal included, is that of m."""
    mask = lower_mask(m.shape[0])
    return ops.where(mask if lower else np.logical_not(mask), m, ops.transpose(m))


def _sym_mul(v, m, lower, levels):
    """`v @ S` for the symmetric S held in m's lower (upper) triangle: S's off-diagonal block is
    multiplied where it lies in m (transposed by the matmul, not copied), its diagonal blocks
    recursively, `levels` deep, and the leaves assembled by `_mirror`."""
    size = m.shape[0]
    if levels == 0 or size < 2:
        return ops.matmul(v, _mirror(m, lower))
    p = (size + 1) // 2
    v1, v2 = v[:, :p], v[:, p:]
    off = m[p:, :p] if lower else ops.transpose(m[:p, p:])  # S[p:, :p]
    y1 = ops.add(_sym_mul(v1, m[:p, :p], lower, levels - 1), ops.matmul(v2, off))
    y2 = ops.add(ops.matmul(v1, ops.transpose(off)), _sym_mul(v2, m[p:, p:], lower, levels - 1))
    return ops.concatenate([y1, y2], 1)


def _sym_fold(a, b, lower, levels):
    """The lower (upper) triangle of `a^T b + b^T a` with diagonal `diag(a^T b)`, zeros in the
    other: the gradient of m in `_sym_mul(a, m, lower, levels)` for the upstream gradient b. The
    off-diagonal block is `a2^T b1 + b2^T a1`, two matmuls and no transpose."""
    size = a.shape[1]
    if levels == 0 or size < 2:
        g = ops.matmul(ops.transpose(a), b)
        s = ops.add(g, ops.transpose(g))
        s = ops.where(np.eye(size, dtype=bool), g, s)
        return ops.tril(s) if lower else ops.triu(s)
    p = (size + 1) // 2
    a1, a2, b1, b2 = a[:, :p], a[:, p:], b[:, :p], b[:, p:]
    s11 = _sym_fold(a1, b1, lower, levels - 1)
    s22 = _sym_fold(a2, b2, lower, levels - 1)
    if lower:
        s21 = ops.add(ops.matmul(ops.transpose(a2), b1), ops.matmul(ops.transpose(b2), a1))
        return ops.concatenate([ops.pad(s11, [[0, 0], [0, size - p]]),
                                ops.concatenate([s21, s22], 1)], 0)
    s12 = ops.add(ops.matmul(ops.transpose(a1), b2), ops.matmul(ops.transpose(b1), a2))
    return ops.concatenate([ops.concatenate([s11, s12], 1),
                            ops.pad(s22, [[0, 0], [p, 0]])], 0)


def symmetric_matmul_blocks(x, stored, n, levels=None):
    """`x @ W` for the symmetric W packed in `stored`, never assembling W.

    W = [[W11, W21^T], [W21, W22]] in the packed layout's blocks. The off-diagonal block W21 is
    a slice of `stored`: `x1 @ W11 + x2 @ W21` and `x1 @ W21^T + x2 @ W22` multiply it where it
    lies (a transposed operand costs a matmul nothing), so of W only the diagonal blocks are
    ever formed, and those by the same split, `levels` deep (`split_levels(n)` by default).
    The gradient is read straight into the packed layout: the W21 part is `x2^T dy1 + dy2^T x1`
    (two matmuls, no transpose), the triangles of W11 and W22 fold recursively (`_sym_fold`).
    Only leaf blocks are ever transposed; XLA on CPU transposes a large matrix at several times
    the cost of a copy, and every backend pays for transposed reads of a matrix beyond cache.
    Same values as `x @ unpack_symmetric(stored, n)` to float32 rounding (the matmuls sum in
    blocks), and the same gradients.
    """
    if levels is None:
        levels = split_levels(n)
    h = (n + 1) // 2
    shape = packed_shape(n)
    even = n % 2 == 0

    @ops.custom_gradient
    def matmul(x2d, stored):
        m1, m2, w21 = packed_blocks(stored, n)

        def apply(v):  # v @ W
            v1, v2 = v[:, :h], v[:, h:]
            y1 = ops.add(_sym_mul(v1, m1, True, levels), ops.matmul(v2, w21))
            y2 = ops.add(ops.matmul(v1, ops.transpose(w21)), _sym_mul(v2, m2, False, levels))
            return ops.concatenate([y1, y2], 1)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            x1, x2 = x2d[:, :h], x2d[:, h:]
            d1, d2 = upstream[:, :h], upstream[:, h:]
            lower = _sym_fold(x1, d1, True, levels)  # W11's triangle
            upper = _sym_fold(x2, d2, False, levels)  # W22's, as m2 holds it
            s21 = ops.add(ops.matmul(ops.transpose(x2), d1), ops.matmul(ops.transpose(d2), x1))
            if even:
                # T[r, c] is W11[r - 1, c] below T's diagonal and W22[r, c] on and above it.
                t = ops.add(ops.pad(lower, [[1, 0], [0, 0]]), ops.pad(upper, [[0, 1], [0, 0]]))
            else:
                # T[r, c] is W11[r, c] on and below T's diagonal and W22[r, c - 1] above it.
                t = ops.add(lower, ops.pad(upper, [[0, 1], [1, 0]]))
            return apply(upstream), ops.concatenate([t, s21], 0)

        return apply(x2d), grad

    batch_shape = ops.shape(x)[:-1]
    # A tensor read of the variable (a same-shape reshape copies nothing), not the variable: the
    # gradient then reaches the variable through that read, on every backend and in eager mode.
    y = matmul(ops.reshape(x, (-1, n)), ops.reshape(stored, shape))
    return ops.reshape(y, (*batch_shape, n))


def symmetric_matmul_assembled(x, stored, n):
    """`x @ unpack_symmetric(stored, n)` with a hand-written gradient: W assembled in full, the
    kernel gradient `G = x^T dy` symmetrised once and cut into the packed layout. What
    `symmetric_matmul` runs up to `ASSEMBLED_UP_TO` wide on TensorFlow and JAX, and the reference
    `symmetric_matmul_blocks` is tested and measured against."""

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
    y = matmul(ops.reshape(x, (-1, n)), ops.reshape(stored, packed_shape(n)))
    return ops.reshape(y, (*batch_shape, n))
