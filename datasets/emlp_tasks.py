"""The EMLP paper's three regression tasks, with their continuous symmetries, from a seed.

Finzi, Welling & Wilson, "A Practical Method for Constructing Equivariant Multilayer Perceptrons
for Arbitrary Matrix Groups" (ICML 2021), section 7; the formulas are those of their
`emlp/datasets.py` (`O5Synthetic`, `Inertia`, `ParticleInteraction`):

- `o5_synthetic`: `x = (x1, x2)`, two standard normal vectors of R^5, and
  `y = sin|x1| - |x2|^3 / 2 + x1.x2 / (|x1| |x2|)`: O(5)-invariant.
- `inertia`: k masses `m_i = softplus(z_i)` then k positions `r_i` in R^3 (standard normal), and
  the inertia matrix `y = sum_i m_i (|r_i|^2 I - r_i r_i^T)`, flattened row-major to 9 values:
  O(3)-equivariant, `Y -> R Y R^T`.
- `particle_scattering`: four 4-momenta `p1..p4` (standard normal / 4), and the electron-muon
  scattering term `y = 4 L_e^{ab} L_mu,ab` with `L_e = p1 p3^T - (p1.p3 - p1.p1) eta`,
  `L_mu = (eta p2)(eta p4)^T - (p2.p4 - p2.p2) eta`, Minkowski products `a.b = a^T eta b` and
  `eta = diag(1, -1, -1, -1)`: Lorentz-invariant.

Each example is a stack of fields (scalars, vectors) flattened in that order. Standardisation
keeps the symmetry: each input field is divided by one number, its root mean square over the
training split (a vector's coordinates share it, nothing is centred); a scalar target is centred
and scaled, a tensor target only scaled. `standardization` returns those numbers, so a test MSE
converts back to the units of the raw targets (the units of the EMLP paper's tables) by
multiplying by `target_scale ** 2`.
"""

from typing import NamedTuple

import numpy as np

from eqzoo.datasets import pipeline
from eqzoo.datasets.info import DatasetInfo, Splits, Symmetry
from eqzoo.datasets.registry import register, reject_tfds_arguments
from eqzoo.datasets.synthetic import check_options
from eqzoo.layers.groups import O13, O
from eqzoo.layers.representations import DefiningRep, TrivialRep

REFERENCE = ("Finzi, Welling & Wilson, A Practical Method for Constructing Equivariant "
             "Multilayer Perceptrons for Arbitrary Matrix Groups (ICML 2021)")
# 1,429 examples split 70/10/20 train on exactly 1,000: the size the EMLP paper's tables lead
# with, so a default train.py run is comparable with them.
NUM_EXAMPLES = 1429
MINKOWSKI = np.diag([1.0, -1.0, -1.0, -1.0])


class EmlpTask(NamedTuple):
    x: np.ndarray  # (examples, sum of field sizes), the fields concatenated
    y: np.ndarray  # (examples, 1) or (examples, 9)
    target_fn: object  # the noiseless ground truth on a batch of raw inputs
    fields: tuple  # the size of each input field, in order
    target_is_scalar: bool
    description: str


def o5_synthetic(seed, num_examples=NUM_EXAMPLES):
    """`y = sin|x1| - |x2|^3 / 2 + x1.x2 / (|x1| |x2|)` for x1, x2 in R^5: O(5)-invariant."""
    x = _rng(seed).standard_normal((num_examples, 10))
    return EmlpTask(
        x, o5_target(x), o5_target, (5, 5), True,
        "Two standard normal vectors x1, x2 of R^5 (input (10,): x1 then x2); the target is "
        "sin|x1| - |x2|^3 / 2 + x1.x2 / (|x1| |x2|), invariant under O(5) acting on both.",
    )


def o5_target(x):
    x1, x2 = x[:, :5], x[:, 5:]
    n1, n2 = np.linalg.norm(x1, axis=1), np.linalg.norm(x2, axis=1)
    return (np.sin(n1) - 0.5 * n2**3 + np.sum(x1 * x2, axis=1) / (n1 * n2))[:, None]


def inertia(seed, num_examples=NUM_EXAMPLES, bodies=5):
    """The inertia matrix `sum_i m_i (|r_i|^2 I - r_i r_i^T)` of point masses: O(3)-equivariant."""
    x = _rng(seed).standard_normal((num_examples, 4 * bodies))
    x[:, :bodies] = np.logaddexp(0.0, x[:, :bodies])  # softplus: positive masses
    return EmlpTask(
        x, inertia_target(x), inertia_target, (1,) * bodies + (3,) * bodies, False,
        f"{bodies} point masses (softplus of standard normals) and their positions in R^3 "
        f"(standard normal); input ({4 * bodies},): the masses, then the positions. The target "
        "is the inertia matrix sum_i m_i (|r_i|^2 I - r_i r_i^T), flattened row-major to 9 "
        "values, equivariant under O(3): Y -> R Y R^T when every r_i -> R r_i.",
    )


def inertia_target(x):
    bodies = x.shape[1] // 4
    m, r = x[:, :bodies], x[:, bodies:].reshape(len(x), bodies, 3)
    r2 = np.sum(r**2, axis=2)
    tensor = (np.einsum("bi,bi->b", m, r2)[:, None, None] * np.eye(3)
              - np.einsum("bi,bij,bik->bjk", m, r, r))
    return tensor.reshape(len(x), 9)


def particle_scattering(seed, num_examples=NUM_EXAMPLES):
    """The electron-muon scattering term of four 4-momenta (EMLP paper): Lorentz-invariant."""
    x = _rng(seed).standard_normal((num_examples, 16)) / 4.0
    return EmlpTask(
        x, scattering_target(x), scattering_target, (4, 4, 4, 4), True,
        "Four 4-momenta p1..p4 (standard normal / 4; input (16,): p1 to p4, each (E, px, py, "
        "pz)); the target is the electron-muon scattering term 4 L_e^{ab} L_mu,ab with "
        "L_e = p1 p3^T - (p1.p3 - p1.p1) eta and L_mu = (eta p2)(eta p4)^T - (p2.p4 - p2.p2) "
        "eta, eta = diag(1, -1, -1, -1), invariant under the Lorentz group O(1, 3).",
    )


def scattering_target(x):
    p1, p2, p3, p4 = (x[:, 4 * i:4 * i + 4] for i in range(4))

    def dot(a, b):
        return np.einsum("bi,ij,bj->b", a, MINKOWSKI, b)[:, None, None]

    electron = p1[:, :, None] * p3[:, None, :] - (dot(p1, p3) - dot(p1, p1)) * MINKOWSKI
    lowered2, lowered4 = p2 @ MINKOWSKI, p4 @ MINKOWSKI
    muon = lowered2[:, :, None] * lowered4[:, None, :] - (dot(p2, p4) - dot(p2, p2)) * MINKOWSKI
    return 4.0 * np.sum(electron * muon, axis=(1, 2))[:, None]


TASKS = {
    "o5_synthetic": o5_synthetic,
    "inertia": inertia,
    "particle_scattering": particle_scattering,
}
# float64 values generated (inputs, targets, the intermediate tensors): checked before generating.
ELEMENTS = {
    "o5_synthetic": lambda num_examples, **_: 12 * num_examples,
    "inertia": lambda num_examples, bodies, **_: num_examples * (7 * bodies + 18),
    "particle_scattering": lambda num_examples, **_: 50 * num_examples,
}


def make(name, seed, **options):
    """The `EmlpTask` `name` with `options` checked (positive integers), before any split."""
    check_options(name, TASKS[name], ELEMENTS[name], options)
    return TASKS[name](seed, **options)


class Standardization(NamedTuple):
    """`x / field_scales` (one per input field of `field_sizes` values), and
    `(y - target_shift) / target_scale`."""

    field_sizes: tuple
    field_scales: tuple
    target_shift: float
    target_scale: float

    def inputs(self, x):
        return x / np.repeat(self.field_scales, self.field_sizes)[None, :]

    def targets(self, y):
        return (y - self.target_shift) / self.target_scale


def standardization(task, train_rows):
    """The symmetry-keeping scales of `task`, fitted on the rows `train_rows` of its arrays."""
    x, y = task.x[train_rows], task.y[train_rows]
    ends = np.cumsum(task.fields)
    scales = tuple(float(np.sqrt(np.mean(x[:, end - size:end] ** 2)))
                   for size, end in zip(task.fields, ends, strict=True))
    if task.target_is_scalar:
        shift, scale = float(np.mean(y)), float(np.std(y))
    else:  # a tensor: a shift would move it off the origin, which R Y R^T keeps
        shift, scale = 0.0, float(np.sqrt(np.mean(y**2)))
    return Standardization(tuple(task.fields), scales, shift, scale)


def split(name, seed, *, validation_fraction=None, test_fraction=None, train_size=None,
          **options):
    """`(task, indices, standardization)`: what `load` serves, as numpy, for benchmarks."""
    task = make(name, seed, **options)
    indices = pipeline.split_indices(
        len(task.x), validation_fraction or pipeline.DEFAULT_VALIDATION_FRACTION,
        test_fraction or pipeline.DEFAULT_TEST_FRACTION, seed, name=name)
    indices = pipeline.subsample_train(indices, train_size, seed, name=name)
    return task, indices, standardization(task, indices["train"])


def standardised(task, indices, scaling):
    """`(inputs, targets)`: for each split of `indices`, its rows standardised, as float32."""
    return ({s: scaling.inputs(task.x[i]).astype(np.float32) for s, i in indices.items()},
            {s: scaling.targets(task.y[i]).astype(np.float32) for s, i in indices.items()})


def load(name, *, batch_size, seed, validation_fraction, test_fraction, reconstruction,
         data_dir, download, **options):
    reject_tfds_arguments(name, data_dir, download)
    task, indices, scaling = split(name, seed, validation_fraction=validation_fraction,
                                   test_fraction=test_fraction, **options)
    arrays = pipeline.ArraySplits(*standardised(task, indices, scaling), indices)
    options.pop("train_size", None)
    options_text = ", ".join(f"{k}={v!r}" for k, v in sorted(options.items())) or "defaults"
    scales = ", ".join(f"{s:.4g}" for s in scaling.field_scales)
    target = (f"target centred by {scaling.target_shift:.4g} and divided by "
              f"{scaling.target_scale:.4g}" if task.target_is_scalar else
              f"target divided by {scaling.target_scale:.4g}")
    info = DatasetInfo(
        name=name, task="regression", structure="tensor", input_shape=task.x.shape[1:],
        output_shape=task.y.shape[1:], num_classes=None, train_size=len(indices["train"]),
        validation_size=len(indices["validation"]), test_size=len(indices["test"]),
        symmetry=symmetry(name, task), source=f"synthetic ({options_text}, seed={seed}); "
        f"{REFERENCE}", description=task.description,
        preprocessing=(f"fitted on the training split, keeping the symmetry: each input field "
                       f"divided by its root mean square ({scales}); {target}"),
    )
    if reconstruction:
        arrays, info = pipeline.as_reconstruction(arrays, info)
    return Splits(*pipeline.to_pipelines(arrays, batch_size=batch_size, seed=seed), info)


def symmetry(name, task):
    """The `Symmetry` the task's ground truth has: the group and its representations on the
    flattened inputs and targets, as EMLP declares them (`rep_in`, `rep_out`, `symmetry`)."""
    if name == "o5_synthetic":
        group = O(5)
        return Symmetry(group, None, "invariant", rep_in=2 * DefiningRep(group),
                        rep_out=TrivialRep(group))
    if name == "inertia":
        group, bodies = O(3), task.x.shape[1] // 4
        vector = DefiningRep(group)
        return Symmetry(group, None, "equivariant",
                        rep_in=bodies * TrivialRep(group) + bodies * vector,
                        rep_out=vector * vector)
    group = O13()
    return Symmetry(group, None, "invariant", rep_in=4 * DefiningRep(group),
                    rep_out=TrivialRep(group))


def _rng(seed):
    return np.random.default_rng([seed, 21])


for _name, _task in TASKS.items():
    register(_name, load, source="synthetic (EMLP)", description=_task.__doc__.splitlines()[0])
