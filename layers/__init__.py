"""eqzoo layers: symmetric, structured and group-equivariant dense layers for Keras 3."""

from layers.article_layers import (
    SymmetricDenseLayerFlatVector,
    SymmetricDenseLayerLowerTriangular,
    SymmetricDenseLayerMasked,
)
from layers.bounded_spectrum_dense import BoundedSpectrumDense
from layers.dense_transpose import DenseTranspose
from layers.equivariance import assert_equivariant, equivariance_error
from layers.equivariant_basis import commutant_basis, invariant_basis
from layers.equivariant_dense import EquivariantDense
from layers.fold import fold_to_dense
from layers.groups import (
    CyclicGroup,
    DihedralGroup,
    FiniteGroup,
    PermutationGroup,
    SymmetricGroup,
    TrivialGroup,
)
from layers.hopfield import HopfieldBlock
from layers.inspection import symmetric_matrices, symmetry_residuals
from layers.pairwise_interaction import PairwiseInteraction
from layers.positive_definite_dense import PositiveDefiniteDense
from layers.representations import (
    ChannelRep,
    DefiningRep,
    DirectSum,
    RegularRep,
    Representation,
    TrivialRep,
)
from layers.skew_symmetric_dense import SkewSymmetricDense
from layers.structured_dense import StructuredDense
from layers.symmetric_constraint import SymmetricConstraint
from layers.symmetric_dense import SymmetricDense

__all__ = [
    "BoundedSpectrumDense",
    "ChannelRep",
    "CyclicGroup",
    "DefiningRep",
    "DenseTranspose",
    "DihedralGroup",
    "DirectSum",
    "EquivariantDense",
    "FiniteGroup",
    "HopfieldBlock",
    "PairwiseInteraction",
    "PermutationGroup",
    "PositiveDefiniteDense",
    "RegularRep",
    "Representation",
    "SkewSymmetricDense",
    "StructuredDense",
    "SymmetricConstraint",
    "SymmetricDense",
    "SymmetricDenseLayerFlatVector",
    "SymmetricDenseLayerLowerTriangular",
    "SymmetricDenseLayerMasked",
    "SymmetricGroup",
    "TrivialGroup",
    "TrivialRep",
    "assert_equivariant",
    "commutant_basis",
    "equivariance_error",
    "fold_to_dense",
    "invariant_basis",
    "symmetric_matrices",
    "symmetry_residuals",
]
