"""`nbody_charged`: the charged N-body system of the EGNN paper (Satorras et al. 2021, section 5.1).

The protocol of the reference code (github vgsatorras/egnn, `n_body_system/`), which extends the
charged-particles simulator of Kipf et al. (2018, NRI) to 3-D as Fuchs et al. (2020) did:

- 5 particles in 3-D with charges +1 or -1 (probability 1/2 each), unit masses;
- positions N(0, 1) per coordinate (`loc_std` 1, scaled by (n / 5)^(1/3)), velocities in random
  directions with norm 0.5; positions beyond the box of half-width 5 are reflected once at the
  start (the reference's only use of its box, which no longer applies afterwards);
- the force on i is `F_i = sum_j q_i q_j (x_i - x_j) / |x_i - x_j|^3`, each component clipped to
  +-100 (0.1 / dt); integrated with the reference's leapfrog (kick, then drift-kick per step) at
  dt = 0.001 for 5,000 steps, recording every 100th step: frame k is step 100 (k + 1);
- inputs: positions, velocities and charges at frame 30; target: positions at frame 40;
- 3,000 training, 2,000 validation and 2,000 test trajectories.

The simulation is vectorised over trajectories in numpy (float64) and fixed by the seed, each
split from its own random stream (so the test trajectories do not depend on `num_train`); it
stops at the last frame it needs (step 4,100), which changes nothing before it. Each simulated
split is cached as `.npz` under `$EQZOO_CACHE_DIR/nbody/` (default `~/.cache/eqzoo`),
written atomically, keyed by every constant and the seed; delete the folder to clear it.
"""

import hashlib
import json
import os

import numpy as np

from eqzoo.datasets import pipeline
from eqzoo.datasets.info import DatasetInfo, PointCloudSymmetry, Splits
from eqzoo.datasets.registry import register, reject_options, reject_tfds_arguments
from eqzoo.fileio import atomic_write
from eqzoo.layers.point_clouds import EuclideanGroup, PointCloudRep

NAME = "nbody_charged"
CONSTANTS = {"particles": 5, "dim": 3, "loc_std": 1.0, "vel_norm": 0.5, "box_size": 5.0,
             "interaction_strength": 1.0, "dt": 0.001, "max_force": 100.0, "sample_freq": 100,
             "frame_in": 30, "frame_out": 40}
SPLITS = {"num_train": 3000, "num_validation": 2000, "num_test": 2000}
SPLIT_STREAMS = {"train": 0, "validation": 1, "test": 2}
CACHE_VERSION = 2


def cache_dir():
    """Where simulations are cached: `$EQZOO_CACHE_DIR/nbody`, default `~/.cache/eqzoo/nbody`."""
    root = os.environ.get("EQZOO_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache",
                                                             "eqzoo")
    return os.path.join(root, "nbody")


def initial_state(rng, trajectories, particles=5, dim=3, loc_std=1.0, vel_norm=0.5,
                  box_size=5.0):
    """Charges `(t, n, 1)`, positions and velocities `(t, n, d)` as the reference draws them."""
    charges = rng.choice([-1.0, 1.0], size=(trajectories, particles, 1))
    loc = rng.standard_normal((trajectories, particles, dim)) * loc_std * (particles / 5) ** (1 / 3)
    vel = rng.standard_normal((trajectories, particles, dim))
    vel = vel * vel_norm / np.linalg.norm(vel, axis=-1, keepdims=True)
    over, under = loc > box_size, loc < -box_size
    loc = np.where(over, 2 * box_size - loc, np.where(under, -2 * box_size - loc, loc))
    vel = np.where(over, -np.abs(vel), np.where(under, np.abs(vel), vel))
    return charges, loc, vel


def forces(loc, charges, interaction_strength=1.0, max_force=100.0):
    """`F_i = k sum_j q_i q_j (x_i - x_j) / |x_i - x_j|^3`, each component clipped to +-max."""
    diff = loc[:, :, None, :] - loc[:, None, :, :]
    dist2 = np.sum(diff**2, axis=-1)
    n = loc.shape[1]
    np.einsum("tii->ti", dist2)[:] = 1.0  # self-pairs: no force (their diff is 0 anyway)
    size = interaction_strength * (charges * np.swapaxes(charges, 1, 2)) / dist2**1.5
    size[:, np.arange(n), np.arange(n)] = 0.0
    force = np.sum(size[..., None] * diff, axis=2)
    return np.clip(force, -max_force, max_force)


def simulate(charges, loc, vel, steps, sample_freq=100, dt=0.001, interaction_strength=1.0,
             max_force=100.0, frames=None):
    """The reference's integrator: a kick, then `steps - 1` drift-kick steps; returns the
    recorded `(positions, velocities)` of each frame in `frames` (frame k: step
    `sample_freq * (k + 1)`), arrays of shape `(len(frames), t, n, d)`."""
    loc, vel = loc.copy(), vel.copy()
    wanted = {sample_freq * (k + 1): i for i, k in enumerate(frames)}
    out_loc = np.empty((len(frames),) + loc.shape)
    out_vel = np.empty_like(out_loc)
    vel += dt * forces(loc, charges, interaction_strength, max_force)
    for step in range(1, steps):
        loc += dt * vel
        if step in wanted:
            out_loc[wanted[step]], out_vel[wanted[step]] = loc, vel
        vel += dt * forces(loc, charges, interaction_strength, max_force)
    return out_loc, out_vel


def energy(loc, vel, charges, interaction_strength=1.0):
    """Kinetic plus Coulomb energy per trajectory, `sum |v|^2 / 2 + sum_{i<j} q_i q_j / r_ij`."""
    diff = loc[:, :, None, :] - loc[:, None, :, :]
    dist = np.sqrt(np.sum(diff**2, axis=-1))
    n = loc.shape[1]
    upper = np.triu_indices(n, k=1)
    pair = (charges * np.swapaxes(charges, 1, 2))[:, upper[0], upper[1]]
    return 0.5 * np.sum(vel**2, axis=(1, 2)) + interaction_strength * np.sum(
        pair / dist[:, upper[0], upper[1]], axis=1)


def generate(seed, split, trajectories):
    """`{"positions", "velocities", "charges", "target"}` of `trajectories` runs of one split.

    Each split has its own random stream (from `seed` and the split), so the test trajectories
    are the same whatever the number of training trajectories.
    """
    c = CONSTANTS
    rng = np.random.default_rng([seed, 22, SPLIT_STREAMS[split]])
    charges, loc, vel = initial_state(rng, trajectories, c["particles"], c["dim"], c["loc_std"],
                                      c["vel_norm"], c["box_size"])
    frames = (c["frame_in"], c["frame_out"])
    steps = c["sample_freq"] * (max(frames) + 1) + 1
    locs, vels = simulate(charges, loc, vel, steps, c["sample_freq"], c["dt"],
                          c["interaction_strength"], c["max_force"], frames)
    return {"positions": locs[0], "velocities": vels[0], "charges": charges,
            "target": locs[1]}


def cached(seed, split, trajectories):
    """`generate(seed, split, trajectories)`, from the cache if there, else simulated and saved."""
    key = json.dumps({**CONSTANTS, "seed": seed, "split": split, "trajectories": trajectories,
                      "version": CACHE_VERSION}, sort_keys=True)
    path = os.path.join(cache_dir(), f"{NAME}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz")
    if os.path.exists(path):
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    arrays = generate(seed, split, trajectories)
    atomic_write(path, lambda temporary: _save(temporary, arrays))
    return arrays


def _save(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def symmetry(particles=5, dim=3):
    """E(d) x S_n on the inputs and the target of an N-body example."""
    group = EuclideanGroup(dim, particles)
    return PointCloudSymmetry(
        group, PointCloudRep(group, {"positions": "position", "velocities": "vector",
                                     "charges": ("scalar", 1)}),
        PointCloudRep(group, "position"))


def load(name, *, batch_size, seed, validation_fraction, test_fraction, reconstruction,
         data_dir, download, **options):
    reject_tfds_arguments(name, data_dir, download)
    reject_options(name, options, allowed=[*SPLITS, "train_size"])
    if validation_fraction is not None or test_fraction is not None or reconstruction:
        raise ValueError(f"{name!r} has fixed splits of whole trajectories (options "
                         f"{list(SPLITS)}) and a position target. Received: validation_fraction="
                         f"{validation_fraction!r}, test_fraction={test_fraction!r}, "
                         f"reconstruction={reconstruction!r}")
    sizes = {**SPLITS, **{k: v for k, v in options.items() if k in SPLITS}}
    for option, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Invalid value for option `{option}` of {name!r}: expected a "
                             f"positive integer. Received: {option}={value!r}")
    counts = {"train": sizes["num_train"], "validation": sizes["num_validation"],
              "test": sizes["num_test"]}
    data = {split: cached(seed, split, count) for split, count in counts.items()}
    indices = {split: np.arange(count) for split, count in counts.items()}
    indices = pipeline.subsample_train(indices, options.get("train_size"), seed, name=name)
    inputs = ("positions", "velocities", "charges")
    arrays = pipeline.ArraySplits(
        {split: {k: data[split][k][idx].astype(np.float32) for k in inputs}
         for split, idx in indices.items()},
        {split: data[split]["target"][idx].astype(np.float32) for split, idx in indices.items()},
        indices)
    c = CONSTANTS
    info = DatasetInfo(
        name=name, task="regression", structure="point_cloud",
        input_shape={k: tuple(data["test"][k].shape[1:]) for k in inputs},
        output_shape=tuple(data["test"]["target"].shape[1:]), num_classes=None,
        train_size=len(indices["train"]), validation_size=counts["validation"],
        test_size=counts["test"],
        symmetry=symmetry(c["particles"], c["dim"]),
        source=f"simulated (seed={seed}; constants of vgsatorras/egnn n_body_system)",
        description=(f"Charged {c['particles']}-body system in {c['dim']}-D: positions, "
                     f"velocities and charges at frame {c['frame_in']}; the target is the "
                     f"positions at frame {c['frame_out']}, "
                     f"{(c['frame_out'] - c['frame_in']) * c['sample_freq']} simulator steps of "
                     f"dt={c['dt']:g} later. Equivariant under E(3) x S_5."),
        preprocessing="none: simulated in float64, delivered as float32 (never centred or "
                      "scaled, which would break the symmetry)",
    )
    return Splits(*pipeline.to_pipelines(arrays, batch_size=batch_size, seed=seed), info)


register(NAME, load, source="synthetic",
         description="Charged 5-body system in 3-D (EGNN paper): predict positions 1,000 steps on")
