"""eqzoo layers: symmetric, structured and group-equivariant dense layers for Keras 3.

This namespace holds the layers and the functions that act on layers and models (folding to
`Dense`, equivariance and symmetry checks). The maths the equivariant layers are built from has
its own modules: `eqzoo.layers.groups` (finite and continuous groups), `eqzoo.layers.plane_groups`
(the p4 and p4m orientations of G-CNNs), `eqzoo.layers.point_clouds` (E(n) x S_n on named point
clouds), `eqzoo.layers.representations` (how they act on inputs and outputs),
`eqzoo.layers.equivariant_basis` (bases of equivariant maps) and `eqzoo.layers.lie_basis` (the
same for continuous groups).
"""

from eqzoo.native_logs import tensorflow_start_up_filtered

# First: TensorFlow's C++ start-up lines (oneDNN, CUDA probing) are noise, not warnings; every
# other line still shows, and TF_CPP_MIN_LOG_LEVEL=0 shows them all (eqzoo/native_logs.py).
with tensorflow_start_up_filtered():
    import keras  # noqa: F401

from eqzoo.layers import groups, lie_basis, plane_groups, point_clouds, representations
from eqzoo.layers.article_layers import (
    SymmetricDenseLayerFlatVector,
    SymmetricDenseLayerLowerTriangular,
    SymmetricDenseLayerMasked,
)
from eqzoo.layers.bounded_spectrum_dense import BoundedSpectrumDense
from eqzoo.layers.dense_transpose import DenseTranspose
from eqzoo.layers.egnn_layer import EGNNLayer
from eqzoo.layers.emlp_block import EMLPBlock
from eqzoo.layers.equivariance import assert_equivariant, equivariance_error
from eqzoo.layers.equivariant_bilinear import EquivariantBilinear
from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.fold import fold_to_dense
from eqzoo.layers.gated_nonlinearity import GatedNonlinearity, gated
from eqzoo.layers.global_group_pooling import GlobalGroupPooling
from eqzoo.layers.group_averaged import GroupAveraged
from eqzoo.layers.group_conv2d import GroupConv2D
from eqzoo.layers.group_pooling import GroupPooling
from eqzoo.layers.hopfield import HopfieldBlock
from eqzoo.layers.inspection import symmetric_matrices, symmetry_residuals
from eqzoo.layers.linear_dynamics import LinearDynamics
from eqzoo.layers.message_passing import MessagePassing
from eqzoo.layers.norm_nonlinearity import NormNonlinearity
from eqzoo.layers.pairwise_interaction import PairwiseInteraction
from eqzoo.layers.point_cloud_invariants import PointCloudInvariants
from eqzoo.layers.positive_definite_dense import PositiveDefiniteDense
from eqzoo.layers.skew_symmetric_dense import SkewSymmetricDense
from eqzoo.layers.structured_dense import StructuredDense
from eqzoo.layers.symmetric_constraint import SymmetricConstraint
from eqzoo.layers.symmetric_dense import SymmetricDense

__all__ = [
    # layers
    "BoundedSpectrumDense",
    "DenseTranspose",
    "EMLPBlock",
    "EquivariantBilinear",
    "EGNNLayer",
    "EquivariantDense",
    "GatedNonlinearity",
    "GlobalGroupPooling",
    "GroupAveraged",
    "GroupConv2D",
    "GroupPooling",
    "HopfieldBlock",
    "NormNonlinearity",
    "LinearDynamics",
    "MessagePassing",
    "PairwiseInteraction",
    "PointCloudInvariants",
    "PositiveDefiniteDense",
    "SkewSymmetricDense",
    "StructuredDense",
    "SymmetricDense",
    "SymmetricDenseLayerFlatVector",
    "SymmetricDenseLayerLowerTriangular",
    "SymmetricDenseLayerMasked",
    # a constraint for plain Dense
    "SymmetricConstraint",
    # functions of layers and models
    "assert_equivariant",
    "equivariance_error",
    "fold_to_dense",
    "gated",
    "symmetric_matrices",
    "symmetry_residuals",
    # namespaces
    "groups",
    "lie_basis",
    "plane_groups",
    "point_clouds",
    "representations",
]
