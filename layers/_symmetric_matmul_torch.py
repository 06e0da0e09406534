"""`packing.symmetric_matmul` as a native `torch.autograd.Function`, for the PyTorch backend.

Imported only when Keras runs on PyTorch. The maths is that of `packing.symmetric_matmul_blocks`
(the RFP blocks of W multiplied where they lie, the off-diagonal block never copied, the kernel
gradient read straight into the packed layout); this version issues it as PyTorch calls, without
Keras' per-op dispatch and with PyTorch's fast kernels: `tril`/`triu` and contiguous copies
instead of `where` and of arithmetic on transposed views, which PyTorch runs several times
slower on CPU. The packed layout's blocks are cut by `packing.packed_blocks`, passed in as
`blocks` (packing imports this module, so this one does not import packing).
"""

import torch


def _mirror(m, lower):
    """The symmetric matrix whose lower (upper) triangle, diagonal included, is that of m."""
    if lower:
        return torch.triu(m.t().contiguous(), 1).add_(torch.tril(m))
    return torch.tril(m.t().contiguous(), -1).add_(torch.triu(m))


def _leaves(m, lower, levels):
    """The assembled diagonal leaves of the symmetric block held in m's lower (upper) triangle,
    in the order `_sym_mul` consumes them."""
    if levels == 0 or m.shape[0] < 2:
        return [_mirror(m, lower)]
    p = (m.shape[0] + 1) // 2
    return _leaves(m[:p, :p], lower, levels - 1) + _leaves(m[p:, p:], lower, levels - 1)


def _sym_mul(v, m, lower, levels, leaves):
    """v @ S for the symmetric S held in m's lower (upper) triangle; `leaves` is consumed."""
    if levels == 0 or m.shape[0] < 2:
        return v @ leaves.pop(0)
    p = (m.shape[0] + 1) // 2
    v1, v2 = v[:, :p], v[:, p:]
    off = m[p:, :p] if lower else m[:p, p:].t()  # S[p:, :p]
    y1 = torch.addmm(_sym_mul(v1, m[:p, :p], lower, levels - 1, leaves), v2, off)
    y2 = torch.addmm(_sym_mul(v2, m[p:, p:], lower, levels - 1, leaves), v1, off.t())
    return torch.cat([y1, y2], 1)


def _sym_fold(out, a, b, lower, levels):
    """Writes into `out` the lower (upper) triangle of a^T b + b^T a, diagonal diag(a^T b), and
    zeros in the other triangle: the gradient of m in `_sym_mul(a, m, ...)` for upstream b."""
    size = a.shape[1]
    if levels == 0 or size < 2:
        g = a.t() @ b
        s = torch.add(g, g.t().contiguous())  # both operands contiguous: PyTorch's fast add
        s.diagonal().copy_(g.diagonal())
        out.copy_(torch.tril(s) if lower else torch.triu(s))
        return
    p = (size + 1) // 2
    a1, a2, b1, b2 = a[:, :p], a[:, p:], b[:, :p], b[:, p:]
    if lower:
        out[p:, :p] = torch.addmm(a2.t() @ b1, b2.t(), a1)
        out[:p, p:] = 0
    else:
        out[:p, p:] = torch.addmm(a1.t() @ b2, b1.t(), a2)
        out[p:, :p] = 0
    _sym_fold(out[:p, :p], a1, b1, lower, levels - 1)
    _sym_fold(out[p:, p:], a2, b2, lower, levels - 1)


def _apply(v, stored, n, levels, leaves, blocks):
    """v @ W, W symmetric in the packed `stored`; `leaves` are the assembled diagonal leaves."""
    h = (n + 1) // 2
    m1, m2, w21 = blocks(stored, n)
    leaves = list(leaves)
    v1, v2 = v[:, :h], v[:, h:]
    y1 = torch.addmm(_sym_mul(v1, m1, True, levels, leaves), v2, w21)
    y2 = torch.addmm(_sym_mul(v2, m2, False, levels, leaves), v1, w21.t())
    return torch.cat([y1, y2], 1)


class SymmetricMatmul(torch.autograd.Function):
    """`x2d @ W` for the symmetric W packed in `stored`, and its gradients."""

    @staticmethod
    def forward(ctx, x2d, stored, n, levels, blocks):
        m1, m2, _ = blocks(stored, n)
        leaves = _leaves(m1, True, levels) + _leaves(m2, False, levels)
        ctx.save_for_backward(x2d, stored, *leaves)
        ctx.n, ctx.levels, ctx.blocks = n, levels, blocks
        return _apply(x2d, stored, n, levels, leaves, blocks)

    @staticmethod
    def backward(ctx, upstream):
        x2d, stored, *leaves = ctx.saved_tensors
        n, levels = ctx.n, ctx.levels
        h = (n + 1) // 2
        x_grad = stored_grad = None
        if ctx.needs_input_grad[0]:
            x_grad = _apply(upstream, stored, n, levels, leaves, ctx.blocks)
        if ctx.needs_input_grad[1]:
            x1, x2 = x2d[:, :h], x2d[:, h:]
            d1, d2 = upstream[:, :h], upstream[:, h:]
            stored_grad = torch.empty_like(stored)
            t_rows = h + 1 if n % 2 == 0 else h
            torch.addmm(x2.t() @ d1, d2.t(), x1, out=stored_grad[t_rows:])
            upper = torch.empty((n - h, n - h), dtype=stored.dtype, device=stored.device)
            _sym_fold(upper, x2, d2, False, levels)
            if n % 2 == 0:
                # T[r, c] is W11[r - 1, c] below T's diagonal and W22[r, c] on and above it.
                _sym_fold(stored_grad[1 : h + 1], x1, d1, True, levels)
                stored_grad[0] = 0
                stored_grad[:h].add_(upper)
            else:
                # T[r, c] is W11[r, c] on and below T's diagonal and W22[r, c - 1] above it.
                _sym_fold(stored_grad[:h], x1, d1, True, levels)
                stored_grad[: h - 1, 1:].add_(upper)
        return x_grad, stored_grad, None, None, None


def symmetric_matmul(x, stored, n, levels, blocks):
    """`x @ W` (any leading batch dimensions) for torch tensors x and the packed `stored`, whose
    blocks `blocks(stored, n)` cuts out (`packing.packed_blocks`)."""
    batch_shape = x.shape[:-1]
    y = SymmetricMatmul.apply(x.reshape(-1, n), stored, n, levels, blocks)
    return y.reshape(*batch_shape, n)
