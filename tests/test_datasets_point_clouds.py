"""nbody_charged (the simulator against hand-computed physics, the seed, the cache) and users'
own point clouds ("pointcloud:PATH", `from_point_clouds`): splits, symmetry-keeping scaling,
refusals."""

import json
import os

import numpy as np
import pytest

from eqzoo import datasets
from eqzoo.datasets import nbody
from tests.dataset_checks import assert_splits_match_info, collect

SMALL = {"num_train": 12, "num_validation": 4, "num_test": 4}


def two_particles():
    """Opposite charges 1.5 apart, moving so that the centre of mass drifts."""
    charges = np.array([[[1.0], [-1.0]]])
    loc = np.array([[[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]]])
    vel = np.array([[[0.1, 0.3, 0.0], [0.2, -0.2, 0.1]]])
    return charges, loc, vel


def test_coulomb_forces_by_hand_and_the_clip():
    charges, loc, _ = two_particles()
    force = nbody.forces(loc, charges)
    # F_1 = q_1 q_2 (x_1 - x_2) / |x_1 - x_2|^3 = -1 * (-1.5) / 1.5^3 along x: attraction.
    np.testing.assert_allclose(force[0, 0], [1 / 1.5**2, 0, 0], rtol=1e-12)
    np.testing.assert_array_equal(force[0, 1], -force[0, 0])
    close = np.array([[[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]]])
    np.testing.assert_array_equal(nbody.forces(close, charges)[0, :, 0], [100.0, -100.0])


def test_two_body_momentum_centre_of_mass_and_energy():
    charges, loc, vel = two_particles()
    steps = 1001
    frames = range(10)  # steps 100, 200, ..., 1000, before the two come close
    locs, vels = nbody.simulate(charges, loc, vel, steps, frames=frames)
    momentum = vels.sum(axis=2)  # unit masses
    np.testing.assert_allclose(momentum, np.broadcast_to(vel.sum(1), momentum.shape), atol=1e-12)
    # The centre of mass moves uniformly: x_cm(t) = x_cm(0) + v_cm t, at t = 0.1 (k + 1).
    t = 0.1 * (np.arange(10) + 1)
    expected = loc.mean(1) + vel.mean(1) * t[:, None, None]
    np.testing.assert_allclose(locs.mean(axis=2), expected, atol=1e-12)
    # Energy: the integrator's velocity lags its position by half a step, so the recorded
    # energy carries an O(dt) error, well below the energy's scale; the particles did move.
    energies = nbody.energy(locs.reshape(-1, 2, 3), vels.reshape(-1, 2, 3),
                            np.repeat(charges, 10, axis=0))
    start = nbody.energy(loc, vel, charges)[0]
    assert np.max(np.abs(energies - start)) < 1e-3 * abs(start)
    assert np.linalg.norm(locs[-1, 0, 1] - locs[-1, 0, 0]) < 1.4  # pulled together


def test_the_reference_protocol_constants():
    c = nbody.CONSTANTS
    assert (c["particles"], c["dim"], c["dt"], c["max_force"], c["sample_freq"]) == (
        5, 3, 0.001, 100.0, 100)
    assert (c["frame_in"], c["frame_out"], c["vel_norm"], c["loc_std"]) == (30, 40, 0.5, 1.0)
    assert nbody.SPLITS == {"num_train": 3000, "num_validation": 2000, "num_test": 2000}
    charges, loc, vel = nbody.initial_state(np.random.default_rng(0), 400)
    assert set(np.unique(charges)) == {-1.0, 1.0}
    np.testing.assert_allclose(np.linalg.norm(vel, axis=-1), 0.5)
    assert abs(loc.std() - 1.0) < 0.05


def test_dataset_is_reproducible_from_its_seed_and_cached(monkeypatch):
    first = datasets.load("nbody_charged", batch_size=4, seed=3, **SMALL)
    x, y = assert_splits_match_info(first, batch_size=4)[0]
    assert first.info.input_shape == {"positions": (5, 3), "velocities": (5, 3),
                                      "charges": (5, 1)}
    assert first.info.structure == "point_cloud" and first.info.output_shape == (5, 3)
    assert repr(first.info.symmetry.group) == "E(3)xS(5)"
    cache = os.listdir(nbody.cache_dir())
    assert any(name.startswith("nbody_charged-") and name.endswith(".npz") for name in cache)

    def no_simulation(*args):
        raise AssertionError("simulated again instead of reading the cache")

    monkeypatch.setattr(nbody, "generate", no_simulation)
    again = datasets.load("nbody_charged", batch_size=4, seed=3, **SMALL)
    for a, b in zip(collect(first.test), collect(again.test), strict=True):
        np.testing.assert_array_equal(a["positions"] if isinstance(a, dict) else a,
                                      b["positions"] if isinstance(b, dict) else b)
    monkeypatch.undo()
    other = datasets.load("nbody_charged", batch_size=4, seed=4, **SMALL)
    assert not np.array_equal(collect(other.test)[1], collect(first.test)[1])
    # Velocities have norm 0.5 only at the start; charges stay +-1.
    assert set(np.unique(x["charges"])) <= {-1.0, 1.0}


def test_nbody_refuses_fractions_and_unknown_options():
    with pytest.raises(ValueError, match="fixed splits of whole trajectories"):
        datasets.load("nbody_charged", validation_fraction=0.2, **SMALL)
    with pytest.raises(ValueError, match="Unknown option"):
        datasets.load("nbody_charged", num_examples=10)
    with pytest.raises(ValueError, match="`num_train` of 'nbody_charged': expected a positive"):
        datasets.load("nbody_charged", num_train=0)


def clouds(rng, n_clouds=40, n=6, d=3, mask=True):
    out = {"positions": rng.normal(size=(n_clouds, n, d)) * 3 + 5,
           "velocities": rng.normal(size=(n_clouds, n, d)),
           "features": rng.normal(size=(n_clouds, n, 2)),
           "edge_attributes": rng.normal(size=(n_clouds, n, n, 1)),
           "y": rng.normal(size=(n_clouds, n, d))}
    if mask:
        out["mask"] = (rng.random((n_clouds, n)) < 0.8).astype(float)
        out["mask"][:, :2] = 1
    return out


def test_point_clouds_load_from_a_file_with_one_scale_for_positions(tmp_path):
    data = clouds(np.random.default_rng(0))
    path = os.path.join(tmp_path, "clouds.npz")
    np.savez(path, **data)
    splits = datasets.load(f"pointcloud:{path}", batch_size=8, seed=0)
    info = splits.info
    assert info.structure == "point_cloud" and info.input_shape["positions"] == (6, 3)
    assert repr(info.symmetry.rep_out) == "PointCloudRep(E(3)xS(6), 'position')"
    x, y = assert_splits_match_info(splits, batch_size=8)[0]
    # One scale, no centring: each loaded cloud is a raw cloud divided by one common number.
    raw = data["positions"]
    ratios = []
    for loaded in x["positions"][:5]:
        unit = raw / np.linalg.norm(raw, axis=(1, 2), keepdims=True)
        match = np.argmin(np.abs(unit - loaded / np.linalg.norm(loaded)).max(axis=(1, 2)))
        ratio = raw[match].ravel() / loaded.ravel()
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
        ratios.append(ratio[0])
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-5)
    # A rotation of every cloud before loading rotates what comes out: scaling kept E(3).
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    turned = {**data, "positions": data["positions"] @ q.T, "velocities": data["velocities"] @ q.T,
              "y": data["y"] @ q.T}
    rotated = datasets.from_point_clouds(turned, batch_size=8, seed=0)
    x_turned, y_turned = collect(rotated.train)
    np.testing.assert_allclose(x_turned["positions"], x["positions"] @ q.T, atol=1e-4)
    np.testing.assert_allclose(y_turned, y @ q.T, atol=1e-4)


@pytest.mark.parametrize("change, match", [
    (lambda d: d.update(velocities=d["velocities"][:, :5]), "velocities must have shape"),
    (lambda d: d["features"].__setitem__((0, 0, 0), np.nan), "features holds 1 NaN"),
    (lambda d: d.update(mask=d["mask"][:, :, None]), "mask must have shape \\(40, 6\\)"),
    (lambda d: d.update(positions=d["positions"][:, :1], y=d["y"][:, :1],
                        velocities=d["velocities"][:, :1], features=d["features"][:, :1],
                        edge_attributes=d["edge_attributes"][:, :1, :1], mask=d["mask"][:, :1]),
     "n >= 2 points"),
    (lambda d: d["mask"].__setitem__((3, slice(1, None)), 0), "at least 2 real points"),
    (lambda d: d.update(y=d["y"][:30]), "one entry per cloud"),
])
def test_bad_point_clouds_are_refused_in_one_line(change, match):
    data = clouds(np.random.default_rng(2))
    change(data)
    with pytest.raises(ValueError, match=match) as error:
        datasets.from_point_clouds(data)
    assert "\n" not in str(error.value)


def test_train_py_fits_egnn_on_nbody_and_logs_its_equivariance(tmp_path, capsys):
    from eqzoo import train

    def argv(model):
        flags = ["--model", model, "--set", "width=8", "--set", "depth=1", "--epochs", "1",
                 "--batch-size", "10", "--lr", "5e-4", "--wandb", "disabled", "--run-dir",
                 str(tmp_path), "--run-id", model.split("_")[0]]
        for option, value in SMALL.items():
            flags += ["--dataset-option", f"{option}={value}"]
        return flags

    assert train.main(argv("egnn_nbody")) == 0
    with open(os.path.join(tmp_path, "egnn", "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["epochs_completed"] == 1 and np.isfinite(metrics["test/loss"])
    assert metrics["equivariance/E_3_xS_5"] < 1e-10  # measured in float64 each epoch
    with open(os.path.join(tmp_path, "egnn", "history.csv")) as f:
        assert "equivariance/E_3_xS_5" in f.readline()
    # The GNN twin trains through the same loop and declares no symmetry.
    assert train.main(argv("gnn_nbody")) == 0
    assert "Run folder" in capsys.readouterr().out
