"""Your own point clouds: "pointcloud:PATH", an `.npz` archive of named per-point arrays.

    np.savez("clouds.npz", positions=x, velocities=v, mask=m, y=target)
    train, validation, test, info = datasets.load("pointcloud:clouds.npz")

Arrays (N clouds of n points in R^d): `positions` `(N, n, d)` (required), optional `features`
`(N, n, f)`, `velocities` `(N, n, d)`, `mask` `(N, n)` (1 real point, 0 padding),
`edge_attributes` `(N, n, n, e)`, and the target `y` (option `target=NAME`): `(N, n, d)` positions
to predict, per-point values `(N, n, c)`, or one value per cloud `(N,)` / `(N, k)`. The splits are
drawn as for every source (`arrays.split`). `datasets.from_point_clouds(arrays)` does the same
in memory.

Standardisation keeps E(d) x S_n: one scale for all positions (the training split's root mean
square distance of real points from their cloud's centroid; never a per-coordinate mean, which
would break rotations), one for velocities (their RMS norm), and per channel over all points for
features, edge attributes and per-point targets; position targets share the positions' scale.
"""

import os
import zipfile

import numpy as np

from eqzoo.datasets import arrays
from eqzoo.datasets.info import DatasetInfo, PointCloudSymmetry, Splits
from eqzoo.datasets.pipeline import (
    ArraySplits,
    check_batch_size,
    check_fractions,
    check_seed,
    to_pipelines,
)
from eqzoo.datasets.registry import register_prefix, reject_options
from eqzoo.layers.point_clouds import EuclideanGroup, PointCloudRep

FIELDS = ("positions", "features", "velocities", "mask", "edge_attributes")
KINDS = {"positions": "position", "velocities": "vector", "mask": "mask"}


def from_point_clouds(clouds, *, target="y", name="point clouds", standardize=True,
                      train_size=None, batch_size=32, seed=0, validation_fraction=None,
                      test_fraction=None):
    """Train, validation and test splits of point clouds given as a dict of numpy arrays.

    Args: `clouds` holds the arrays named in the module docstring; `target` names the target
    array; the rest as for `datasets.from_arrays` (`standardize` as this module describes).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> clouds = {"positions": rng.normal(size=(20, 4, 3)), "y": rng.normal(size=20)}
    >>> from_point_clouds(clouds, seed=0).info.input_shape
    {'positions': (4, 3)}
    """
    batch_size, seed = check_batch_size(batch_size), check_seed(seed)
    check_fractions(validation_fraction, test_fraction)
    inputs, y = _checked(name, clouds, target)
    n_clouds, n, d = inputs["positions"].shape
    indices = arrays.split(name, n_clouds, None, seed=seed,
                           validation_fraction=validation_fraction,
                           test_fraction=test_fraction, train_size=train_size)
    y_kind = ("position" if y.shape[1:] == (n, d) else
              ("scalar", y.shape[2]) if y.ndim == 3 and y.shape[1] == n else
              ("invariant", int(np.prod(y.shape[1:])) if y.ndim > 1 else 1))
    if y.ndim == 1:
        y = y[:, None]
    scales = _scales(inputs, y, y_kind, indices["train"]) if standardize else {}
    xs = {split: {k: _scaled(v[idx], scales.get(k)).astype(np.float32)
                  for k, v in inputs.items()} for split, idx in indices.items()}
    ys = {split: _scaled(y[idx], scales.get("target")).astype(np.float32)
          for split, idx in indices.items()}
    group = EuclideanGroup(d, n)
    fields = {k: KINDS.get(k) or (("scalar" if k == "features" else "pair"), v.shape[-1])
              for k, v in inputs.items()}
    info = DatasetInfo(
        name=name, task="regression", structure="point_cloud",
        input_shape={k: tuple(v.shape[1:]) for k, v in inputs.items()},
        output_shape=tuple(y.shape[1:]), num_classes=None,
        train_size=len(indices["train"]), validation_size=len(indices["validation"]),
        test_size=len(indices["test"]),
        symmetry=PointCloudSymmetry(group, PointCloudRep(group, fields),
                                    PointCloudRep(group, y_kind)),
        source=name, description=f"{n_clouds} point clouds of {n} points in R^{d}.",
        preprocessing=("one scale per field fitted on the training split (positions never "
                       "centred per coordinate): " + ", ".join(
                           f"{k} / {_text(s)}" for k, s in scales.items())
                       if scales else "none: cast to float32"))
    arrays_ = ArraySplits(xs, ys, indices)
    return Splits(*to_pipelines(arrays_, batch_size=batch_size, seed=seed), info)


def load_point_clouds(name, *, batch_size, seed, validation_fraction, test_fraction,
                      reconstruction, data_dir, download, **options):
    arrays.reject_tfds_arguments(name, data_dir, download)
    reject_options(name, options, allowed=("target", "standardize", "train_size"))
    if reconstruction:
        raise ValueError(f"{name}: point clouds have a target of their own; reconstruction does "
                         "not apply. Received: reconstruction=True")
    path = name[len("pointcloud:"):]
    if not os.path.isfile(path):
        raise arrays.DataFileNotFoundError(f"{name}: no such file: {os.path.abspath(path)}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            clouds = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, AttributeError, zipfile.BadZipFile) as error:
        raise ValueError(f"{name}: not a NumPy .npz archive of named arrays ({error}); save one "
                         "with np.savez(path, positions=..., y=...)") from None
    return from_point_clouds(clouds, target=options.get("target", "y"), name=name,
                             standardize=options.get("standardize", True),
                             train_size=options.get("train_size"), batch_size=batch_size,
                             seed=seed, validation_fraction=validation_fraction,
                             test_fraction=test_fraction)


def _checked(name, clouds, target):
    unknown = sorted(set(clouds) - set(FIELDS) - {target})
    if "positions" not in clouds or target not in clouds or unknown:
        raise ValueError(f"{name}: expected arrays 'positions' and the target {target!r}, and "
                         f"optionally {list(FIELDS[1:])}. Received: {sorted(clouds)}")
    inputs = {k: np.asarray(clouds[k]) for k in FIELDS if k in clouds}
    y = np.asarray(clouds[target])
    x = inputs["positions"]
    if x.ndim != 3 or x.shape[1] < 2:
        raise ValueError(f"{name}: positions must have shape (clouds, n, d) with n >= 2 points. "
                         f"Received: shape {x.shape}")
    n_clouds, n, d = x.shape
    expected = {"features": (n_clouds, n, None), "velocities": (n_clouds, n, d),
                "mask": (n_clouds, n), "edge_attributes": (n_clouds, n, n, None)}
    for key, shape in expected.items():
        if key in inputs and (inputs[key].ndim != len(shape) or any(
                want not in (None, got)
                for want, got in zip(shape, inputs[key].shape, strict=True))):
            wanted = tuple("any" if s is None else s for s in shape)
            raise ValueError(f"{name}: {key} must have shape {wanted} to match positions "
                             f"{x.shape} ({n} points). Received: shape {inputs[key].shape}")
    if len(y) != n_clouds:
        raise ValueError(f"{name}: the target {target!r} must hold one entry per cloud "
                         f"({n_clouds}). Received: shape {y.shape}")
    for key, value in [*inputs.items(), (target, y)]:
        if value.dtype.kind not in "biuf" or not np.all(np.isfinite(value)):
            bad = "non-numeric" if value.dtype.kind not in "biuf" else (
                f"{int(np.sum(~np.isfinite(value)))} NaN or infinite values")
            raise ValueError(f"{name}: {key} holds {bad}; expected finite numbers.")
    if "mask" in inputs:
        if not np.all(np.isin(inputs["mask"], (0, 1))):
            raise ValueError(f"{name}: mask must hold 0 (padding) or 1 (a point). Received "
                             f"values {np.unique(inputs['mask'])[:6].tolist()}")
        fewest = int(inputs["mask"].sum(axis=1).min())
        if fewest < 2:
            row = int(inputs["mask"].sum(1).argmin())
            raise ValueError(f"{name}: every cloud needs at least 2 real points. Received: a "
                             f"cloud with {fewest} (mask row {row})")
    return {k: v.astype(np.float64) for k, v in inputs.items()}, y.astype(np.float64)


def _scales(inputs, y, y_kind, train):
    mask = inputs.get("mask", np.ones(inputs["positions"].shape[:2]))[train][..., None]
    x = inputs["positions"][train]
    centroid = (x * mask).sum(1, keepdims=True) / mask.sum(1, keepdims=True)
    scales = {"positions": _positive(np.sqrt(((x - centroid) ** 2 * mask).sum()
                                             / (mask.sum() * x.shape[-1])))}
    if "velocities" in inputs:
        v = inputs["velocities"][train]
        scales["velocities"] = _positive(np.sqrt((v**2 * mask).sum() / mask.sum()))
    for key in ("features", "edge_attributes"):
        if key in inputs:
            values = inputs[key][train].reshape(-1, inputs[key].shape[-1])
            scales[key] = (values.mean(0), _positive(values.std(0)))
    if y_kind == "position":
        scales["target"] = scales["positions"]
    else:
        values = y[train].reshape(-1, y.shape[-1])
        scales["target"] = (values.mean(0), _positive(values.std(0)))
    return scales


def _positive(s):
    return np.where(np.asarray(s) > 0, s, 1.0)


def _scaled(v, scale):
    if scale is None:
        return v
    if isinstance(scale, tuple):
        return (v - scale[0]) / scale[1]
    return v / scale


def _text(scale):
    if isinstance(scale, tuple):
        return "per-channel std, minus per-channel mean"
    return f"{float(scale):.4g}"


register_prefix("pointcloud:", load_point_clouds)
