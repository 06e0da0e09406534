"""The public layer API: what is registered for serialization is exported, and the hooks every
StructuredDense shares (one symmetry claim, one symmetry check) mean the same in every layer."""

import importlib
import inspect
import pkgutil

import keras
import numpy as np
import pytest

import eqzoo.datasets
import eqzoo.layers
import eqzoo.zoo
from eqzoo import layers
from eqzoo.layers.groups import SymmetricGroup
from eqzoo.layers.inspection import symmetry_residuals
from eqzoo.layers.representations import DefiningRep
from tests.backend_tools import to_numpy
from tests.extras import import_unless_extra_missing

# Where a user finds things; a name counts as exported when it is in the module's `__all__`.
PUBLIC_MODULES = ["eqzoo.layers", "eqzoo.layers.groups", "eqzoo.layers.representations",
                  "eqzoo.zoo", "eqzoo.datasets"]


def _import_every_module():
    """Imports every module of the package, so that every registration has run; a module that
    needs an absent extra (layers/_symmetric_matmul_torch.py without PyTorch) is passed over."""
    for package in (eqzoo.layers, eqzoo.zoo, eqzoo.datasets):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            import_unless_extra_missing(module.name)
    importlib.import_module("eqzoo.train")


def _unexported(registered, modules):
    """The registered names `eqzoo>Name` whose object no public module exports as `Name`."""
    return sorted(
        key for key, obj in registered.items()
        if not any(key.split(">", 1)[1] in getattr(m, "__all__", ())
                   and getattr(m, key.split(">", 1)[1]) is obj for m in modules)
    )


def _registered():
    return {key: obj for key, obj in keras.saving.get_custom_objects().items()
            if key.startswith("eqzoo>")}


def test_every_class_registered_for_serialization_is_exported():
    _import_every_module()
    registered = _registered()
    assert "eqzoo>SymmetricDense" in registered
    modules = [importlib.import_module(name) for name in PUBLIC_MODULES]
    missing = _unexported(registered, modules)
    assert not missing, f"registered for serialization but exported by no public module: {missing}"


def test_the_export_check_catches_a_registered_class_nobody_exports():
    class UnexportedLayer(keras.layers.Layer):
        pass

    registered = {**_registered(), "eqzoo>UnexportedLayer": UnexportedLayer,
                  # exported, but as another object than the one registered
                  "eqzoo>SymmetricDense": UnexportedLayer}
    modules = [importlib.import_module(name) for name in PUBLIC_MODULES]
    assert _unexported(registered, modules) == ["eqzoo>SymmetricDense", "eqzoo>UnexportedLayer"]


def test_every_exported_layer_and_constraint_is_registered_under_its_name():
    # StructuredDense is the abstract base: there is nothing of it to save.
    for name in layers.__all__:
        obj = getattr(layers, name)
        savable = (keras.layers.Layer, keras.constraints.Constraint)
        if inspect.isclass(obj) and issubclass(obj, savable) and obj is not layers.StructuredDense:
            assert keras.saving.get_registered_name(obj) == f"eqzoo>{name}", name


def test_groups_and_representations_are_namespaces_of_their_own():
    maths = (layers.groups.FiniteGroup, layers.representations.Representation)
    mixed = [name for name in layers.__all__
             if inspect.isclass(getattr(layers, name)) and issubclass(getattr(layers, name), maths)]
    assert not mixed, f"groups and representations belong in their own namespaces: {mixed}"
    assert layers.groups.SymmetricGroup is SymmetricGroup
    assert layers.representations.DefiningRep is DefiningRep


# Each exported StructuredDense, and whether its kernel is always symmetric.
STRUCTURED = {
    "SymmetricDense": (lambda: layers.SymmetricDense(), True),
    "SymmetricDense-triangular": (lambda: layers.SymmetricDense(parametrization="triangular"),
                                  True),
    "SymmetricDenseLayerLowerTriangular": (lambda: layers.SymmetricDenseLayerLowerTriangular(4),
                                           True),
    "SymmetricDenseLayerFlatVector": (lambda: layers.SymmetricDenseLayerFlatVector(4), True),
    "SymmetricDenseLayerMasked": (lambda: layers.SymmetricDenseLayerMasked(4), True),
    "PositiveDefiniteDense": (lambda: layers.PositiveDefiniteDense(epsilon=0.1), True),
    "BoundedSpectrumDense": (lambda: layers.BoundedSpectrumDense(spectrum=(-1.0, 1.0)), True),
    "SkewSymmetricDense": (lambda: layers.SkewSymmetricDense(), False),
    "EquivariantDense": (lambda: layers.EquivariantDense(DefiningRep(SymmetricGroup(4))), False),
}


def test_every_exported_structured_layer_has_a_contract_case():
    exported = {getattr(layers, name) for name in layers.__all__}
    structured = {c for c in exported
                  if inspect.isclass(c) and issubclass(c, layers.StructuredDense)}
    covered = {type(make()) for make, _ in STRUCTURED.values()}
    assert structured - {layers.StructuredDense} == covered


@pytest.mark.parametrize("case", STRUCTURED)
def test_symmetric_kernels_are_claimed_and_checked_the_same_way(case):
    make, symmetric = STRUCTURED[case]
    layer = make()
    model = keras.Sequential([keras.Input((4,)), layer])
    assert layer.symmetric_kernel is symmetric
    claimed = layer.symmetric_matrices()
    if symmetric:
        assert len(claimed) == 1
        np.testing.assert_array_equal(to_numpy(claimed[0]), to_numpy(layer.kernel))
        assert symmetry_residuals(model) == {layer.name: 0.0}
    else:
        assert claimed == [] and symmetry_residuals(model) == {}

    asymmetric = to_numpy(layer.kernel, "float64").copy()
    asymmetric[0, 1] += 0.5
    match = r"can only hold a symmetric kernel\. Received a matrix with max \|W - W\^T\| = 0\.5"
    if symmetric:
        with pytest.raises(ValueError, match=match):
            layer.set_kernel(asymmetric)
    else:  # refused for its own structure, never for a missing symmetry
        with pytest.raises(ValueError) as error:
            layer.set_kernel(asymmetric)
        assert "hold a symmetric kernel" not in str(error.value)
