"""Every public layer passes Keras' own layer test, `keras.src.testing.TestCase.run_layer_test`,
on whichever backend is active (`tests/test_backends.py` reruns this module on JAX and PyTorch).

`run_layer_test` instantiates from keyword arguments, checks the config and serialization round
trips, symbolic and eager calls, the output shape, weight counts, masking, one `fit` step and a
mixed-precision call. Our own `tests/layer_checks.py` adds saving and traced-call checks.
"""

import inspect

import keras
import pytest
from keras.src.testing import TestCase

from eqzoo import layers
from eqzoo.layers import (
    BoundedSpectrumDense,
    DenseTranspose,
    EGNNLayer,
    EMLPBlock,
    EquivariantBilinear,
    EquivariantDense,
    GatedNonlinearity,
    GlobalGroupPooling,
    GroupAveraged,
    GroupConv2D,
    GroupPooling,
    HopfieldBlock,
    LinearDynamics,
    MessagePassing,
    NormNonlinearity,
    PairwiseInteraction,
    PointCloudInvariants,
    PositiveDefiniteDense,
    SkewSymmetricDense,
    SymmetricDense,
    SymmetricDenseLayerFlatVector,
    SymmetricDenseLayerLowerTriangular,
    SymmetricDenseLayerMasked,
)
from eqzoo.layers.groups import SO, CyclicGroup, LorentzGroup, O, SymmetricGroup
from eqzoo.layers.representations import DefiningRep, TrivialRep

# Continuous groups (issue 21): 2 scalars + a vector, and O(3) tensors.
_SO3 = 2 * TrivialRep(SO(3)) + DefiningRep(SO(3))
_O3 = TrivialRep(O(3)) + DefiningRep(O(3)) + DefiningRep(O(3)) ** 2
_LORENTZ = TrivialRep(LorentzGroup()) + DefiningRep(LorentzGroup())

# (layer class, init kwargs, input shape, expected output shape, trainable weights)
CASES = [
    (SymmetricDense, {"parametrization": "packed"}, (2, 5), (2, 5), 2),
    (SymmetricDense, {"parametrization": "triangular", "activation": "relu"}, (2, 5), (2, 5), 2),
    (SymmetricDense, {"parametrization": "average", "use_bias": False}, (2, 3, 4), (2, 3, 4), 1),
    (SymmetricDenseLayerLowerTriangular, {"units": 4}, (2, 4), (2, 4), 2),
    (SymmetricDenseLayerFlatVector, {"units": 4}, (2, 4), (2, 4), 2),
    (SymmetricDenseLayerMasked, {"units": 4}, (2, 4), (2, 4), 2),
    (SkewSymmetricDense, {}, (2, 5), (2, 5), 2),
    (PositiveDefiniteDense, {"epsilon": 0.1}, (2, 4), (2, 4), 2),
    (BoundedSpectrumDense, {"spectrum": (-1.0, 2.0)}, (2, 4), (2, 4), 2),
    # The tied source's two weights, and its own bias.
    (DenseTranspose, {"source": "built Dense(6 -> 3)"}, (2, 3), (2, 6), 3),
    (EquivariantDense, {"rep_in": DefiningRep(SymmetricGroup(5)).get_config()}, (2, 5), (2, 5), 2),
    (EquivariantDense, {"rep_in": DefiningRep(CyclicGroup(6)).channels(2).get_config(),
                        "rep_out": DefiningRep(CyclicGroup(6)).get_config()}, (2, 6, 2), (2, 6), 2),
    # n x n matrices of S_4 (the tensor square of its points), through the closed-form basis.
    (EquivariantDense, {"rep_in": (DefiningRep(SymmetricGroup(4)) * DefiningRep(SymmetricGroup(4)))
                        .get_config()}, (2, 4, 4), (2, 4, 4), 2),
    (GroupAveraged, {"model": "Dense(5 -> 5)", "group": CyclicGroup(5).get_config(),
                     "rep_in": DefiningRep(CyclicGroup(5)).get_config(),
                     "rep_out": DefiningRep(CyclicGroup(5)).get_config()}, (2, 5), (2, 5), 2),
    # p4 / p4m G-CNN layers: a lifting and a group convolution, then both poolings.
    (GroupConv2D, {"filters": 2, "kernel_size": 3, "group": "p4", "lifting": True},
     (2, 5, 5, 3), (2, 5, 5, 8), 2),
    (GroupConv2D, {"filters": 2, "kernel_size": 3, "group": "p4m", "padding": "valid"},
     (2, 5, 5, 8), (2, 3, 3, 16), 2),
    (GroupPooling, {"group": "p4"}, (2, 4, 4, 8), (2, 4, 4, 2), 0),
    (GlobalGroupPooling, {"group": "p4m", "reduce": "mean"}, (2, 4, 4, 16), (2, 2), 0),
    (PairwiseInteraction, {"units": 2}, (2, 4), (2, 2), 3),
    (PairwiseInteraction, {"units": 1, "rank": 2}, (2, 4), (2, 1), 3),
    (HopfieldBlock, {"steps": 2}, (2, 6), (2, 6), 2),
    # Continuous groups: the kernel from the Lie algebra (V -> T(2) of SO(3), Lorentz vectors).
    (EquivariantDense, {"rep_in": _SO3.get_config(),
                        "rep_out": (DefiningRep(SO(3)) ** 2).get_config()}, (2, 5), (2, 9), 2),
    (EquivariantDense, {"rep_in": _LORENTZ.get_config()}, (2, 5), (2, 5), 2),
    (GatedNonlinearity, {"rep": _O3.get_config()}, (2, 15), (2, 13), 0),
    (NormNonlinearity, {"rep": _O3.get_config()}, (2, 13), (2, 13), 1),
    (EquivariantBilinear, {"rep_in": _O3.get_config(), "seed": 3}, (2, 13), (2, 13), 1),
    (EMLPBlock, {"rep_in": (2 * TrivialRep(O(3)) + DefiningRep(O(3))).get_config(),
                 "rep_out": _O3.get_config()}, (2, 5), (2, 13), 3),
    # Point clouds: dicts of named tensors in, dicts (or one tensor) out.
    (EGNNLayer, {"soft_edges": True},
     {"features": (2, 5, 4), "positions": (2, 5, 3), "velocities": (2, 5, 3), "node_mask": (2, 5),
      "edge_attributes": (2, 5, 5, 2)},
     {"features": (2, 5, 4), "positions": (2, 5, 3), "velocities": (2, 5, 3)}, 17),
    (EGNNLayer, {"units": 6, "residual": False, "normalize": True},
     {"features": (2, 4, 3), "positions": (2, 4, 2)},
     {"features": (2, 4, 6), "positions": (2, 4, 2)}, 11),
    (MessagePassing, {}, {"features": (2, 5, 4), "edge_attributes": (2, 5, 5, 1)}, (2, 5, 4), 8),
    (PointCloudInvariants, {}, {"positions": (2, 5, 3), "velocities": (2, 5, 3),
                                "charges": (2, 5, 1)},
     {"features": (2, 5, 1), "edge_attributes": (2, 5, 5, 2)}, 0),
    (LinearDynamics, {}, {"positions": (2, 5, 3), "velocities": (2, 5, 3)}, (2, 5, 3), 1),
]


def _exported_layer_classes():
    classes = {getattr(layers, name) for name in layers.__all__}
    return {c for c in classes if inspect.isclass(c) and issubclass(c, keras.layers.Layer)}


def test_every_exported_layer_has_a_harness_case():
    # StructuredDense is the abstract base: it has no structure of its own to instantiate.
    missing = _exported_layer_classes() - {layers.StructuredDense} - {c[0] for c in CASES}
    assert not missing, f"add a run_layer_test case for {sorted(c.__name__ for c in missing)}"


NAMED = ("features", "positions", "velocities", "node_mask", "edge_attributes", "charges")


def _named(values):
    """Keyword values back to the layer's dict of named inputs (`node_mask` is its `mask`;
    Keras names shapes `<input>_shape` when it builds, `<input>` when the harness does)."""
    names = {k.removesuffix("_shape"): v for k, v in values.items() if v is not None}
    return {("mask" if k == "node_mask" else k): names[k] for k in NAMED if k in names}


class _KeywordInputs:
    """`run_layer_test` calls a layer on a dict of inputs as `layer(**inputs)`; the point-cloud
    layers take one dict. This mixin takes the keywords (`node_mask` for `mask`, a name Keras
    reserves) and hands the dict on, so Keras' own harness checks the layers unchanged."""

    def build(self, features_shape=None, positions_shape=None, velocities_shape=None,
              node_mask_shape=None, edge_attributes_shape=None, charges_shape=None, **bare):
        shapes = {k: v for k, v in locals().items() if k.endswith("_shape")}
        if isinstance(features_shape, dict):
            shapes = features_shape
        super().build(_named({**shapes, **bare}))

    def call(self, features=None, positions=None, velocities=None, node_mask=None,
             edge_attributes=None, charges=None):
        if isinstance(features, dict):  # a functional model of the harness passes the dict
            return super().call(_named(features))
        return super().call(_named(locals()))

    def compute_output_shape(self, features_shape=None, positions_shape=None,
                             velocities_shape=None, node_mask_shape=None,
                             edge_attributes_shape=None, charges_shape=None, **bare):
        shapes = {k: v for k, v in locals().items() if k.endswith("_shape")}
        if isinstance(features_shape, dict):
            shapes = features_shape
        return super().compute_output_shape(_named({**shapes, **bare}))


class _Harness(TestCase):
    def runTest(self):  # unittest wants one; the harness is called directly
        pass


@pytest.mark.parametrize(
    "layer_cls,init_kwargs,input_shape,output_shape,trainable",
    CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_keras_run_layer_test(layer_cls, init_kwargs, input_shape, output_shape, trainable):
    if layer_cls is DenseTranspose:
        # The tie is to a layer object: every instance the harness makes shares this one.
        source = keras.layers.Dense(3)
        source.build((None, output_shape[-1]))
        init_kwargs = {"source": source}
    if layer_cls is GroupAveraged:
        # The wrapped model is a layer object too: a plain Dense, averaged over C_5's shifts.
        init_kwargs = {**init_kwargs, "model": keras.layers.Dense(5)}
    if isinstance(input_shape, dict):
        layer_cls = type(layer_cls.__name__, (_KeywordInputs, layer_cls), {})
    _Harness().run_layer_test(
        layer_cls,
        init_kwargs=init_kwargs,
        input_shape=input_shape,
        expected_output_shape=output_shape,
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=0,
        expected_num_seed_generators=0,
        expected_num_losses=0,
        supports_masking=None,
        custom_objects={layer_cls.__name__: layer_cls},
    )
