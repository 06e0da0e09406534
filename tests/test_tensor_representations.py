"""Tensor products and (anti)symmetric squares; S_n's closed forms between matrices, points and
invariants (PartitionBasis); EquivariantDense on n x n matrices."""

import keras
import numpy as np
import pytest

from eqzoo.layers.equivariance import assert_equivariant
from eqzoo.layers.equivariant_basis import DenseBasis, OrbitBasis, PartitionBasis, commutant_basis
from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.fold import fold_to_dense
from eqzoo.layers.groups import CyclicGroup, DihedralGroup, FiniteGroup, SymmetricGroup
from eqzoo.layers.representations import (
    AntisymmetricSquare,
    DefiningRep,
    SymmetricSquare,
    TensorProduct,
    TrivialRep,
    rep_from_config,
)
from tests.backend_tools import float64_tol, to_numpy
from tests.layer_checks import (
    GRADIENT_DTYPE,
    assert_every_variable_gets_the_finite_difference_gradient,
    assert_layer_is_equivariant,
    run_layer_checks,
    span_rank,
)

C4_ROTATIONS = FiniteGroup([[[0.0, -1.0], [1.0, 0.0]]], name="C4Rotations")
SHEAR = FiniteGroup([[[1.0, 1.0], [0.0, -1.0]]], name="ShearReflection")  # not orthogonal
GROUPS = {"S3": SymmetricGroup(3), "S4": SymmetricGroup(4), "C4": CyclicGroup(4),
          "D4": DihedralGroup(4), "C4_rotations": C4_ROTATIONS, "shear": SHEAR}


def character(kind, g):
    """The character of each representation at g, from the defining matrix g alone:
    chi_V = tr g, chi_{V (x) V} = chi^2, chi_{Sym^2} = (chi^2 + chi(g^2)) / 2,
    chi_{Lambda^2} = (chi^2 - chi(g^2)) / 2, chi_1 = 1."""
    chi, chi_square = np.trace(g), np.trace(g @ g)
    return {"V": chi, "VxV": chi**2, "Sym2": (chi**2 + chi_square) / 2,
            "Alt2": (chi**2 - chi_square) / 2, "1": 1.0}[kind]


def character_dimension(group, kind_in, kind_out):
    """dim Hom_G = (1/|G|) sum_g chi_in(g) chi_out(g) (real characters)."""
    elements = group.elements()
    return sum(character(kind_in, g) * character(kind_out, g) for g in elements) / len(elements)


def make(kind, group):
    v = DefiningRep(group)
    return {"V": v, "VxV": v * v, "Sym2": SymmetricSquare(v), "Alt2": AntisymmetricSquare(v),
            "1": TrivialRep(group)}[kind]


KINDS = ["V", "VxV", "Sym2", "Alt2", "1"]


@pytest.mark.parametrize("group_name", GROUPS)
def test_characters_match_the_formulas(group_name):
    group = GROUPS[group_name]
    for kind in KINDS:
        rep = make(kind, group)
        for g in group.elements():
            assert rep.character(g) == pytest.approx(character(kind, g)), (kind, g)
            if rep.is_permutation:  # a permutation representation's matrix is a permutation
                np.testing.assert_array_equal(rep.matrix(g)[np.arange(rep.dim),
                                                            rep.permutation(g)], 1.0)


@pytest.mark.parametrize("group_name", GROUPS)
def test_basis_dimensions_follow_the_character_formula(group_name):
    group = GROUPS[group_name]
    for kind_in in KINDS:
        for kind_out in KINDS:
            rep_in, rep_out = make(kind_in, group), make(kind_out, group)
            expected = character_dimension(group, kind_in, kind_out)
            assert expected == pytest.approx(round(expected))
            basis = commutant_basis(rep_in, rep_out)
            assert basis.dim == round(expected), (kind_in, kind_out, basis)
            if basis.dim == 0:
                continue
            assert span_rank(basis) == basis.dim
            for w in basis.dense():
                for g in group.generators:
                    np.testing.assert_allclose(rep_in(g).T @ w, w @ rep_out(g).T, atol=1e-9)


def test_layouts_are_the_matrix_actions():
    """V * V moves an n x n array as P X P^T; the squares move the packed upper triangles."""
    group = SymmetricGroup(5)
    v = DefiningRep(group)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 5))
    symmetric, antisymmetric = x + x.transpose(0, 2, 1), x - x.transpose(0, 2, 1)
    upper, strict = np.triu_indices(5), np.triu_indices(5, 1)
    for g in group.sample(4, seed=1) + [to_numpy(DihedralGroup(5).generators[1])]:
        def moved(m, g=g):
            return np.einsum("ik,bkl,jl->bij", g, m, g)

        np.testing.assert_allclose((v * v).act(g, x), moved(x))
        np.testing.assert_allclose((v * v).act(g, x.reshape(2, 25)), moved(x).reshape(2, 25))
        np.testing.assert_allclose(SymmetricSquare(v).act(g, symmetric[:, upper[0], upper[1]]),
                                   moved(symmetric)[:, upper[0], upper[1]])
        np.testing.assert_allclose(
            AntisymmetricSquare(v).act(g, antisymmetric[:, strict[0], strict[1]]),
            moved(antisymmetric)[:, strict[0], strict[1]], atol=1e-12)
    assert (v * v).shape == (5, 5) and (v * v).channels(3).shape == (5, 5, 3)
    assert SymmetricSquare(v).dim == 15 and SymmetricSquare(v).is_permutation
    assert AntisymmetricSquare(v).dim == 10 and not AntisymmetricSquare(v).is_permutation


S4, S5 = SymmetricGroup(4), SymmetricGroup(5)
V4, V5 = DefiningRep(S4), DefiningRep(S5)
M4, M5 = V4 * V4, V5 * V5

# (rep_in, rep_out, kinds for the character formula or None, dimension of Maron et al.)
CLOSED_FORMS = {
    "matrix_to_matrix": (M5, M5, ("VxV", "VxV"), 15),
    "matrix_to_points": (M5, V5, ("VxV", "V"), 5),
    "points_to_matrix": (V5, M5, ("V", "VxV"), 5),
    "matrix_to_invariant": (M5, TrivialRep(S5), ("VxV", "1"), 2),
    "invariant_to_matrix": (TrivialRep(S5), M5, ("1", "VxV"), 2),
    "n4_matrix_to_matrix": (M4, M4, ("VxV", "VxV"), 15),
    "channels": (M4.channels(2), M4.channels(2), None, 15 * 2 * 2),
    "channels_to_points": (M4.channels(3), V4.channels(2), None, 5 * 3 * 2),
    "points_channels_to_matrix": (V4.channels(2), M4, None, 5 * 2),
    "invariants_to_channels": (TrivialRep(S4, 3), M4.channels(2), None, 2 * 3 * 2),
}


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_closed_forms_span_the_null_space(name):
    rep_in, rep_out, kinds, expected = CLOSED_FORMS[name]
    closed = commutant_basis(rep_in, rep_out)
    computed = commutant_basis(rep_in, rep_out, method="dense")
    assert isinstance(closed, PartitionBasis) and isinstance(computed, DenseBasis)
    if kinds:
        assert expected == round(character_dimension(rep_in.group, *kinds))
    assert closed.dim == computed.dim == expected
    assert span_rank(closed) == span_rank(computed) == span_rank(closed, computed) == expected


def test_small_n_falls_back_to_orbits():
    """Below n = k_in + k_out the 15 maps are dependent (S_3: 14): the orbit search serves."""
    v = DefiningRep(SymmetricGroup(3))
    basis = commutant_basis(v * v, v * v)
    assert isinstance(basis, OrbitBasis) and basis.dim == 14
    assert isinstance(commutant_basis(M4, M4, symmetric=True), OrbitBasis)


def test_each_matrix_map_is_the_named_operation():
    n = 5
    basis = commutant_basis(M5, M5)
    x = np.random.default_rng(0).normal(size=(3, n, n))
    d, rows, cols = np.diagonal(x, axis1=1, axis2=2), x.mean(axis=2), x.mean(axis=1)
    mean_d, mean_x = d.mean(axis=1), x.mean(axis=(1, 2))
    eye, ones = np.eye(n), np.ones((n, n))

    def diagonal(v):
        return v[:, :, None] * eye

    expected = [x, x.transpose(0, 2, 1), diagonal(d), diagonal(rows), diagonal(cols),
                mean_d[:, None, None] * eye, mean_x[:, None, None] * eye,
                d[:, :, None] * ones, rows[:, :, None] * ones, cols[:, :, None] * ones,
                d[:, None, :] * ones, rows[:, None, :] * ones, cols[:, None, :] * ones,
                mean_d[:, None, None] * ones, mean_x[:, None, None] * ones]
    assert len(expected) == basis.dim == 15
    for k, want in enumerate(expected):
        got = basis.apply(keras.ops.convert_to_tensor(x.reshape(3, -1)), np.eye(15)[k])
        np.testing.assert_allclose(to_numpy(got).reshape(3, n, n), want, atol=float64_tol(1e-12),
                                   err_msg=f"map {k}")


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_applying_equals_multiplying_by_the_assembled_kernel(name):
    rep_in, rep_out, _, _ = CLOSED_FORMS[name]
    basis = commutant_basis(rep_in, rep_out)
    rng = np.random.default_rng(1)
    coefficients = rng.normal(size=basis.dim)
    x = rng.normal(size=(4, rep_in.dim))
    np.testing.assert_allclose(to_numpy(basis.apply(x, coefficients)),
                               x @ to_numpy(basis.assemble(coefficients)),
                               atol=float64_tol(1e-10))
    np.testing.assert_allclose(to_numpy(basis.project(basis.assemble(coefficients))),
                               coefficients, atol=float64_tol(1e-9))


PAIRS = {
    "matrix_channels": (M4, M4.channels(3)),
    "channels_to_invariants": (M4.channels(2), TrivialRep(S4, 3)),
    "channels_to_points": (M4.channels(2), V4.channels(2)),
    "points_to_matrix": (V4.channels(2), M4),
    "matrix_to_symmetric_square": (M4, SymmetricSquare(V4)),
    "symmetric_square_to_points": (SymmetricSquare(V4), V4.channels(2)),
    "antisymmetric_square": (AntisymmetricSquare(V4), AntisymmetricSquare(V4)),
    "antisymmetric_to_matrix": (AntisymmetricSquare(V4), M4),
    "cyclic_matrices": (DefiningRep(CyclicGroup(4)) * DefiningRep(CyclicGroup(4)),
                        DefiningRep(CyclicGroup(4))),
    "rotation_squares": (SymmetricSquare(DefiningRep(C4_ROTATIONS)),
                         DefiningRep(C4_ROTATIONS) * DefiningRep(C4_ROTATIONS)),
}


@pytest.mark.parametrize("name", PAIRS)
def test_layer_is_equivariant(name):
    assert_layer_is_equivariant(*PAIRS[name], seed=2)


@pytest.mark.parametrize("make_layer, input_shape, output_shape, trainable", [
    (lambda: EquivariantDense(M4, M4.channels(2), activation="relu"), (4, 4), (4, 4, 2),
     15 * 2 + 2 * 2),
    (lambda: EquivariantDense(M4.channels(2), TrivialRep(S4, 3)), (4, 4, 2), (3,), 2 * 2 * 3 + 3),
    (lambda: EquivariantDense(V4.channels(2), M4), (4, 2), (4, 4), 5 * 2 + 2),
    (lambda: EquivariantDense(M4.channels(2), V4), (4, 4, 2), (4,), 5 * 2 + 1),
    (lambda: EquivariantDense(SymmetricSquare(V4)), (10,), (10,), 9 + 2),
])
def test_layer_checks(make_layer, input_shape, output_shape, trainable):
    run_layer_checks(make_layer, input_shape, expected_output_shape=output_shape,
                     expected_trainable=trainable)


def test_gradients_match_finite_differences():
    layer = EquivariantDense(M4, M4.channels(2), activation="tanh", dtype=GRADIENT_DTYPE,
                             bias_initializer="random_normal")
    assert_every_variable_gets_the_finite_difference_gradient(layer, (2, 4, 4), (2, 4, 4, 2))


def test_saved_model_keeps_tensor_representations(tmp_path):
    inputs = keras.Input((4, 4))
    h = EquivariantDense(M4, M4.channels(2), activation="relu")(inputs)
    h = EquivariantDense(M4.channels(2), SymmetricSquare(V4), activation="relu")(h)
    h = EquivariantDense(SymmetricSquare(V4), AntisymmetricSquare(V4))(h)
    outputs = EquivariantDense(AntisymmetricSquare(V4), M4)(h)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "matrices.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(3, 4, 4)).astype("float32")
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    assert [layer.rep_out for layer in loaded.layers[1:]] == [
        M4.channels(2), SymmetricSquare(V4), AntisymmetricSquare(V4), M4]
    assert_equivariant(loaded, S4, M4, M4, atol=1e-5)
    folded = fold_to_dense(model)
    np.testing.assert_allclose(to_numpy(folded(x)), to_numpy(model(x)), atol=1e-5)


def test_configs_and_the_product_operator():
    v = DefiningRep(DihedralGroup(4))
    for rep in (v * v, (v * v).channels(3), SymmetricSquare(v), AntisymmetricSquare(v * v),
                TensorProduct(v, TrivialRep(v.group, 2))):
        assert rep_from_config(rep.get_config()) == rep
    assert v * v == TensorProduct(v, v) and v * v != SymmetricSquare(v)
    assert (v * TrivialRep(v.group, 2)).dim == 8


def test_large_matrices_never_build_a_dense_basis():
    v = DefiningRep(SymmetricGroup(48))
    layer = EquivariantDense((v * v).channels(2), (v * v).channels(2))
    assert isinstance(layer.basis, PartitionBasis) and layer.basis.dim == 15 * 4
    out = layer(np.ones((2, 48, 48, 2), "float32"))
    assert tuple(out.shape) == (2, 48, 48, 2) and layer.count_params() == 60 + 4
    with pytest.raises(ValueError, match="at most 2\\^26 basis entries"):
        layer.set_kernel(np.zeros(layer.basis.shape))


@pytest.mark.parametrize("make, error, message", [
    (lambda: DefiningRep(S4) * DefiningRep(S5), ValueError, "same group"),
    (lambda: DefiningRep(S4) * 2.5, TypeError, "unsupported operand"),
    (lambda: SymmetricSquare("V"), ValueError, "SymmetricSquare needs a Representation. "
     "Received: 'V'"),
    (lambda: EquivariantDense(M4)(np.ones((2, 4, 5), "float32")), ValueError,
     r"\(16,\) or \(4, 4\). Received: input_shape=\(2, 4, 5\)"),
    (lambda: rep_from_config({"rep": "Tensor"}), ValueError, "'TensorProduct'"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
