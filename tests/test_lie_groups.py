"""Continuous groups and their representations: samples, homomorphisms, Lie algebra actions,
layouts, configs, text specs and every refusal (issue 21, sections 1 and 2).

References are built here, with numpy: the defining invariants (`g^T g = I`, `g^T eta g = eta`,
`g^T J g = J`), Kronecker products for tensors, central finite differences of `expm` for `drho`.
"""

import numpy as np
import pytest
import scipy.linalg

from eqzoo.layers.groups import (
    O13,
    SO,
    LieGroup,
    LorentzGroup,
    O,
    OrthogonalGroup,
    ProductGroup,
    ProperLorentzGroup,
    SO13p,
    Sp,
    SpecialOrthogonalGroup,
    SymmetricGroup,
    SymplecticGroup,
    group_from_config,
    group_from_name,
)
from eqzoo.layers.representations import (
    AntisymmetricSquare,
    DefiningRep,
    DirectSum,
    DualRep,
    FactorRep,
    ParityRep,
    SymmetricSquare,
    T,
    TensorProduct,
    TrivialRep,
    parse_rep,
    rep_from_config,
    uniform_rep,
)

ETA = np.diag([1.0, -1.0, -1.0, -1.0])
J4 = np.block([[np.zeros((2, 2)), np.eye(2)], [-np.eye(2), np.zeros((2, 2))]])
GROUPS = {"SO(3)": SO(3), "O(3)": O(3), "SO(5)": SO(5), "O(1,3)": LorentzGroup(),
          "SO+(1,3)": ProperLorentzGroup(), "Sp(2)": SymplecticGroup(2),
          "SO(3)xS4": SO(3) * SymmetricGroup(4)}


def families(group):
    """One representation of every family, for `group`."""
    v, s = DefiningRep(group), TrivialRep(group)
    return {"V": v, "V*": v.dual(), "T(2)": v ** 2, "T(1,1)": T(1, 1, group), "T(3)": v ** 3,
            "sum": 2 * s + v + v ** 2, "Sym2": SymmetricSquare(v),
            "Lambda2": AntisymmetricSquare(v),
            "channels": v.channels(2), "pseudo": ParityRep(group) * v,
            "sum_product": (s + v) * v}


@pytest.mark.parametrize("name", GROUPS)
def test_samples_preserve_what_defines_the_group(name):
    group = GROUPS[name]
    samples = np.stack(group.sample(20, seed=1))
    assert samples.shape == (20, group.dim, group.dim)
    form = {"O(1,3)": ETA, "SO+(1,3)": ETA, "Sp(2)": J4}.get(name, np.eye(group.dim))
    kept = np.einsum("kji,jl,klm->kim", samples, form, samples)
    np.testing.assert_allclose(kept, np.broadcast_to(form, kept.shape), atol=1e-8)
    determinants = np.linalg.det(samples)
    if name in ("SO(3)", "SO(5)", "SO+(1,3)", "Sp(2)"):
        np.testing.assert_allclose(determinants, 1.0, atol=1e-8)
    if name == "SO+(1,3)":
        assert np.all(samples[:, 0, 0] >= 1.0)  # orthochronous
    if name in ("O(3)", "O(1,3)"):  # both signs of the determinant are drawn
        assert set(np.round(determinants).astype(int)) == {-1, 1}
    if name == "O(1,3)":  # and both directions of time
        assert set(np.sign(samples[:, 0, 0]).astype(int)) == {-1, 1}
    np.testing.assert_array_equal(np.stack(group.sample(20, seed=1)), samples)


def test_haar_samples_have_the_moments_of_haar_measure():
    """E[g] = 0 and E[g_ij^2] = 1/n under Haar measure on O(n) (and SO(n), n > 2)."""
    for group in (O(4), SO(4)):
        samples = np.stack(group.sample(4000, seed=0))
        assert np.max(np.abs(samples.mean(axis=0))) < 0.05
        np.testing.assert_allclose((samples ** 2).mean(axis=0), 0.25, atol=0.03)


def test_lorentz_samples_use_the_documented_scale():
    """Rapidities N(0, 1) per boost direction: gamma's median is cosh of the chi_3 median."""
    gammas = np.abs([g[0, 0] for g in ProperLorentzGroup().sample(1000, seed=0)])
    assert 1.8 < np.median(gammas) < 3.5
    wider = np.abs([g[0, 0] for g in ProperLorentzGroup().sample(200, seed=0, scale=0.1)])
    assert np.max(wider) < 1.5


def test_product_group_acts_block_diagonally():
    group = SO(3) * SymmetricGroup(4)
    assert group == ProductGroup(SO(3), SymmetricGroup(4)) and group.dim == 7
    g = group.sample(1, seed=0)[0]
    np.testing.assert_array_equal(g[:3, 3:], 0.0)
    assert np.allclose(g[:3, :3] @ g[:3, :3].T, np.eye(3))
    assert sorted(np.argmax(g[3:, 3:], axis=1)) == [0, 1, 2, 3]
    assert ProductGroup(group, O(2)).factors == (SO(3), SymmetricGroup(4), O(2))


@pytest.mark.parametrize("name", GROUPS)
def test_configs_round_trip_and_aliases_are_the_classes(name):
    group = GROUPS[name]
    assert group_from_config(group.get_config()) == group
    assert hash(group_from_config(group.get_config())) == hash(group)
    assert SO(3) == SpecialOrthogonalGroup(3) and O(5) == OrthogonalGroup(5)
    assert Sp(2) == SymplecticGroup(2) and Sp(2).dim == 4
    assert O13() == LorentzGroup() and SO13p() == ProperLorentzGroup()
    generic = LieGroup(SO(3).lie_algebra, name="rotations")
    assert group_from_config(generic.get_config()) == generic


@pytest.mark.parametrize("name", GROUPS)
@pytest.mark.parametrize("family", list(families(SO(3))))
def test_every_family_is_a_homomorphism_with_its_lie_algebra_action(name, family):
    group = GROUPS[name]
    rep = families(group)[family]
    g, h = group.sample(2, seed=3)
    np.testing.assert_allclose(rep.matrix(g @ h), rep.matrix(g) @ rep.matrix(h), atol=1e-8)
    for a in group.lie_algebra[:3]:
        step = 1e-5
        derivative = (rep.matrix(scipy.linalg.expm(step * a))
                      - rep.matrix(scipy.linalg.expm(-step * a))) / (2 * step)
        np.testing.assert_allclose(rep.drho(a), derivative, atol=1e-6)
    x = np.random.default_rng(0).normal(size=(3, rep.dim))
    np.testing.assert_allclose(rep.act(g, x), x @ rep.matrix(g).T, atol=1e-10)
    assert rep_from_config(rep.get_config()) == rep


def test_layouts_are_flat_row_major_and_sums_concatenate():
    group = O(3)
    v, s = DefiningRep(group), TrivialRep(group)
    g = group.sample(1, seed=0)[0]
    x = np.random.default_rng(0).normal(size=(2, 3, 3))
    # A rank-2 tensor as (batch, 3, 3) or its row-major (batch, 9): X -> g X g^T.
    np.testing.assert_allclose((v ** 2).act(g, x), g @ x @ g.T, atol=1e-12)
    np.testing.assert_allclose((v ** 2).act(g, x.reshape(2, 9)), (g @ x @ g.T).reshape(2, 9),
                               atol=1e-12)
    # 5 * S + 5 * V on (batch, 20): 5 masses, then 5 positions.
    inertia = 5 * s + 5 * v
    assert inertia.dim == 20 and inertia.shape == (20,)
    features = np.random.default_rng(1).normal(size=(2, 20))
    moved = inertia.act(g, features)
    np.testing.assert_array_equal(moved[:, :5], features[:, :5])
    np.testing.assert_allclose(moved[:, 5:].reshape(2, 5, 3),
                               features[:, 5:].reshape(2, 5, 3) @ g.T, atol=1e-12)
    assert (v ** 3).shape == (3, 3, 3) and (v * v) * v == v ** 3 and v ** 0 == s
    assert 3 * v == v + v + v == DirectSum(v, DirectSum(v, v)) and v * 2 == 2 * v


def test_duals_and_parity():
    lorentz = LorentzGroup()
    v = DefiningRep(lorentz)
    assert DefiningRep(O(3)).dual() == DefiningRep(O(3))
    assert v.dual() != v and v.dual().dual() == v and isinstance(v.dual(), DualRep)
    g = lorentz.sample(1, seed=2)[0]
    np.testing.assert_allclose(v.dual().matrix(g), ETA @ g @ ETA, atol=1e-9)
    assert T(1, 1, lorentz) == v * v.dual() and T(0, 0, lorentz) == TrivialRep(lorentz)
    parity = ParityRep(O(3))
    assert parity.matrix(np.diag([1.0, 1.0, -1.0]))[0, 0] == -1.0
    assert parity.matrix(SO(3).sample(1, seed=0)[0])[0, 0] == pytest.approx(1.0)


def test_factor_reps_make_tensors_of_a_product():
    group = SO(3) * SymmetricGroup(4)
    points = FactorRep(group, DefiningRep(SymmetricGroup(4)))
    space = FactorRep(group, DefiningRep(SO(3)))
    cloud = points * space  # (4, 3): 4 points in R^3
    g = group.sample(1, seed=0)[0]
    rotation, permutation = g[:3, :3], g[3:, 3:]
    x = np.random.default_rng(0).normal(size=(2, 4, 3))
    np.testing.assert_allclose(cloud.act(g, x), permutation @ x @ rotation.T, atol=1e-12)


def test_text_specs_and_uniform_rep():
    group = O(3)
    assert parse_rep("5*S + 5*V", group) == 5 * TrivialRep(group) + 5 * DefiningRep(group)
    assert parse_rep("T2", group) == DefiningRep(group) ** 2
    assert parse_rep("2*P*V + V**2", group) == (2 * (ParityRep(group) * DefiningRep(group))
                                               + DefiningRep(group) ** 2)
    assert parse_rep("T(1,1)", LorentzGroup()) == T(1, 1, LorentzGroup())
    assert group_from_name("SO+(1,3)") == ProperLorentzGroup()
    assert group_from_name("Sp(2)") == SymplecticGroup(2)
    assert group_from_name("O(5)") == O(5)
    # EMLP's allocation for 384 channels of O(3): 102 + 34 * 3 + 11 * 9 + 3 * 27 features.
    hidden = uniform_rep(384, group)
    assert hidden.dim == 384
    assert [hidden.summands.count(DefiningRep(group) ** k) for k in range(4)] == [102, 34, 11, 3]
    lorentz = uniform_rep(100, LorentzGroup())
    assert lorentz.dim == 100 and DefiningRep(LorentzGroup()).dual() in lorentz.summands


@pytest.mark.parametrize("make, message", [
    (lambda: LieGroup([np.eye(2)[:1]]), r"square d x d matrix. Received shape \(1, 2\)"),
    (lambda: LieGroup([np.zeros((2, 2)), np.zeros((3, 3))]), "one size"),
    (lambda: LieGroup([[[0.0, np.nan], [0.0, 0.0]]]), "NaN or inf"),
    (lambda: LieGroup([[[0.0, np.inf], [0.0, 0.0]]]), "NaN or inf"),
    (lambda: LieGroup([], []), "Received neither"),
    (lambda: LieGroup([[["a", 0], [0, 0]]]), "not a matrix of numbers"),
    # A shear does not map the rotation algebra so(2) to itself.
    (lambda: LieGroup([[[0.0, -1.0], [1.0, 0.0]]], [[[1.0, 1.0], [0.0, 1.0]]]),
     "does not preserve the Lie algebra"),
    (lambda: LieGroup([[[0.0, -1.0], [1.0, 0.0]]], [np.zeros((2, 2))]), "singular"),
    (lambda: SO(1), "integer size >= 2. Received: 1"),
    (lambda: Sp(0), "integer size >= 1. Received: 0"),
    (lambda: O(2.5), "Received: 2.5"),
    (lambda: SO(3).order, "continuous group: it has no finite order"),
    (lambda: SO(3).elements(), "cannot be listed"),
    (lambda: ProductGroup(SO(3)), "at least two groups"),
    (lambda: ProductGroup(SO(3), "S4"), "needs groups"),
    (lambda: group_from_name("U(2)"), "Unknown group name"),
    (lambda: group_from_config({"group": "SymplecticGroup"}), "lacks the key 'm'"),
    (lambda: DefiningRep(SO(3)) + DefiningRep(O(3)), "same group"),
    (lambda: DefiningRep(SO(3)) * DefiningRep(SO(4)), "same group"),
    (lambda: TensorProduct(DefiningRep(SO(3))), "at least two factors"),
    (lambda: 0 * DefiningRep(SO(3)), "positive integer k. Received: k=0"),
    (lambda: DefiningRep(SO(3)) ** -1, "integer k >= 0. Received: k=-1"),
    (lambda: T(-1, 0, SO(3)), "Received: p=-1"),
    (lambda: T(1, 0, "SO(3)"), "needs a group"),
    (lambda: FactorRep(SO(3), DefiningRep(SO(3))), "needs a ProductGroup"),
    (lambda: FactorRep(SO(3) * O(2), DefiningRep(SO(4))), "not a factor"),
    (lambda: FactorRep(SO(3) * SO(3), DefiningRep(SO(3))), "several factors"),
    (lambda: parse_rep("5*X", O(3)), "is not `"),
    (lambda: DefiningRep(SO(3)).act(np.eye(3), np.ones((2, 4))), r"Received: shape=\(2, 4\)"),
])
def test_bad_input_is_refused_in_one_line(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "\n" not in str(error.value)
