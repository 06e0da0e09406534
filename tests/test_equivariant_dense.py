"""EquivariantDense and its bases: closed forms, equivariance, parameter counts, saving, errors."""

import keras
import numpy as np
import pytest

from eqzoo.layers.equivariance import assert_equivariant, equivariance_error
from eqzoo.layers.equivariant_basis import (
    CirculantBasis,
    DeepSetsBasis,
    DenseBasis,
    OrbitBasis,
    commutant_basis,
    invariant_basis,
)
from eqzoo.layers.equivariant_dense import INIT_SCALINGS, EquivariantDense
from eqzoo.layers.fold import fold_to_dense
from eqzoo.layers.groups import (
    CyclicGroup,
    DihedralGroup,
    FiniteGroup,
    SymmetricGroup,
    TrivialGroup,
)
from eqzoo.layers.representations import DefiningRep, DirectSum, RegularRep, TrivialRep
from eqzoo.layers.symmetric_dense import SymmetricDense
from tests.backend_tools import float64_tol, to_numpy
from tests.layer_checks import (
    GRADIENT_DTYPE,
    assert_every_variable_gets_the_finite_difference_gradient,
    assert_layer_is_equivariant,
    run_layer_checks,
    span_rank,
)

KLEIN = FiniteGroup([np.diag([-1.0, 1.0]), np.diag([1.0, -1.0])], name="KleinFourGroup")
C4_ROTATIONS = FiniteGroup([[[0.0, -1.0], [1.0, 0.0]]], name="C4Rotations")
# A non-orthogonal reflection, M^2 = I: rho(g)^T != rho(g)^-1, so it catches a transposed
# convention (for orthogonal representations both conventions give the same commutant).
SHEAR = FiniteGroup([[[1.0, 1.0], [0.0, -1.0]]], name="ShearReflection")
S5, C6, D6, C5, D5 = (SymmetricGroup(5), CyclicGroup(6), DihedralGroup(6), CyclicGroup(5),
                      DihedralGroup(5))


def points(group, channels=None):
    rep = DefiningRep(group)
    return rep if channels is None else rep.channels(channels)


# (rep_in, rep_out, expected basis dimension from the closed form)
CLOSED_FORMS = {
    "S5": (points(S5), points(S5), 2),
    "S5_channels": (points(S5, 2), points(S5, 3), 2 * 2 * 3),
    "C6_circulant": (points(C6), points(C6), 6),
    "C5_channels": (points(C5, 2), points(C5, 2), 5 * 4),
    "D6_symmetric_circulant": (points(D6), points(D6), 6 // 2 + 1),
    "D5_channels": (points(D5, 3), points(D5, 1), (5 // 2 + 1) * 3),
    "S5_invariant": (points(S5, 2), TrivialRep(S5, 3), 2 * 3),
}

# Pairs the layer must be equivariant for: every group kind, trivial outputs, channels, sums.
PAIRS = {
    **{k: v[:2] for k, v in CLOSED_FORMS.items()},
    "C6_to_trivial": (points(C6), TrivialRep(C6, 2)),
    "D6_sum": (DirectSum(points(D6), TrivialRep(D6)), points(D6, 2)),
    "klein": (points(KLEIN, 2), points(KLEIN, 3)),
    "klein_regular": (RegularRep(KLEIN), points(KLEIN)),
    "c4_rotations": (points(C4_ROTATIONS, 2), points(C4_ROTATIONS, 2)),
    "c4_rotations_regular": (RegularRep(C4_ROTATIONS), RegularRep(C4_ROTATIONS)),
    "shear": (points(SHEAR, 2), points(SHEAR)),
    "shear_regular": (RegularRep(SHEAR), DirectSum(points(SHEAR), TrivialRep(SHEAR))),
}


def character_dimension(rep_in, rep_out):
    """dim Hom_G(rep_in, rep_out) = (1/|G|) sum_g chi_in(g) chi_out(g) (real representations)."""
    group = rep_in.group
    total = sum(rep_in.character(g) * rep_out.character(g) for g in group.elements())
    return total / group.order


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_closed_form_matches_computed_basis(name):
    rep_in, rep_out, expected = CLOSED_FORMS[name]
    closed = commutant_basis(rep_in, rep_out)
    computed = commutant_basis(rep_in, rep_out, method="dense")
    group = rep_in.group
    kind = DeepSetsBasis if isinstance(group, SymmetricGroup) else CirculantBasis
    assert isinstance(closed, kind if isinstance(rep_out, type(rep_in)) else OrbitBasis), closed
    assert isinstance(computed, DenseBasis)
    assert closed.dim == computed.dim == expected == round(character_dimension(rep_in, rep_out))
    assert span_rank(closed) == span_rank(computed) == span_rank(closed, computed) == expected


@pytest.mark.parametrize("name", PAIRS)
def test_every_basis_element_is_equivariant(name):
    rep_in, rep_out = PAIRS[name]
    basis = commutant_basis(rep_in, rep_out)
    assert basis.dim == round(character_dimension(rep_in, rep_out))
    assert span_rank(basis) == basis.dim
    for w in basis.dense():
        for g in rep_in.group.generators:
            np.testing.assert_allclose(rep_in(g).T @ w, w @ rep_out(g).T, atol=1e-10)


def test_closed_forms_are_the_textbook_kernels():
    n = 6
    coefficients = to_numpy(np.arange(1.0, n + 1.0))
    basis = commutant_basis(points(C6), points(C6))
    circulant = keras.ops.convert_to_numpy(basis.assemble(coefficients))
    expected = np.array([[coefficients[(j - i) % n] for j in range(n)] for i in range(n)])
    np.testing.assert_array_equal(circulant, expected)
    deep_sets = keras.ops.convert_to_numpy(
        commutant_basis(points(S5), points(S5)).assemble(to_numpy([2.0, 0.5])))
    np.testing.assert_array_equal(deep_sets, 2.0 * np.eye(5) + 0.5)
    dihedral = commutant_basis(points(D6), points(D6)).dense()
    assert all(np.array_equal(w, w.T) for w in dihedral)


@pytest.mark.parametrize("rep_in, rep_out, symmetric", [
    (points(C5, 2), points(C5, 3), False),
    (points(C5, 3), points(C5), False),
    (points(D6, 2), points(D6, 2), False),
    (points(C6), points(C6), True),
])
def test_circulant_assembly_equals_the_orbit_gather(rep_in, rep_out, symmetric):
    basis = commutant_basis(rep_in, rep_out, symmetric)
    assert isinstance(basis, CirculantBasis)
    coefficients = to_numpy(np.random.default_rng(0).normal(size=basis.dim))
    gathered = OrbitBasis.assemble(basis, coefficients)
    np.testing.assert_array_equal(basis.assemble(coefficients), gathered)


def test_large_closed_forms_never_build_a_dense_basis():
    n = 512
    for group in (SymmetricGroup(n), CyclicGroup(n), DihedralGroup(n)):
        basis = commutant_basis(points(group), points(group))
        assert not isinstance(basis, DenseBasis), basis
        assert basis.dim == {SymmetricGroup: 2, CyclicGroup: n, DihedralGroup: n // 2 + 1}[
            type(group)]


def test_projection_is_least_squares():
    rng = np.random.default_rng(0)
    for rep_in, rep_out in PAIRS.values():
        basis = commutant_basis(rep_in, rep_out)
        coefficients = rng.normal(size=basis.dim)
        kernel = basis.assemble(to_numpy(coefficients))
        np.testing.assert_allclose(to_numpy(basis.project(kernel)), coefficients,
                                   atol=float64_tol(1e-10))
        matrix = rng.normal(size=basis.shape)
        residual = matrix - to_numpy(basis.assemble(basis.project(matrix)))
        # The residual of an orthogonal projection is orthogonal to every basis element.
        np.testing.assert_allclose(np.tensordot(basis.dense(), residual, 2), 0.0,
                                   atol=float64_tol(1e-10))


@pytest.mark.parametrize("name", PAIRS)
def test_layer_is_equivariant(name):
    assert_layer_is_equivariant(*PAIRS[name], seed=1)


@pytest.mark.parametrize("rep_in, rep_out, kernel, bias", [
    (points(S5), None, 2, 1),
    (points(S5, 3), points(S5, 4), 24, 4),
    (points(S5, 3), TrivialRep(S5, 4), 12, 4),
    (points(C6), None, 6, 1),
    (points(D6, 2), None, 4 * 4, 2),
    (RegularRep(KLEIN), None, 4, 1),
    (points(C4_ROTATIONS), None, 2, 0),  # no rotation-invariant vector in the plane
    (points(KLEIN, 2), points(KLEIN), 4, 0),
])
def test_parameter_counts(rep_in, rep_out, kernel, bias):
    layer = EquivariantDense(rep_in, rep_out)
    layer.build((None, rep_in.dim))
    assert layer.count_params() == kernel + bias
    assert tuple(layer.stored_kernel.shape) == (kernel,)
    assert invariant_basis(layer.rep_out).dim == bias


def test_symmetric_trivial_group_is_symmetric_dense():
    n = 5
    rep = points(TrivialGroup(n))
    basis = commutant_basis(rep, rep, symmetric=True)
    assert basis.dim == n * (n + 1) // 2 == commutant_basis(rep, rep, True, "dense").dim
    layer = EquivariantDense(rep, symmetric=True)
    layer.build((None, n))
    reference = SymmetricDense()
    reference.build((None, n))
    assert layer.count_params() == reference.count_params() == n * (n + 1) // 2 + n
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert np.array_equal(kernel, kernel.T)


@pytest.mark.parametrize("rep, expected", [
    (points(C6), 6 // 2 + 1),
    (points(CyclicGroup(7)), 7 // 2 + 1),
    (points(S5), 2),
    (points(S5, 2), 3 + 3),
    (points(C4_ROTATIONS), 1),
])
def test_symmetric_intersection(rep, expected):
    closed = commutant_basis(rep, rep, symmetric=True)
    dense = commutant_basis(rep, rep, symmetric=True, method="dense")
    assert closed.dim == dense.dim == span_rank(closed, dense) == expected
    layer = EquivariantDense(rep, symmetric=True, bias_initializer="random_normal")
    assert_equivariant(layer, rep.group, rep, rep, atol=1e-5)
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-7)


@pytest.mark.parametrize("make_layer, input_shape, output_shape, trainable", [
    (lambda: EquivariantDense(points(S5), activation="relu"), (5,), (5,), 3),
    (lambda: EquivariantDense(points(S5, 2), points(S5, 3)), (5, 2), (5, 3), 12 + 3),
    (lambda: EquivariantDense(points(D6, 2), TrivialRep(D6, 3), use_bias=False), (6, 2), (3,),
     6),
    (lambda: EquivariantDense(points(C4_ROTATIONS, 2), points(C4_ROTATIONS)), (4,), (2,), 4),
])
def test_layer_checks(make_layer, input_shape, output_shape, trainable):
    run_layer_checks(make_layer, input_shape, expected_output_shape=output_shape,
                     expected_trainable=trainable)


def test_saved_model_keeps_group_and_equivariance(tmp_path):
    rep_in, rep_hidden = points(KLEIN, 2), RegularRep(KLEIN)
    inputs = keras.Input((2, 2))
    hidden = EquivariantDense(rep_in, rep_hidden, activation="relu")(inputs)
    outputs = EquivariantDense(rep_hidden, TrivialRep(KLEIN, 1))(hidden)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(4, 2, 2)).astype("float32")
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    layer = loaded.layers[1]
    assert layer.rep_in == rep_in and layer.rep_in.group.name == "KleinFourGroup"
    assert_equivariant(loaded, KLEIN, rep_in, TrivialRep(KLEIN, 1), atol=1e-5)


def test_deep_sets_layer_matches_hand_computation():
    n, c_in, c_out = 4, 2, 3
    rep_in, rep_out = points(SymmetricGroup(n), c_in), points(SymmetricGroup(n), c_out)
    layer = EquivariantDense(rep_in, rep_out, bias_initializer="random_normal")
    x = np.random.default_rng(0).normal(size=(2, n, c_in)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    coefficients = keras.ops.convert_to_numpy(layer.stored_kernel)
    lam, gam = coefficients[:6].reshape(c_in, c_out), coefficients[6:].reshape(c_in, c_out)
    bias = keras.ops.convert_to_numpy(layer.bias).reshape(n, c_out)
    assert np.all(bias == bias[0])  # invariant bias: the same for every point
    expected = x @ lam + x.sum(axis=1, keepdims=True) @ gam + bias
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_gradients_reach_every_coefficient_and_match_finite_differences():
    rep_in, rep_out = points(D6, 2), points(D6, 2)
    layer = EquivariantDense(rep_in, rep_out, activation="tanh", dtype=GRADIENT_DTYPE,
                             bias_initializer="random_normal")
    assert_every_variable_gets_the_finite_difference_gradient(layer, (3, 6, 2), (3, 6, 2))


def test_initial_kernel_has_the_initializers_scale():
    n = 64
    for group in (SymmetricGroup(n), CyclicGroup(n), DihedralGroup(n)):
        layer = EquivariantDense(points(group))
        layer.build((None, n))
        rms = np.sqrt(np.mean(keras.ops.convert_to_numpy(layer.kernel) ** 2))
        glorot_rms = np.sqrt(1.0 / n)  # uniform on +-sqrt(6 / 2n): variance 1 / n
        assert 0.5 * glorot_rms < rms < 2.0 * glorot_rms, (group, rms)


def test_project_scaling_starts_from_the_bare_projection_of_the_draw():
    # Same seeded draw, two scalings: "match" is "project" times sqrt(n_in n_out / dim), and
    # "project" is the least-squares projection of the draw itself (numpy's lstsq on the basis).
    rep_in, rep_out = points(D6, 2), points(D6, 3)
    kernels = {}
    for scaling in INIT_SCALINGS:
        layer = EquivariantDense(rep_in, rep_out, init_scaling=scaling,
                                 kernel_initializer=keras.initializers.RandomNormal(seed=3))
        layer.build((None, rep_in.dim))
        kernels[scaling] = keras.ops.convert_to_numpy(layer.kernel).astype("float64")
        config = layer.get_config()
        assert config["init_scaling"] == scaling
        assert EquivariantDense.from_config(config).init_scaling == scaling
    dim = layer.basis.dim
    np.testing.assert_allclose(kernels["match"],
                               kernels["project"] * np.sqrt(rep_in.dim * rep_out.dim / dim),
                               rtol=1e-5, atol=1e-6)
    draw = keras.ops.convert_to_numpy(keras.initializers.RandomNormal(seed=3)(
        (rep_in.dim, rep_out.dim))).astype("float64")
    basis = layer.basis.dense().reshape(dim, -1).T
    coefficients = np.linalg.lstsq(basis, draw.ravel(), rcond=None)[0]
    np.testing.assert_allclose(kernels["project"].ravel(), basis @ coefficients, atol=1e-5)


def test_set_kernel_and_fold_to_dense():
    rep = points(C5, 2)
    layer = EquivariantDense(rep, points(C5, 3), activation="relu",
                             bias_initializer="random_normal")
    x = np.random.default_rng(0).normal(size=(2, 5, 2)).astype("float32")
    layer(x)
    other = commutant_basis(rep, points(C5, 3)).dense()
    kernel = np.tensordot(np.arange(other.shape[0], dtype="float64"), other, 1)
    layer.set_kernel(kernel)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.kernel), kernel, atol=1e-6)
    with pytest.raises(ValueError, match="can only hold kernels equivariant"):
        layer.set_kernel(np.random.default_rng(1).normal(size=(10, 15)))
    model = keras.Sequential([keras.Input((5, 2)), layer])
    folded = fold_to_dense(model)
    assert isinstance(folded.layers[0], keras.layers.EinsumDense)
    np.testing.assert_allclose(to_numpy(folded(x)), to_numpy(model(x)), atol=1e-5)
    flat = EquivariantDense(points(S5))
    flat_model = keras.Sequential([keras.Input((5,)), flat])
    assert isinstance(fold_to_dense(flat_model).layers[0], keras.layers.Dense)


@pytest.mark.parametrize("group, bias_shape", [(C5, (1,)), (TrivialGroup(5), (5, 1))])
def test_fold_keeps_one_bias_per_channel_when_the_group_moves_every_point(group, bias_shape):
    """A transitive group's invariant bias is equal at every point: the fold stores it per
    channel (which TFLite's converter needs for one output channel); otherwise per point."""
    layer = EquivariantDense(points(group, 2), points(group, 1), bias_initializer="random_normal")
    model = keras.Sequential([keras.Input((5, 2)), layer])
    folded = fold_to_dense(model)
    assert tuple(folded.layers[0].bias.shape) == bias_shape
    x = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    np.testing.assert_allclose(to_numpy(folded(x)), to_numpy(model(x)), atol=1e-6)
    assert len(set(to_numpy(layer.bias).tolist())) == (1 if bias_shape == (1,) else 5)


@pytest.mark.parametrize("make, message", [
    (lambda: EquivariantDense(points(C5))(np.ones((2, 4), "float32")),
     r"trailing shape is \(5,\). Received: input_shape=\(2, 4\)"),
    (lambda: EquivariantDense(points(C5, 2))(np.ones((2, 5, 3), "float32")),
     r"\(10,\) or \(5, 2\). Received: input_shape=\(2, 5, 3\)"),
    (lambda: EquivariantDense(points(C5), points(D5)), "must represent the same group"),
    (lambda: EquivariantDense(points(C5), points(C6)), "must represent the same group"),
    (lambda: EquivariantDense(points(C5), TrivialRep(C5), symmetric=True),
     "symmetric=True needs a square kernel"),
    (lambda: EquivariantDense(points(SHEAR), symmetric=True),
     "only well defined for an orthogonal representation"),
    (lambda: EquivariantDense(points(C4_ROTATIONS), TrivialRep(C4_ROTATIONS)),
     "equivariant is zero"),
    (lambda: EquivariantDense(points(C5), units=5), "not from `units`. Received: units=5"),
    (lambda: EquivariantDense(points(C5), init_scaling="glorot"),
     r"one of \('match', 'project'\). Received: init_scaling='glorot'"),
    (lambda: EquivariantDense({"rep": "Spin"}), "Unknown representation config"),
    (lambda: commutant_basis(points(CyclicGroup(70)), points(CyclicGroup(70)), method="dense"),
     r"needs n_in \* n_out <= 4096"),
])
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_dense_map_fails_the_check_that_the_layer_passes():
    rep = points(C6, 2)
    dense = keras.layers.Dense(rep.dim)
    assert equivariance_error(dense, C6, rep, rep, inputs=np.ones((2, 12), "float32")) > 1e-2
