"""assert_equivariant / equivariance_error pass equivariant maps and name the worst element."""

import json
import re

import keras
import numpy as np
import pytest

from eqzoo.layers.equivariance import assert_equivariant, equivariance_error
from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.groups import CyclicGroup, DihedralGroup, FiniteGroup, SymmetricGroup
from eqzoo.layers.representations import DefiningRep, TrivialRep
from tests.backend_tools import to_numpy

C4_ROTATIONS = FiniteGroup([[[0.0, -1.0], [1.0, 0.0]]], name="C4Rotations")


def test_equivariant_numpy_maps_pass_on_both_layouts():
    group = SymmetricGroup(5)
    points = DefiningRep(group).channels(3)
    # A set function: (batch, n, c) -> per-point features and a pooled, invariant summary.
    assert_equivariant(lambda x: np.tanh(x) - x.mean(axis=1, keepdims=True), group, points,
                       points)
    assert_equivariant(lambda x: x.sum(axis=1), group, points, TrivialRep(group, 3))
    # The same maps on flat inputs, (batch, n * c).
    flat = np.random.default_rng(0).normal(size=(2, 15)).astype("float32")
    assert_equivariant(lambda x: x * 2.0, group, points, points, inputs=flat)
    assert equivariance_error(lambda x: x.reshape(-1, 5, 3).max(axis=1), group, points,
                              TrivialRep(group, 3), inputs=flat) == 0.0


def test_non_equivariant_dense_fails_with_the_worst_permutation():
    group = SymmetricGroup(4)
    rep = DefiningRep(group)
    dense = keras.layers.Dense(4, name="plain_dense")
    with pytest.raises(AssertionError) as info:
        assert_equivariant(dense, group, rep, rep, n_samples=5, atol=1e-5)
    message = str(info.value)
    assert "'plain_dense' is not equivariant from DefiningRep(SymmetricGroup(4))" in message
    assert "> atol=1e-05" in message
    worst = re.search(r"Worst element g: permutation (\[[\d, ]+\])", message)
    assert worst is not None, message
    # The reported error is the one that element really produces.
    g = np.eye(4)[json.loads(worst.group(1))]
    error = float(re.search(r"\| = ([\d.e+-]+) >", message).group(1))
    x = np.random.default_rng(0).normal(size=(4, 4)).astype("float32")
    own = np.max(np.abs(to_numpy(dense(x @ g.T)) - to_numpy(dense(x)) @ g.T))
    assert own == pytest.approx(error, rel=1e-2)


def test_worst_element_is_a_reflection_for_a_shift_equivariant_map():
    n = 6
    circular = DefiningRep(CyclicGroup(n))
    layer = EquivariantDense(circular, activation="relu")  # circulant: shifts only
    layer.build((None, n))
    dihedral = DefiningRep(DihedralGroup(n))
    layer.set_kernel(np.stack([np.roll(np.arange(n, dtype="float32"), i) for i in range(n)]))
    assert_equivariant(layer, CyclicGroup(n), circular, circular)
    with pytest.raises(AssertionError, match="Worst element g: permutation") as info:
        assert_equivariant(layer, DihedralGroup(n), dihedral, dihedral)
    p = np.array(json.loads(re.search(r"permutation (\[[\d, ]+\])", str(info.value)).group(1)))
    shifts = [np.roll(np.arange(n), -k) for k in range(n)]
    assert not any(np.array_equal(p, s) for s in shifts), p


def test_matrix_groups_are_reported_as_matrices():
    rep = DefiningRep(C4_ROTATIONS)
    with pytest.raises(AssertionError, match=r"Worst element g: matrix \[\["):
        assert_equivariant(lambda x: x * np.array([1.0, 2.0]), C4_ROTATIONS, rep, rep)
    assert_equivariant(lambda x: x * 3.0, C4_ROTATIONS, rep, rep)


def test_atol_and_seed():
    group = CyclicGroup(5)
    rep = DefiningRep(group)
    noise = np.random.default_rng(7).normal(size=5) * 1e-3

    def nearly(x):
        return x + noise  # an additive non-invariant bias: error up to 2e-3

    error = equivariance_error(nearly, group, rep, rep, seed=3)
    assert 1e-4 < error < 4e-3
    assert error == equivariance_error(nearly, group, rep, rep, seed=3)
    assert_equivariant(nearly, group, rep, rep, atol=1e-2)
    with pytest.raises(AssertionError):
        assert_equivariant(nearly, group, rep, rep, atol=1e-4)
    with pytest.raises(AssertionError, match="inf"):
        assert_equivariant(lambda x: np.full_like(x, np.nan), group, rep, rep)


def test_works_on_a_keras_model():
    group = SymmetricGroup(6)
    points_in, hidden = DefiningRep(group).channels(2), DefiningRep(group).channels(8)
    inputs = keras.Input((6, 2))
    x = EquivariantDense(points_in, hidden, activation="relu")(inputs)
    x = EquivariantDense(hidden, hidden, activation="relu")(x)
    outputs = EquivariantDense(hidden, TrivialRep(group, 3))(x)
    model = keras.Model(inputs, outputs)
    assert_equivariant(model, group, points_in, TrivialRep(group, 3), n_samples=10, atol=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: assert_equivariant(lambda x: x, CyclicGroup(4), DefiningRep(CyclicGroup(4)),
                                DefiningRep(DihedralGroup(4))),
     r"rep_out=DefiningRep\(DihedralGroup\(4\)\), a representation of DihedralGroup\(4\)"),
    (lambda: equivariance_error(lambda x: x, SymmetricGroup(3), DefiningRep(CyclicGroup(3)),
                                DefiningRep(CyclicGroup(3))), "of the group under test"),
    (lambda: equivariance_error(lambda x: x[:, :2], CyclicGroup(3),
                                DefiningRep(CyclicGroup(3)), DefiningRep(CyclicGroup(3))),
     r"f's output does not match rep_out: .*Received: shape=\(4, 2\)"),
    (lambda: equivariance_error(lambda x: x, CyclicGroup(3), DefiningRep(CyclicGroup(3)),
                                DefiningRep(CyclicGroup(3)), inputs=np.ones((2, 4))),
     r"trailing shape is \(3,\)"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_describes_takes_a_representations_shape_its_flat_values_or_named_shapes():
    from eqzoo.layers.equivariance import describes
    from eqzoo.layers.groups import O
    from eqzoo.layers.point_clouds import EuclideanGroup, PointCloudRep

    V = DefiningRep(O(3))
    T2 = V ** 2  # shape (3, 3)
    flat = keras.Model(*(lambda x: (x, keras.layers.Dense(9)(x)))(keras.Input((9,))))
    square = keras.Model(*(lambda x: (x, keras.layers.Dense(3)(keras.layers.Flatten()(x))))(
        keras.Input((3, 3))))
    assert describes(T2, T2, flat)  # (9,) is T(2)'s values, flattened row-major
    assert describes(T2, V, square) and not describes(T2, T2, square)
    assert not describes(V, T2, flat)  # (9,) is not a vector of R^3

    group = EuclideanGroup(3, 5)
    cloud = PointCloudRep(group, {"positions": "position", "velocities": "vector"})
    inputs = {"positions": keras.Input((5, 3), name="positions"),
              "velocities": keras.Input((5, 3), name="velocities")}
    model = keras.Model(inputs, keras.layers.Add()([inputs["positions"], inputs["velocities"]]))
    assert describes(cloud, PointCloudRep(group, "position"), model)
    assert not describes(PointCloudRep(group, {"positions": "position"}),
                         PointCloudRep(group, "position"), model)  # a name is missing
    assert not describes(V, V, model)
