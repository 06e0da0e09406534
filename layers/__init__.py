"""eqzoo layers: symmetric, structured and group-equivariant dense layers for Keras 3."""

from layers.article_layers import (
    SymmetricDenseLayerFlatVector,
    SymmetricDenseLayerLowerTriangular,
    SymmetricDenseLayerMasked,
)
from layers.fold import fold_to_dense
from layers.structured_dense import StructuredDense
from layers.symmetric_constraint import SymmetricConstraint
from layers.symmetric_dense import SymmetricDense

__all__ = [
    "StructuredDense",
    "SymmetricConstraint",
    "SymmetricDense",
    "SymmetricDenseLayerFlatVector",
    "SymmetricDenseLayerLowerTriangular",
    "SymmetricDenseLayerMasked",
    "fold_to_dense",
]
