"""eqzoo layers: symmetric, structured and group-equivariant dense layers for Keras 3."""

from eqzoo.layers.article_layers import (
    SymmetricDenseLayerFlatVector,
    SymmetricDenseLayerLowerTriangular,
    SymmetricDenseLayerMasked,
)
from eqzoo.layers.bounded_spectrum_dense import BoundedSpectrumDense
from eqzoo.layers.dense_transpose import DenseTranspose
from eqzoo.layers.equivariance import assert_equivariant, equivariance_error
from eqzoo.layers.equivariant_basis import commutant_basis, invariant_basis
from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.fold import fold_to_dense
from eqzoo.layers.group_averaged import GroupAveraged
from eqzoo.layers.groups import (
    CyclicGroup,
    DihedralGroup,
    FiniteGroup,
    ImageDihedralGroup,
    PermutationGroup,
    SymmetricGroup,
    TrivialGroup,
)
from eqzoo.layers.hopfield import HopfieldBlock
from eqzoo.layers.inspection import symmetric_matrices, symmetry_residuals
from eqzoo.layers.pairwise_interaction import PairwiseInteraction
from eqzoo.layers.positive_definite_dense import PositiveDefiniteDense
from eqzoo.layers.representations import (
    AntisymmetricSquare,
    ChannelRep,
    DefiningRep,
    DirectSum,
    ImageRep,
    RegularRep,
    Representation,
    SymmetricSquare,
    TensorProduct,
    TrivialRep,
)
from eqzoo.layers.skew_symmetric_dense import SkewSymmetricDense
from eqzoo.layers.structured_dense import StructuredDense
from eqzoo.layers.symmetric_constraint import SymmetricConstraint
from eqzoo.layers.symmetric_dense import SymmetricDense

__all__ = [
    "AntisymmetricSquare",
    "BoundedSpectrumDense",
    "ChannelRep",
    "CyclicGroup",
    "DefiningRep",
    "DenseTranspose",
    "DihedralGroup",
    "DirectSum",
    "EquivariantDense",
    "FiniteGroup",
    "GroupAveraged",
    "HopfieldBlock",
    "ImageDihedralGroup",
    "ImageRep",
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
    "SymmetricSquare",
    "TensorProduct",
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
