"""Equivariant bases of continuous groups: dimensions against independent references, and
EquivariantDense equivariant under sampled elements, before and after a `.keras` round trip.

References, never the solver under test: Weyl's integration formula for SO(3) (and so O(3)),
character integrals over Haar samples (numpy QR) for other compact groups, the counts of
invariant theory quoted in issue 21 and EMLP's dimensions, and, for the non-compact groups,
the numerical null space against the closed forms (two different computations).
"""

import keras
import numpy as np
import pytest
from scipy.stats import special_ortho_group

from eqzoo.layers import lie_basis
from eqzoo.layers.equivariance import assert_equivariant
from eqzoo.layers.equivariant_dense import EquivariantDense
from eqzoo.layers.groups import (
    SO,
    LieGroup,
    LorentzGroup,
    O,
    ProperLorentzGroup,
    SymmetricGroup,
    SymplecticGroup,
)
from eqzoo.layers.lie_basis import block_basis, leaf_basis
from eqzoo.layers.representations import (
    DefiningRep,
    FactorRep,
    ParityRep,
    SymmetricSquare,
    T,
    TrivialRep,
)
from tests.backend_tools import to_numpy


def maps(rep_in, rep_out):
    return block_basis(rep_in, rep_out).dim


def so3_integral(power, parity=0, reflections=False):
    """`int chi_V(g)^power det(g)^parity dg` over SO(3) (or O(3)) by Weyl's formula: the class
    of a rotation by theta has density (1 - cos theta) / pi on [0, pi], and chi_V = 1 + 2 cos."""
    nodes, weights = np.polynomial.legendre.leggauss(64)
    theta = (nodes + 1) * np.pi / 2
    value = np.sum(weights * np.pi / 2 * (1 - np.cos(theta)) / np.pi * (1 + 2 * np.cos(theta))
                   ** power)
    if reflections:  # O(3) = SO(3) x {I, -I}; -I acts by (-1)^power and det -1
        value = value * (1 + (-1) ** (power + parity)) / 2
    return int(round(value))


def haar_integral(n, power, special, samples=20000):
    """`E chi_V(g)^power` over Haar samples of O(n) or SO(n), drawn here by QR."""
    rng = np.random.default_rng(0)
    q, r = np.linalg.qr(rng.normal(size=(samples, n, n)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    if special:
        q[np.linalg.det(q) < 0, :, 0] *= -1
    return float(np.mean(np.trace(q, axis1=1, axis2=2) ** power))


def test_the_counts_of_invariant_theory():
    so3, o3, lorentz = DefiningRep(SO(3)), DefiningRep(O(3)), DefiningRep(LorentzGroup())
    assert maps(so3, so3) == 1
    assert maps(so3 * so3, so3) == 1  # the cross product
    assert maps(so3 ** 2, so3 ** 2) == 3  # identity, transpose, trace
    assert maps(o3 * o3, o3) == 0  # the cross product is a pseudo-vector
    assert maps(ParityRep(O(3)) * o3 * o3, o3) == 1  # ... so it is one
    assert maps(TrivialRep(LorentzGroup()), lorentz ** 2) == 1  # the metric
    assert maps(TrivialRep(LorentzGroup()), T(0, 2, LorentzGroup())) == 1
    assert maps(lorentz ** 2 + lorentz, lorentz ** 2) == 3  # issue 21's 10^5-entry example
    assert maps(TrivialRep(ProperLorentzGroup()), DefiningRep(ProperLorentzGroup()) ** 4) == 4
    assert maps(TrivialRep(LorentzGroup()), lorentz ** 4) == 3  # epsilon is a pseudo-tensor
    sp = DefiningRep(SymplecticGroup(2))
    assert maps(sp, sp) == 1 and maps(TrivialRep(SymplecticGroup(2)), sp ** 2) == 1
    assert maps(TrivialRep(SymplecticGroup(2)), SymmetricSquare(sp)) == 0  # J is antisymmetric


@pytest.mark.parametrize("k, expected", [(6, 15), (7, 36)])
def test_emlp_dimensions_of_so3_tensor_invariants(k, expected):
    """Issue 21's EMLP numbers: SO(3) T(6) -> scalar 15, T(7) -> scalar 36."""
    v = DefiningRep(SO(3))
    assert maps(v ** k, TrivialRep(SO(3))) == expected == so3_integral(k)


@pytest.mark.parametrize("p, q, parity", [(1, 1, 0), (2, 1, 0), (2, 2, 0), (3, 2, 1), (1, 2, 1),
                                          (3, 3, 0), (0, 2, 1), (4, 0, 0)])
def test_so3_and_o3_dimensions_equal_weyl_integrals(p, q, parity):
    for group, reflections in ((SO(3), False), (O(3), True)):
        v = DefiningRep(group)
        rep_in = (ParityRep(group) * v ** p) if parity else v ** p
        assert maps(rep_in, v ** q) == so3_integral(p + q, parity, reflections), group


@pytest.mark.parametrize("n, special, p, q", [(5, False, 2, 2), (4, True, 2, 2), (4, False, 2, 2),
                                              (2, True, 1, 1), (2, False, 1, 1), (5, False, 1, 1)])
def test_dimensions_equal_character_integrals_over_haar_samples(n, special, p, q):
    group = SO(n) if special else O(n)
    v = DefiningRep(group)
    assert maps(v ** p, v ** q) == round(haar_integral(n, p + q, special))


@pytest.mark.parametrize("group", [LorentzGroup(), ProperLorentzGroup(), SymplecticGroup(2),
                                   SymplecticGroup(1), SO(3), O(3)], ids=repr)
def test_closed_forms_span_the_numerical_null_space(group):
    v = DefiningRep(group)
    pairs = [(v, v), (v * v, v), (v ** 2, v ** 2), (T(1, 1, group), TrivialRep(group)),
             (v.dual() * v, v * v.dual()), (ParityRep(group) * v, v ** 2), (v ** 3, v)]
    for rep_in, rep_out in pairs:
        closed = leaf_basis(rep_in, rep_out).reshape(-1, rep_in.dim * rep_out.dim)
        numerical = lie_basis._null_space(rep_in, rep_out)
        assert len(closed) == len(numerical), (rep_in, rep_out)
        if len(closed):
            np.testing.assert_allclose(closed @ closed.T, np.eye(len(closed)), atol=1e-10)
            np.testing.assert_allclose(closed @ numerical.T @ numerical, closed, atol=1e-8)


def test_sums_are_solved_block_by_block():
    for group, vector_maps in ((O(3), 0), (SO(3), 1)):
        v, s = DefiningRep(group), TrivialRep(group)
        assert maps(5 * s + 5 * v, v ** 2) == 5 * 1 + 5 * vector_maps
        basis = block_basis(5 * s + 5 * v, v ** 2)
        assert len(basis.types_in) == 2  # one solve per distinct summand, however many copies
    v, s = DefiningRep(O(3)), TrivialRep(O(3))
    assert maps(s + v + s, v + s) == maps(2 * s + v, s + v) == 2 * 1 + 1


def test_products_and_generic_lie_groups_use_the_null_space():
    group = SO(3) * SymmetricGroup(4)
    cloud = FactorRep(group, DefiningRep(SymmetricGroup(4))) * FactorRep(group, DefiningRep(SO(3)))
    assert maps(cloud, cloud) == 1 * 2  # Hom(V, V) of SO(3) times Hom of S_4's points
    assert maps(cloud, TrivialRep(group)) == 0
    generic = LieGroup(SO(3).lie_algebra, name="so3_as_given")
    v = DefiningRep(generic)
    assert lie_basis._closed_form(v ** 2, v ** 2) is None
    assert maps(v ** 2, v ** 2) == 3 and maps(v * v, v) == 1


def test_the_sparse_solver_agrees_with_the_dense_one(monkeypatch):
    generic = LieGroup(O(3).lie_algebra, O(3).generators, name="o3_as_given")
    v = DefiningRep(generic)
    dense = lie_basis._null_space(v ** 2, v ** 2)
    monkeypatch.setattr(lie_basis, "MAX_DENSE", 10)
    sparse = lie_basis._null_space(v ** 2, v ** 2)
    assert len(sparse) == len(dense) == 3
    np.testing.assert_allclose(sparse @ dense.T @ dense, sparse, atol=1e-8)


def rotation_matrices(rep_name, g):
    """The test's own rho(g) for SO(3) representations, from np.kron."""
    return {"V": g, "T2": np.kron(g, g), "T3": np.kron(np.kron(g, g), g),
            "S+V+T2": _block_diag(np.eye(1), g, np.kron(g, g))}[rep_name]


def _block_diag(*blocks):
    size = sum(len(b) for b in blocks)
    out, start = np.zeros((size, size)), 0
    for b in blocks:
        out[start:start + len(b), start:start + len(b)] = b
        start += len(b)
    return out


@pytest.mark.backends
@pytest.mark.parametrize("name_in, name_out", [("V", "T2"), ("T2", "V"), ("S+V+T2", "S+V+T2"),
                                               ("T3", "T3")])
def test_so3_layers_commute_with_scipy_rotations(name_in, name_out, tmp_path):
    group = SO(3)
    v, s = DefiningRep(group), TrivialRep(group)
    reps = {"V": v, "T2": v ** 2, "T3": v ** 3, "S+V+T2": s + v + v ** 2}
    rep_in, rep_out = reps[name_in], reps[name_out]
    inputs = keras.Input((rep_in.dim,))
    model = keras.Model(inputs, EquivariantDense(rep_in, rep_out)(inputs))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    x = np.random.default_rng(0).normal(size=(4, rep_in.dim)).astype("float32")
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    for g in special_ortho_group.rvs(3, size=5, random_state=1):
        moved = x @ rotation_matrices(name_in, g).T.astype("float32")
        expected = to_numpy(loaded(x)) @ rotation_matrices(name_out, g).T
        np.testing.assert_allclose(to_numpy(loaded(moved)), expected, atol=2e-5)


GROUPS = [SO(3), O(3), SO(5), LorentzGroup(), ProperLorentzGroup(), SymplecticGroup(2),
          SO(3) * SymmetricGroup(3)]


@pytest.mark.backends
@pytest.mark.parametrize("group", GROUPS, ids=repr)
def test_every_group_and_family_is_equivariant_after_a_round_trip(group, tmp_path):
    v, s = DefiningRep(group), TrivialRep(group)
    rep_in = 2 * s + v + v.dual() + ParityRep(group) + T(1, 1, group) + SymmetricSquare(v)
    rep_out = s + v + v ** 2 + v.channels(2)
    inputs = keras.Input((rep_in.dim,))
    model = keras.Model(inputs, EquivariantDense(rep_in, rep_out)(inputs))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.layers[-1].rep_in == rep_in and loaded.layers[-1].rep_out == rep_out
    assert loaded.layers[-1].basis.dim > 0
    assert_equivariant(loaded, group, rep_in, rep_out, n_samples=6, rtol=1e-5)
    # The kernel itself, in float64, commutes with the group's sampled elements.
    kernel = to_numpy(loaded.layers[-1].kernel, "float64")
    for g in group.sample(3, seed=5):
        np.testing.assert_allclose(rep_in.matrix(g).T @ kernel, kernel @ rep_out.matrix(g).T,
                                   atol=1e-5 * max(1.0, np.abs(rep_in.matrix(g)).max() ** 2))


def test_finite_groups_take_tensor_powers_too():
    """`V ** 3` of S_4 is a 3-factor TensorProduct: its maps to V are the Bell(4) = 15
    partitions of four indices (Maron et al. 2019), found by orbits, not the order-2 closed form."""
    v = DefiningRep(SymmetricGroup(4))
    basis = lie_basis.commutant_basis(v ** 3, v)
    assert basis.dim == 15 and basis.shape == (64, 4)


def test_continuous_refusals():
    v = DefiningRep(SO(3))
    with pytest.raises(ValueError, match="only supported for finite groups"):
        EquivariantDense(v, symmetric=True)
    with pytest.raises(ValueError, match="is zero, so EquivariantDense would have nothing"):
        EquivariantDense(DefiningRep(O(3)), TrivialRep(O(3)))
    with pytest.raises(ValueError, match="same group"):
        EquivariantDense(v, DefiningRep(O(3)))
    with pytest.raises(ValueError, match=r"expects inputs whose trailing shape is \(9,\) or "
                                         r"\(3, 3\)"):
        EquivariantDense(v ** 2)(np.ones((2, 4), "float32"))
