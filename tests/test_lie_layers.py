"""Nonlinearities and blocks for continuous groups: GatedNonlinearity, EquivariantBilinear,
NormNonlinearity, EMLPBlock and the `emlp` architecture (issue 21, section 3).

Each is checked against a hand-computed formula, for equivariance under sampled elements of
every group (after a `.keras` round trip), and the bilinear layer for a bitwise round trip of
its random mixing.
"""

import keras
import numpy as np
import pytest

from eqzoo.layers import (
    EMLPBlock,
    EquivariantBilinear,
    EquivariantDense,
    GatedNonlinearity,
    NormNonlinearity,
    assert_equivariant,
    gated,
)
from eqzoo.layers.groups import (
    SO,
    LorentzGroup,
    O,
    ProperLorentzGroup,
    Sp,
    SymmetricGroup,
    group_from_name,
)
from eqzoo.layers.representations import DefiningRep, ParityRep, TrivialRep, parse_rep
from eqzoo.zoo import registry
from tests.backend_tools import to_numpy

GROUPS = [SO(3), O(3), LorentzGroup(), ProperLorentzGroup(), Sp(2), SO(3) * SymmetricGroup(3)]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_gated_nonlinearity_is_emlps_formula():
    group = O(3)
    v, s = DefiningRep(group), TrivialRep(group)
    rep = 2 * s + v + ParityRep(group) + v ** 2
    assert gated(rep).dim == rep.dim + 3  # a gate for the vector, the pseudo-scalar, the tensor
    x = np.random.default_rng(0).normal(size=(4, rep.dim + 3)).astype("float32")
    y = to_numpy(GatedNonlinearity(rep)(x))
    np.testing.assert_allclose(y[:, :2], x[:, :2] * sigmoid(x[:, :2]), rtol=1e-5)  # swish
    np.testing.assert_allclose(y[:, 2:5], x[:, 2:5] * sigmoid(x[:, [15]]), rtol=1e-5)
    np.testing.assert_allclose(y[:, 5], x[:, 5] * sigmoid(x[:, 16]), rtol=1e-5)
    np.testing.assert_allclose(y[:, 6:], x[:, 6:15] * sigmoid(x[:, [17]]), rtol=1e-5)
    assert gated(2 * s) == 2 * s


def test_norm_nonlinearity_is_the_formula_and_refuses_non_orthogonal_blocks():
    group = SO(3)
    rep = TrivialRep(group) + 2 * DefiningRep(group)
    layer = NormNonlinearity(rep, activation="relu")
    x = np.random.default_rng(0).normal(size=(3, 7)).astype("float32")
    layer.build(x.shape)
    layer.bias.assign(np.array([-0.5, 0.25], "float32"))
    y = to_numpy(layer(x))
    np.testing.assert_allclose(y[:, 0], np.maximum(x[:, 0], 0), rtol=1e-6)
    for j, bias in ((0, -0.5), (1, 0.25)):
        v = x[:, 1 + 3 * j:4 + 3 * j]
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        np.testing.assert_allclose(y[:, 1 + 3 * j:4 + 3 * j],
                                   v * np.maximum(norm + bias, 0) / norm, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="orthogonal matrices .* use GatedNonlinearity"):
        NormNonlinearity(DefiningRep(LorentzGroup()))


def test_bilinear_layer_is_emlps_formula():
    """A kernel block is filled from x's copies of its own type: for S + V + T(2) -> V, the
    S -> V block from the vector and the V -> V block from the tensor, so y = 0.1 (s a v + b
    X^T v) for learned a, b (T(2) -> V would need a T(3) in x: it stays 0)."""
    group = SO(3)
    v = DefiningRep(group)
    rep_in = TrivialRep(group) + v + v ** 2
    layer = EquivariantBilinear(rep_in, v, seed=0)
    assert layer.num_parameters == 2 and layer.selection == [[0], [0]]
    x = np.random.default_rng(0).normal(size=(5, 13)).astype("float32")
    layer.build(x.shape)
    layer.mixing.assign(np.array([0.5, -2.0], "float32"))
    scalar, vector, tensor = x[:, :1], x[:, 1:4], x[:, 4:].reshape(5, 3, 3)
    expected = 0.1 * (0.5 * scalar * vector - 2.0 * np.einsum("bij,bi->bj", tensor, vector))
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)
    assert_equivariant(layer, group, rep_in, v, inputs=x)


@pytest.mark.backends
def test_bilinear_mixing_is_saved_and_round_trips_bitwise(tmp_path):
    group = O(3)
    rep = 3 * TrivialRep(group) + 4 * DefiningRep(group) + 2 * DefiningRep(group) ** 2
    first = EquivariantBilinear(rep, seed=7)
    other = EquivariantBilinear(rep, seed=8)
    assert first.selection != other.selection  # the draw depends on the seed...
    assert EquivariantBilinear(rep, seed=7).selection == first.selection  # ... and only on it
    inputs = keras.Input((rep.dim,))
    model = keras.Model(inputs, first(inputs))
    config = first.get_config()
    assert config["selection"] == first.selection
    model.save(tmp_path / "bilinear.keras")
    loaded = keras.saving.load_model(tmp_path / "bilinear.keras")
    x = np.random.default_rng(0).normal(size=(6, rep.dim)).astype("float32")
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    # A saved selection wins over the seed.
    rebuilt = EquivariantBilinear.from_config({**config, "seed": 123})
    assert rebuilt.selection == first.selection
    with pytest.raises(ValueError, match="selection does not fit"):
        EquivariantBilinear(rep, selection=[[0]])


@pytest.mark.backends
@pytest.mark.parametrize("group", GROUPS, ids=repr)
def test_emlp_blocks_are_equivariant_for_every_group_after_a_round_trip(group, tmp_path):
    v, s = DefiningRep(group), TrivialRep(group)
    rep_in, hidden = 2 * s + 2 * v, 2 * s + v + v.dual() + v ** 2
    inputs = keras.Input((rep_in.dim,))
    h = EMLPBlock(rep_in, hidden, seed=1, name="block")(inputs)
    outputs = EquivariantDense(hidden, s + v, name="head")(h)
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "emlp.keras")
    loaded = keras.saving.load_model(tmp_path / "emlp.keras")
    x = np.random.default_rng(0).normal(size=(4, rep_in.dim)).astype("float32")
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    assert loaded.get_layer("block").bilinear.selection == model.get_layer(
        "block").bilinear.selection
    assert_equivariant(loaded.get_layer("block"), group, rep_in, hidden, n_samples=4, rtol=1e-4)


@pytest.mark.backends
@pytest.mark.parametrize("group, rep_in, rep_out", [("O(5)", "2*V", "S"),
                                                    ("O(3)", "5*S + 5*V", "T2"),
                                                    ("SO+(1,3)", "4*V", "S")])
def test_the_emlp_architecture_and_its_twin(group, rep_in, rep_out):
    build = registry.get_architecture("emlp")
    model = build(group=group, rep_in=rep_in, rep_out=rep_out, channels=32, depth=1)
    G = group_from_name(group)
    r_in, r_out = parse_rep(rep_in, G), parse_rep(rep_out, G)
    assert model.input_shape == (None, r_in.dim) and model.output_shape == (None, r_out.dim)
    assert_equivariant(model, G, r_in, r_out, n_samples=4, rtol=1e-4)
    twin = build(group=group, rep_in=rep_in, rep_out=rep_out, channels=32, depth=2,
                 constrained=False)
    assert twin.output_shape == model.output_shape
    assert all(type(layer).__name__ in ("InputLayer", "Dense") for layer in twin.layers)


def test_model_cards_call_a_continuous_group_continuous():
    """`cards._order` is None for a Lie group, whose `.order` raises."""
    from eqzoo.zoo import cards

    group = O(3)
    metadata = {"constraint": "equivariant",
                "equivariance": {"rep_in": (5 * TrivialRep(group)).get_config(),
                                 "rep_out": (DefiningRep(group) ** 2).get_config()}}
    assert cards._order(group) is None and cards._order(SymmetricGroup(4)) == 24
    assert cards._symmetry_group(metadata).startswith("O(3), continuous; acting on inputs by")


@pytest.mark.slow
@pytest.mark.tensorflow  # TFLite
def test_an_emlp_model_serves_in_tflite_with_its_equivariance_measured_again(tmp_path):
    from eqzoo.zoo import export_model

    group = LorentzGroup()
    rep_in, rep_out = 4 * DefiningRep(group), TrivialRep(group)
    model = registry.get_architecture("emlp")(group="O(1,3)", rep_in="4*V", rep_out="S",
                                              channels=24, depth=1)
    report = export_model(model, str(tmp_path / "emlp.tflite"), "tflite",
                          equivariance=(rep_in, rep_out), verbose=False)
    assert report["passed"]
    equivariance = report["equivariance"]
    assert equivariance["group"] == "O(1,3)"
    assert equivariance["exported"] <= equivariance["allowed"]
