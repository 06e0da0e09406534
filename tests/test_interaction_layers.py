"""PairwiseInteraction and HopfieldBlock: exact symmetry, the maths they state, energy descent."""

import keras
import numpy as np
import pytest

from eqzoo.layers.hopfield import HopfieldBlock
from eqzoo.layers.inspection import symmetry_residuals
from eqzoo.layers.pairwise_interaction import PairwiseInteraction
from tests.backend_tools import float64_tol, to_numpy
from tests.layer_checks import run_layer_checks

N = 5


@pytest.mark.parametrize("kwargs,trainable", [
    ({"units": 2}, 2 * N * (N + 1) // 2 + 2 * N + 2),
    ({"units": 2, "rank": 3}, 2 * N * 3 + 2 * N + 2),
    ({"units": 2, "symmetric": False}, 2 * N * N + 2 * N + 2),
    ({"units": 1, "use_linear": False}, N * (N + 1) // 2),
])
def test_pairwise_layer_checks(kwargs, trainable):
    run_layer_checks(lambda: PairwiseInteraction(**kwargs), (N,),
                     expected_output_shape=(kwargs["units"],), expected_trainable=trainable)


@pytest.mark.parametrize("kwargs", [{}, {"rank": 2}, {"symmetric": False}])
def test_pairwise_computes_w0_plus_linear_plus_quadratic(kwargs):
    layer = PairwiseInteraction(units=2, **kwargs)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, N)).astype("float32")
    layer.build((None, N))
    layer.linear.assign(rng.normal(size=(N, 2)))
    layer.bias.assign(rng.normal(size=2))
    js = [to_numpy(j) for j in layer.interaction_matrices()]
    expected = np.stack([np.einsum("bi,ij,bj->b", x, j, x) for j in js], -1)
    expected += x @ to_numpy(layer.linear) + to_numpy(layer.bias)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)
    if kwargs.get("symmetric", True):
        for j in js:
            assert np.array_equal(j, j.T)


def test_pairwise_rejects_rank_with_unconstrained_and_bad_units():
    with pytest.raises(ValueError, match="cannot be combined with symmetric=False"):
        PairwiseInteraction(rank=2, symmetric=False)
    with pytest.raises(ValueError, match="Received: units=0"):
        PairwiseInteraction(units=0)


def test_hopfield_layer_checks_and_structure():
    layer = run_layer_checks(lambda: HopfieldBlock(steps=3), (N,), expected_output_shape=(N,),
                             expected_trainable=N * (N - 1) // 2 + N)
    j = to_numpy(layer.coupling)
    assert np.array_equal(j, j.T) and np.all(np.diag(j) == 0.0)
    run_layer_checks(lambda: HopfieldBlock(steps=2, symmetric=False), (N,),
                     expected_trainable=N * N + N)


@pytest.mark.parametrize("seed", range(5))
def test_hopfield_energy_never_increases(seed):
    n = 12
    rng = np.random.default_rng(seed)
    block = HopfieldBlock(steps=1, dtype="float64")
    block.build((None, n))
    scale = [0.1, 1.0, 10.0][seed % 3]
    block.coupling_parameters.assign(scale * rng.normal(size=block.coupling_parameters.shape))
    block.bias.assign(scale * rng.normal(size=n))
    x = rng.uniform(-1, 1, size=(64, n))
    energies = [to_numpy(block.energy(x))]
    for _ in range(40):
        x = to_numpy(block(x))
        energies.append(to_numpy(block.energy(x)))
    energies = np.stack(energies)
    increase = np.diff(energies, axis=0)
    assert np.max(increase) <= 1e-9 * (1 + np.abs(energies).max()), np.max(increase)
    assert np.min(increase) < 0  # it does descend
    assert np.all(np.abs(x) <= 1.0)


def test_hopfield_energy_matches_formula_and_residuals_are_zero():
    block = HopfieldBlock(steps=2, dtype="float64")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(4, N))
    block.build((None, N))
    block.bias.assign(rng.normal(size=N))
    j, b = to_numpy(block.coupling), to_numpy(block.bias)
    np.testing.assert_allclose(to_numpy(block.energy(x)),
                               -0.5 * np.einsum("bi,ij,bj->b", x, j, x) - x @ b,
                               rtol=float64_tol(1e-12))
    model = keras.Sequential([keras.Input((N,)), block])
    assert symmetry_residuals(model) == {block.name: 0.0}


@pytest.mark.parametrize("kwargs,match", [
    ({"steps": 0}, "argument `steps` of HopfieldBlock.*Received: steps=0"),
    ({"step_size": 1.5}, r"expected a number in \(0, 1\]. Received: step_size=1.5"),
])
def test_hopfield_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HopfieldBlock(**kwargs)
