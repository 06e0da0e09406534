"""Reading structure off a model: which matrices are claimed symmetric, and how far they are.

The contract: a layer claims symmetric matrices by defining `symmetric_matrices()`, which returns
the square matrices (tensors) it keeps bitwise symmetric, or an empty list when it claims none
(an unconstrained twin). Every `StructuredDense` has it: it returns `[kernel]` when the class
sets `symmetric_kernel = True` (SymmetricDense, PositiveDefiniteDense, BoundedSpectrumDense).
`HopfieldBlock` returns its coupling and `PairwiseInteraction` its interaction matrices.
"""

import keras
import numpy as np


def symmetric_matrices(model):
    """`{layer name: [matrix, ...]}` for every layer that claims symmetric matrices.

    A layer takes part by defining `symmetric_matrices()` (see the module docstring); nested
    models are searched too, and layers that claim no matrix are left out.
    """
    found = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        claim = getattr(layer, "symmetric_matrices", None)
        if callable(claim) and layer.built:
            matrices = claim()
            if matrices:
                found[layer.name] = [keras.ops.convert_to_numpy(m) for m in matrices]
    return found


def symmetry_residuals(model):
    """`{layer name: max |W - W^T|}` over each layer's symmetric matrices (0.0 when exact)."""
    return {
        name: max(float(np.max(np.abs(m - m.T), initial=0.0)) for m in matrices)
        for name, matrices in symmetric_matrices(model).items()
    }
