"""Equivariant bases for continuous groups: structure first, closed forms, then a null space.

A kernel `W` (row layout, `y = x @ W`, shape `(n_in, n_out)`) is equivariant when `vec(W)` is
an invariant of `rep_in* (x) rep_out`: for every Lie algebra element A,
`-drho_in(A)^T W + W drho_out(A)^T = 0`... written on row-major `vec(W)` as
`(-drho_in(A)^T (x) I + I (x) drho_out(A)) vec(W) = 0`, and for every discrete generator h,
`(rho_in(h)^-T (x) rho_out(h)) vec(W) = vec(W)`. Three steps keep this fast and exact:

1. Structure. Both representations are split into leaves (`decompose`): direct sums into their
   summands, `TrivialRep(G, k)` and `.channels(k)` into copies, tensor products of sums into
   sums of tensor products (with the index permutation that says where each lands). The kernel
   is block by block: a block between copies of leaves `a` and `b` is a combination of the
   basis of `Hom(a, b)`, solved once per pair of distinct leaves (`leaf_basis`, cached), so
   `5 * S + 5 * V -> T(2)` solves `S -> T(2)` and `V -> T(2)` once each.
2. Closed forms. For the named groups (O(n), SO(n), O(1,3), SO+(1,3), Sp(2m)) on leaves that
   are products of V, V* and `ParityRep`, the invariants are spanned by products of the
   invariant form B (V* (x) V*), B^-1 (V (x) V) and deltas (V (x) V*) over the pairings of the
   slots, times at most one Levi-Civita tensor when the group allows it (first fundamental
   theorem of invariant theory; Weyl, "The Classical Groups", 1939). These tensors span the
   space but are dependent when the rank is large against d (SO(3) on T(8): 105 pairings, 91
   invariants), so they are orthonormalized by an SVD, which also gives the exact dimension.
3. Otherwise, the null space of the stacked constraints: dense (`eigh` of their Gram matrix)
   up to `MAX_DENSE` unknowns, sparse shift-invert Lanczos (`scipy.sparse.linalg.eigsh`)
   above, up to `MAX_SPARSE`.

Bases are orthonormal (as flattened `(d_a * d_b,)` vectors), so projecting a kernel onto the
equivariant ones is a blockwise inner product. They are cached per process (`functools.
lru_cache` on the representations); a disk cache would not pay: the slowest solve measured,
SO(3) T(8) -> scalar, takes about 0.3 s (`benchmarks/results/lie_basis.md`).
"""

import functools
import itertools
import math
import string

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from keras import ops
from threadpoolctl import threadpool_limits

from eqzoo.layers import equivariant_basis
from eqzoo.layers.equivariant_basis import CommutantBasis
from eqzoo.layers.groups import LieGroup
from eqzoo.layers.representations import (
    ChannelRep,
    DefiningRep,
    DirectSum,
    DualRep,
    FactorRep,
    ParityRep,
    TensorProduct,
    TrivialRep,
)

MAX_DENSE = 2500  # unknowns d_a * d_b up to which the null space is taken densely (~2 s)
MAX_SPARSE = 200_000  # unknowns up to which the sparse solver is tried
MAX_SPANNING = 2**25  # entries of a closed form's spanning set (candidates x d^k)
_LETTERS = string.ascii_letters


def commutant_basis(rep_in, rep_out, symmetric=False):
    """The basis of equivariant kernels `rep_in -> rep_out`, for finite and continuous groups.

    Finite groups use `equivariant_basis.commutant_basis` (closed forms for S_n, C_n, D_n,
    orbits, dense); Lie groups a `BlockBasis`.
    """
    if not isinstance(rep_in.group, LieGroup):
        return equivariant_basis.commutant_basis(rep_in, rep_out, symmetric)
    if symmetric:
        raise ValueError("symmetric=True is only supported for finite groups. Received "
                         f"representations of {rep_in.group!r}.")
    return block_basis(rep_in, rep_out)


def invariant_basis(rep):
    """The basis of invariant vectors `rho(g) b = b`, as kernels of shape `(1, rep.dim)`."""
    return commutant_basis(TrivialRep(rep.group), rep)


@functools.lru_cache(maxsize=256)
def block_basis(rep_in, rep_out):
    """The cached `BlockBasis` of `rep_in -> rep_out` (representations of one Lie group)."""
    if rep_in.group != rep_out.group:
        raise ValueError(
            "rep_in and rep_out must represent the same group. Received: rep_in of "
            f"{rep_in.group!r}, rep_out of {rep_out.group!r}."
        )
    return BlockBasis(rep_in, rep_out)


class BlockBasis(CommutantBasis):
    """Equivariant kernels as blocks between copies of leaves: `W[a_m, b_n] = sum_r C[m, n, r]
    B_ab[r]`, with `B_ab` the orthonormal basis of `Hom(a, b)` (see `leaf_basis`).

    Coefficients are, for each pair of leaf types with maps, `C` of shape `(m_a, m_b, r)`
    flattened, in order. The kernel is assembled in leaf-type order and the input and output
    are permuted into and out of that order (nothing moves when the layout already is).
    """

    def __init__(self, rep_in, rep_out):
        self.types_in, self.types_out = leaf_types(rep_in), leaf_types(rep_out)
        super().__init__((rep_in.dim, rep_out.dim), 0)
        self.perm_in = np.concatenate([idx.ravel() for _, idx in self.types_in])
        self.perm_out = np.concatenate([idx.ravel() for _, idx in self.types_out])
        self.inverse_in = np.argsort(self.perm_in).astype("int32")
        self.inverse_out = np.argsort(self.perm_out).astype("int32")
        self.blocks = {}  # (type_in, type_out) -> (start, basis (r, d_a, d_b))
        start = 0
        for i, (a, idx_a) in enumerate(self.types_in):
            for j, (b, idx_b) in enumerate(self.types_out):
                basis = leaf_basis(a, b)
                if len(basis):
                    self.blocks[i, j] = (start, basis)
                    start += len(idx_a) * len(idx_b) * len(basis)
        self.dim = start

    def _typed_kernel(self, coefficients):
        rows = []
        for i, (_, idx_a) in enumerate(self.types_in):
            cols = []
            for j, (_, idx_b) in enumerate(self.types_out):
                (m, d_a), (n, d_b) = idx_a.shape, idx_b.shape
                if (i, j) not in self.blocks:
                    cols.append(ops.zeros((m * d_a, n * d_b), dtype=coefficients.dtype))
                    continue
                start, basis = self.blocks[i, j]
                r = len(basis)
                c = ops.reshape(coefficients[start:start + m * n * r], (m, n, r))
                b_ab = ops.convert_to_tensor(basis, dtype=coefficients.dtype)
                cols.append(ops.reshape(ops.einsum("mnr,rij->minj", c, b_ab),
                                        (m * d_a, n * d_b)))
            rows.append(cols[0] if len(cols) == 1 else ops.concatenate(cols, axis=1))
        return rows[0] if len(rows) == 1 else ops.concatenate(rows, axis=0)

    def assemble(self, coefficients):
        kernel = self._typed_kernel(coefficients)
        return ops.take(ops.take(kernel, self.inverse_in, axis=0), self.inverse_out, axis=1)

    def apply(self, x, coefficients):
        kernel = self._typed_kernel(ops.cast(coefficients, x.dtype))
        if not _is_identity(self.perm_in):
            x = ops.take(x, self.perm_in.astype("int32"), axis=-1)
        y = ops.matmul(x, kernel)
        return y if _is_identity(self.perm_out) else ops.take(y, self.inverse_out, axis=-1)

    def project(self, matrix):
        typed = ops.take(ops.take(matrix, self.perm_in.astype("int32"), axis=0),
                         self.perm_out.astype("int32"), axis=1)
        rows = np.cumsum([0] + [idx.size for _, idx in self.types_in])
        cols = np.cumsum([0] + [idx.size for _, idx in self.types_out])
        parts = []
        for (i, j), (_, basis) in self.blocks.items():  # in insertion (= coefficient) order
            (m, d_a), (n, d_b) = self.types_in[i][1].shape, self.types_out[j][1].shape
            block = ops.reshape(typed[rows[i]:rows[i + 1], cols[j]:cols[j + 1]], (m, d_a, n, d_b))
            b_ab = ops.convert_to_tensor(basis, dtype=matrix.dtype)
            parts.append(ops.reshape(ops.einsum("minj,rij->mnr", block, b_ab), (-1,)))
        if not parts:
            return ops.zeros((0,), dtype=matrix.dtype)
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=0)

    def __repr__(self):
        return (f"BlockBasis(shape={self.shape}, dim={self.dim}, leaf types {len(self.types_in)}"
                f" -> {len(self.types_out)})")


def _is_identity(perm):
    return bool(np.array_equal(perm, np.arange(len(perm))))


def leaf_types(rep):
    """The leaves of `rep` grouped by type, in first-appearance order: `[(leaf, (m, d) int
    array of the positions of its m copies in rep's flat layout)]`."""
    groups = {}
    for leaf, idx in decompose(rep):
        groups.setdefault(leaf, []).append(idx)
    return [(leaf, np.stack(idxs)) for leaf, idxs in groups.items()]


def decompose(rep):
    """`rep` as leaves: `[(leaf representation, positions of its features in rep's layout)]`.

    Direct sums, trivial representations of several features and channels are split into
    copies; tensor products distribute over the sums of their factors; duals and a product
    group's factor representations move inside. What remains (V, V*, their products, squares,
    parity...) is a leaf.
    """
    if isinstance(rep, DirectSum):
        out, start = [], 0
        for r in rep.summands:
            out += [(leaf, idx + start) for leaf, idx in decompose(r)]
            start += r.dim
        return out
    if type(rep) is TrivialRep:
        one = TrivialRep(rep.group)
        return [(one, np.array([i])) for i in range(rep.dim)]
    if type(rep) is ChannelRep:
        k = rep.num_channels
        return [(leaf, idx * k + c) for c in range(k) for leaf, idx in decompose(rep.base)]
    if isinstance(rep, TensorProduct):
        parts = [decompose(f) for f in rep.factors]
        out = []
        for combination in itertools.product(*parts):
            index = np.zeros((), dtype=np.int64)
            for (_, idx), factor in zip(combination, rep.factors, strict=True):
                index = index[..., None] * factor.dim + idx
            out.append((leaf_product(rep.group, [leaf for leaf, _ in combination]), index.ravel()))
        return out
    if isinstance(rep, DualRep):
        return [(leaf.dual(), idx) for leaf, idx in decompose(rep.base)]
    if isinstance(rep, FactorRep):
        return [(TrivialRep(rep.group) if _is_scalar(leaf) else
                 FactorRep(rep.group, leaf, rep.factor), idx) for leaf, idx in decompose(rep.rep)]
    return [(rep, np.arange(rep.dim))]


def _is_scalar(rep):
    return type(rep) is TrivialRep and rep.dim == 1


def leaf_product(group, leaves):
    """The tensor product of `leaves`, as the leaf `decompose` names it (scalars dropped)."""
    leaves = [leaf for leaf in leaves if not _is_scalar(leaf)]
    if not leaves:
        return TrivialRep(group)
    return leaves[0] if len(leaves) == 1 else TensorProduct(*leaves)


@functools.lru_cache(maxsize=1024)
def leaf_basis(rep_in, rep_out):
    """An orthonormal basis of `Hom(rep_in, rep_out)` in the row layout: `(r, d_in, d_out)`."""
    closed = _closed_form(rep_in, rep_out)
    if closed is not None:
        return closed
    return _null_space(rep_in, rep_out).reshape(-1, rep_in.dim, rep_out.dim)


def _one_blas_thread(solve):
    """Runs `solve` with one BLAS thread: its matrices are small (a few thousand wide at most),
    and on a busy machine OpenBLAS's threads wait on each other (SO(3)'s T(8) took 7.6 s with
    them on 2 loaded cores, 0.3 s without)."""

    @functools.wraps(solve)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return solve(*args, **kwargs)

    return wrapper


# ---- closed forms ------------------------------------------------------------------------------

def _slots(rep):
    """`(kinds, parity)` for a product of V (+1), V* (-1), ParityRep and scalars, else None."""
    kinds, parity = [], 0
    for f in rep.factors if isinstance(rep, TensorProduct) else (rep,):
        if type(f) is DefiningRep:
            kinds.append(1)
        elif type(f) is DualRep and type(f.base) is DefiningRep:
            kinds.append(-1)
        elif type(f) is ParityRep:
            parity += 1
        elif not _is_scalar(f):
            return None
    return kinds, parity


def _closed_form(rep_in, rep_out):
    group = rep_in.group
    if getattr(group, "invariant_form", None) is None:
        return None
    slots_in, slots_out = _slots(rep_in), _slots(rep_out)
    if slots_in is None or slots_out is None:
        return None
    kinds = [-k for k in slots_in[0]] + slots_out[0]  # Hom(a, b) = invariants of a* (x) b
    tensors = invariant_tensors(group, kinds, slots_in[1] + slots_out[1])
    if tensors is None:
        return None
    return tensors.reshape(-1, rep_in.dim, rep_out.dim)


@_one_blas_thread
def invariant_tensors(group, kinds, parity=0):
    """An orthonormal basis of the invariant tensors with slots `kinds` (+1: V, -1: V*) and
    `parity` factors of the determinant, for a group with an `invariant_form`: shape `(r,) +
    (d,) * len(kinds)`, or None when the spanning set would be too large."""
    d, k = group.dim, len(kinds)
    form = group.invariant_form
    pairs = {(-1, -1): form, (1, 1): np.linalg.inv(form), (1, -1): np.eye(d), (-1, 1): np.eye(d)}
    odd = parity % 2 == 1 and group.epsilon == "odd parity"
    with_pairings = not odd
    with_epsilon = group.epsilon == "always" or odd
    count = 0
    if with_pairings and k % 2 == 0:
        count += _double_factorial(k - 1)
    if with_epsilon and k >= d and (k - d) % 2 == 0:
        count += math.comb(k, d) * _double_factorial(k - d - 1)
    if count * d**k > MAX_SPANNING or (with_epsilon and k >= d and d > 7):
        return None
    candidates = []
    if with_pairings and k % 2 == 0:
        for matching in _matchings(tuple(range(k))):
            candidates.append(_contract([(pairs[kinds[s], kinds[t]], (s, t)) for s, t in matching],
                                        k))
    if with_epsilon and k >= d and (k - d) % 2 == 0:
        epsilon = _levi_civita(d)
        raise_index = np.linalg.inv(form)
        for subset in itertools.combinations(range(k), d):
            rest = tuple(s for s in range(k) if s not in subset)
            for matching in _matchings(rest):
                terms = [(pairs[kinds[s], kinds[t]], (s, t)) for s, t in matching]
                candidates.append(_contract(terms, k, (epsilon, subset, kinds, raise_index)))
    shape = (0,) + (d,) * k
    if not candidates:
        return np.zeros(shape)
    spanning = np.stack(candidates).reshape(len(candidates), -1)
    _, s, vt = np.linalg.svd(spanning, full_matrices=False)
    rank = int(np.sum(s > s[0] * max(spanning.shape) * 1e-13))
    return vt[:rank].reshape((rank,) + shape[1:])


def _contract(terms, k, epsilon=None):
    """The tensor product of the two-slot `terms` (and an epsilon on `subset`, its +1 slots
    raised with `raise_index`), with output slots in order 0..k-1."""
    operands, subscripts = [], []
    for matrix, (s, t) in terms:
        operands.append(matrix)
        subscripts.append(_LETTERS[s] + _LETTERS[t])
    if epsilon is not None:
        tensor, subset, kinds, raise_index = epsilon
        inner = ""
        for n, s in enumerate(subset):
            if kinds[s] == 1:  # a V slot: raise epsilon's covariant index
                fresh = _LETTERS[k + n]
                operands.append(raise_index)
                subscripts.append(_LETTERS[s] + fresh)
                inner += fresh
            else:
                inner += _LETTERS[s]
        operands.append(tensor)
        subscripts.append(inner)
    if not operands:
        return np.ones(())
    return np.einsum(",".join(subscripts) + "->" + _LETTERS[:k], *operands, optimize=True)


def _matchings(slots):
    """Every perfect matching of `slots` (a tuple), as tuples of pairs."""
    if not slots:
        yield ()
        return
    first = slots[0]
    for i in range(1, len(slots)):
        rest = slots[1:i] + slots[i + 1:]
        for matching in _matchings(rest):
            yield ((first, slots[i]),) + matching


def _levi_civita(d):
    epsilon = np.zeros((d,) * d)
    for perm in itertools.permutations(range(d)):
        epsilon[perm] = np.linalg.det(np.eye(d)[list(perm)])
    return epsilon


def _double_factorial(n):
    return 1 if n <= 0 else n * _double_factorial(n - 2)




# ---- the null space of the constraints -----------------------------------------------------------

def _constraints(rep_in, rep_out, sparse):
    """The constraint matrices on row-major `vec(W)`, one per algebra element and generator."""
    kron = scipy.sparse.kron if sparse else np.kron
    eye_in = scipy.sparse.identity(rep_in.dim) if sparse else np.eye(rep_in.dim)
    eye_out = scipy.sparse.identity(rep_out.dim) if sparse else np.eye(rep_out.dim)
    blocks = [kron(-rep_in.drho(a).T, eye_out) + kron(eye_in, rep_out.drho(a))
              for a in rep_in.group.lie_algebra]
    for h in rep_in.group.generators:
        moved = kron(np.linalg.inv(rep_in.matrix(h)).T, rep_out.matrix(h))
        blocks.append(moved - (scipy.sparse.identity(moved.shape[0]) if sparse else
                               np.eye(moved.shape[0])))
    return blocks


@_one_blas_thread
def _null_space(rep_in, rep_out):
    size = rep_in.dim * rep_out.dim
    if size <= MAX_DENSE:
        # The constraints are Kronecker products of small matrices, so sparse: their Gram
        # matrix is built sparsely and only its eigendecomposition is dense.
        blocks = [scipy.sparse.csr_matrix(c) for c in _constraints(rep_in, rep_out, sparse=True)]
        gram = sum(c.T @ c for c in blocks).toarray()
        eigenvalues, eigenvectors = np.linalg.eigh(gram)
        return eigenvectors[:, eigenvalues < 1e-9 * max(1.0, eigenvalues[-1])].T
    if size > MAX_SPARSE:
        raise ValueError(
            f"The equivariant maps from {rep_in!r} to {rep_out!r} have {size} unknowns, above "
            f"the {MAX_SPARSE} the numerical solver takes (no closed form applies). Split the "
            "representations into smaller summands or use tensors of a named group.")
    blocks = [scipy.sparse.csr_matrix(c) for c in _constraints(rep_in, rep_out, sparse=True)]
    gram = sum(c.T @ c for c in blocks).tocsc()
    scale = max(1.0, abs(gram).max())
    # Shift-invert Lanczos about a small negative shift: the smallest eigenvalues converge
    # first; ask for more until one found is clearly nonzero, so the whole null space is in.
    k = 16
    while True:
        k = min(k, size - 2)
        values, vectors = scipy.sparse.linalg.eigsh(gram, k=k, sigma=-1e-6 * scale,
                                                    which="LM")
        null = values < 1e-9 * scale
        if not np.all(null) or k >= size - 2:
            basis = vectors[:, null]
            # Lanczos vectors are orthonormal only to its tolerance: make them exactly so.
            return scipy.linalg.orth(basis).T if basis.size else basis.T
        k *= 2
