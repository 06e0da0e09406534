"""Groups and representations: orders, homomorphisms, layouts, configs and error messages."""

import json
import math

import numpy as np
import pytest

from eqzoo.layers.groups import (
    CyclicGroup,
    DihedralGroup,
    FiniteGroup,
    PermutationGroup,
    SymmetricGroup,
    TrivialGroup,
    group_from_config,
    permutation_matrix,
)
from eqzoo.layers.representations import (
    ChannelRep,
    DefiningRep,
    DirectSum,
    RegularRep,
    TrivialRep,
    rep_from_config,
)

ROTATION_90 = [[0.0, -1.0], [1.0, 0.0]]
KLEIN = FiniteGroup([np.diag([-1.0, 1.0]), np.diag([1.0, -1.0])], name="KleinFourGroup")
C4_ROTATIONS = FiniteGroup([ROTATION_90], name="C4Rotations")
# 60-degree rotation and a mirror: floats whose products round to -0.0 as often as to 0.0.
c, s = 0.5, math.sqrt(3) / 2
D6_PLANE = FiniteGroup([[[c, -s], [s, c]], [[1.0, 0.0], [0.0, -1.0]]])

GROUPS = {
    "S4": (SymmetricGroup(4), 24),
    "C5": (CyclicGroup(5), 5),
    "D5": (DihedralGroup(5), 10),
    "D6": (DihedralGroup(6), 12),
    "trivial3": (TrivialGroup(3), 1),
    "klein": (KLEIN, 4),
    "c4_rotations": (C4_ROTATIONS, 4),
    "d6_plane": (D6_PLANE, 12),
    "perm": (PermutationGroup([[1, 0, 2, 3], [0, 1, 3, 2]]), 4),
}


def all_reps(group):
    v = DefiningRep(group)
    return [v, TrivialRep(group, 2), RegularRep(group), v.channels(3),
            DirectSum(v, TrivialRep(group), v.channels(2))]


@pytest.mark.parametrize("name", GROUPS)
def test_order(name):
    group, order = GROUPS[name]
    assert group.order == order
    assert len({g.round(6).tobytes() for g in group.elements()}) == order


def test_permutation_api_kept():
    group = DihedralGroup(5)
    perms = group.permutations()
    assert perms.shape == (10, 5)
    x = np.arange(5.0) * 10
    for p in group.sample_permutations(6, seed=0):
        assert any(np.array_equal(p, q) for q in perms)
        np.testing.assert_array_equal(permutation_matrix(p) @ x, x[p])
    sampled = SymmetricGroup(30).sample_permutations(3, seed=1)  # 30! elements: never enumerated
    assert sampled.shape == (3, 30) and all(sorted(p) == list(range(30)) for p in sampled)
    assert np.array_equal(SymmetricGroup(4).sample_permutations(5, 2),
                          SymmetricGroup(4).sample_permutations(5, 2))


@pytest.mark.parametrize("name", GROUPS)
def test_config_round_trip_and_equality(name):
    group = GROUPS[name][0]
    config = json.loads(json.dumps(group.get_config()))
    again = group_from_config(config)
    assert again == group and hash(again) == hash(group) and type(again) is type(group)
    assert again.order == group.order


def test_groups_differ_by_what_they_are():
    assert CyclicGroup(4) != DihedralGroup(4) and CyclicGroup(4) != CyclicGroup(5)
    assert SymmetricGroup(3) == SymmetricGroup(3)
    assert group_from_config({"group": "DihedralGroup", "n": 6}) == DihedralGroup(6)
    assert "[1, 0, 2]" in SymmetricGroup(3).describe(permutation_matrix([1, 0, 2]))
    assert "matrix [[0.0, -1.0], [1.0, 0.0]]" == C4_ROTATIONS.describe(np.array(ROTATION_90))


@pytest.mark.parametrize("make, message", [
    (lambda: FiniteGroup([]), "at least one generator"),
    (lambda: FiniteGroup([np.eye(2), np.eye(3)]), "square of one size"),
    (lambda: PermutationGroup([[0, 0, 1]]), "permutation of 0..2"),
    (lambda: PermutationGroup([]), "at least one generator"),
    (lambda: CyclicGroup(0), "Received: n=0"),
    (lambda: SymmetricGroup(2.5), "Received: n=2.5"),
    (lambda: group_from_config({"group": "TorusGroup", "n": 3}), "Unknown group config"),
    (lambda: group_from_config({"group": "LieGroup", "n": 3}), "lacks the key 'lie_algebra'"),
    # Two reflections whose mirrors meet at 1 radian: each of order 2, together infinite.
    (lambda: FiniteGroup([np.diag([1.0, -1.0]), reflection(1.0)]).elements(max_order=50),
     "more than 50 elements"),
    (lambda: C4_ROTATIONS.index(2 * np.eye(2)), "not an element"),
])
def test_group_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def reflection(angle):
    """The reflection across the line at `angle` to the x axis: order 2."""
    c2, s2 = math.cos(2 * angle), math.sin(2 * angle)
    return np.array([[c2, s2], [s2, -c2]])


def rotation(angle):
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


SHEAR = [[1.0, 1.0], [0.0, 1.0]]


# Issue 12: what is not a finite group of invertible matrices is refused when the group is made,
# by the generator's index and the reason, instead of reporting an order for it.
@pytest.mark.parametrize("generators, fragments", [
    ([np.eye(2), [[1.0, 0.0], [0.0, 0.0]]], ["generator 1", "singular (determinant 0)"]),
    ([np.zeros((3, 3))], ["generator 0", "singular"]),
    ([2 * np.eye(2)], ["generator 0", "determinant 4", "+1 or -1"]),
    ([[[np.nan, 0.0], [0.0, 1.0]]], ["generator 0", "non-finite"]),
    ([np.eye(2), [[np.inf, 0.0], [0.0, 1.0]]], ["generator 1", "non-finite"]),
    ([np.eye(2), SHEAR], ["generator 1", "infinite order"]),  # det 1, but a Jordan block
    ([np.diag([2.0, 0.5])], ["generator 0", "infinite order"]),  # det 1, powers grow
    ([rotation(1.0)], ["generator 0", "infinite order"]),  # an irrational angle never returns
    ([rotation(2 * math.pi / 100_003)], ["infinite order (or one above 100000)"]),
    ([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]], ["square", "generator 0 of shape (2, 3)"]),
    ([np.eye(2), np.eye(3)], ["square", "generator 1 of shape (3, 3)"]),
    ([[["a", "b"], ["c", "d"]]], ["generator 0", "not a matrix of numbers"]),
])
def test_not_a_finite_group_is_refused(generators, fragments):
    with pytest.raises(ValueError) as error:
        FiniteGroup(generators)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_a_huge_generator_is_echoed_as_a_prefix():
    with pytest.raises(ValueError) as error:
        FiniteGroup([2 * np.eye(300)])
    assert len(str(error.value)) < 400 and "generator 0 [[2.0, 0.0" in str(error.value)


@pytest.mark.parametrize("generators, order", [
    ([rotation(2 * math.pi / 7)], 7),
    ([[[1.0, 1.0], [0.0, -1.0]]], 2),  # a reflection that is not orthogonal: still order 2
    ([rotation(2 * math.pi / 5), np.diag([1.0, -1.0])], 10),  # D_5 in the plane
    ([np.eye(3)], 1),
    ([-np.eye(4)], 2),
])
def test_finite_groups_are_accepted_orthogonal_or_not(generators, order):
    assert FiniteGroup(generators).order == order


def test_a_conjugate_of_an_orthogonal_group_is_accepted():
    # Finite groups of matrices are exactly the conjugates of orthogonal ones: P R P^-1.
    p = np.random.default_rng(0).standard_normal((3, 3))
    r = np.array([[*rotation(2 * math.pi / 6)[0], 0.0], [*rotation(2 * math.pi / 6)[1], 0.0],
                  [0.0, 0.0, -1.0]])
    group = FiniteGroup([p @ r @ np.linalg.inv(p)])
    assert group.order == 6
    assert np.allclose(np.linalg.matrix_power(group.generators[0], 6), np.eye(3))


@pytest.mark.parametrize("name", GROUPS)
def test_representations_are_homomorphisms(name):
    group = GROUPS[name][0]
    g_s, h_s = group.sample(4, seed=0), group.sample(4, seed=1)
    for rep in all_reps(group):
        assert rep(np.eye(group.dim)).shape == (rep.dim, rep.dim)
        np.testing.assert_allclose(rep(np.eye(group.dim)), np.eye(rep.dim), atol=1e-12)
        for g, h in zip(g_s, h_s, strict=True):
            np.testing.assert_allclose(rep(g @ h), rep(g) @ rep(h), atol=1e-12)
            assert rep.character(g) == pytest.approx(np.trace(rep(g)))
            if rep.is_permutation:
                np.testing.assert_array_equal(rep(g), permutation_matrix(rep.permutation(g)))


def test_channel_layout_is_point_major():
    group = CyclicGroup(4)
    rep = DefiningRep(group).channels(3)
    assert rep.shape == (4, 3) and rep.dim == 12
    x = np.random.default_rng(0).normal(size=(2, 4, 3))
    g = group.generators[0]
    moved = rep.act(g, x)
    # The shift moves whole points and leaves the channels of each point together.
    np.testing.assert_array_equal(moved, x[:, [1, 2, 3, 0], :])
    np.testing.assert_array_equal(rep.act(g, x.reshape(2, 12)), moved.reshape(2, 12))
    np.testing.assert_allclose(rep(g), np.kron(DefiningRep(group)(g), np.eye(3)))


def test_direct_sum_concatenates_and_regular_rep_translates():
    group = CyclicGroup(3)
    g = group.generators[0]
    rep = DirectSum(DefiningRep(group), TrivialRep(group, 2))
    x = np.arange(5.0)
    np.testing.assert_array_equal(rep.act(g, x), [1.0, 2.0, 0.0, 3.0, 4.0])
    regular = RegularRep(group)
    e = group.index(np.eye(3))
    # rho(g) e_h = e_{gh}
    np.testing.assert_array_equal(regular(g)[:, e], np.eye(3)[group.index(g)])


def test_act_on_non_permutation_rep_uses_matrices():
    rep = DefiningRep(C4_ROTATIONS).channels(2)
    x = np.array([[1.0, 10.0, 0.0, 0.0]])  # (x, y) of the channels: (1, 0) and (10, 0)
    np.testing.assert_allclose(rep.act(np.array(ROTATION_90), x), [[0.0, 0.0, 1.0, 10.0]])


@pytest.mark.parametrize("name", GROUPS)
def test_rep_config_round_trip(name):
    group = GROUPS[name][0]
    for rep in all_reps(group):
        config = json.loads(json.dumps(rep.get_config()))
        again = rep_from_config(config)
        assert again == rep and hash(again) == hash(rep) and again.dim == rep.dim
    assert DefiningRep(group) != TrivialRep(group, group.dim)


@pytest.mark.parametrize("make, message", [
    (lambda: DirectSum(DefiningRep(CyclicGroup(3)), DefiningRep(DihedralGroup(3))),
     "same group"),
    (lambda: ChannelRep(DefiningRep(CyclicGroup(3)), 0), "Received: channels=0"),
    (lambda: TrivialRep(CyclicGroup(3), dim=0), "Received: dim=0"),
    (lambda: DefiningRep("S4"), "needs a group"),
    (lambda: DefiningRep(KLEIN).permutation(np.eye(2)), "not a permutation representation"),
    (lambda: DefiningRep(CyclicGroup(3)).act(np.eye(3), np.ones((2, 4))),
     r"trailing shape is \(3,\). Received: shape=\(2, 4\)"),
    (lambda: DefiningRep(CyclicGroup(3)).channels(2).act(np.eye(3), np.ones((2, 2, 3))),
     r"\(6,\) or \(3, 2\)"),
    (lambda: rep_from_config({"rep": "SpinRep"}), "Unknown representation config"),
])
def test_rep_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
