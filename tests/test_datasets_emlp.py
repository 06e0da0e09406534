"""The EMLP paper's tasks: formulas by hand, the symmetry under numpy-built transforms, seeds."""

import numpy as np
import pytest

from eqzoo import datasets
from eqzoo.datasets import emlp_tasks
from tests.dataset_checks import assert_splits_match_info

NAMES = sorted(emlp_tasks.TASKS)
ETA = np.diag([1.0, -1.0, -1.0, -1.0])


def random_orthogonal(rng, n):
    """Haar-random O(n): QR of a Gaussian matrix, signs fixed, then a reflection half the time."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q = q * np.sign(np.diag(r))
    return q if rng.random() < 0.5 else q @ np.diag([-1.0] + [1.0] * (n - 1))


def random_lorentz(rng, rapidity=1.5):
    """A boost of the given rapidity along a random direction, after a random O(3) of space and,
    half the time, time reversal: an element of O(1, 3), checked against eta."""
    n = rng.standard_normal(3)
    n /= np.linalg.norm(n)
    boost = np.eye(4)
    boost[0, 0] = np.cosh(rapidity)
    boost[0, 1:] = boost[1:, 0] = np.sinh(rapidity) * n
    boost[1:, 1:] += (np.cosh(rapidity) - 1.0) * np.outer(n, n)
    spatial = np.eye(4)
    spatial[1:, 1:] = random_orthogonal(rng, 3)
    g = boost @ spatial @ (np.diag([-1.0, 1, 1, 1]) if rng.random() < 0.5 else np.eye(4))
    np.testing.assert_allclose(g.T @ ETA @ g, ETA, atol=1e-12)
    return g


def block(g, copies, scalars=0):
    """`g` acting on each of `copies` vectors, after `scalars` invariant entries."""
    return np.block([[np.eye(scalars), np.zeros((scalars, copies * len(g)))],
                     [np.zeros((copies * len(g), scalars)), np.kron(np.eye(copies), g)]])


def test_o5_formula_by_hand():
    x = np.zeros((2, 10))
    x[0, :5], x[0, 5:] = [3, 4, 0, 0, 0], [0, 0, 2, 0, 0]     # |x1| = 5, |x2| = 2, orthogonal
    x[1, :5], x[1, 5:] = [1, 0, 0, 0, 0], [-1, 0, 0, 0, 0]    # opposite unit vectors: cosine -1
    np.testing.assert_allclose(emlp_tasks.o5_target(x)[:, 0],
                               [np.sin(5.0) - 4.0, np.sin(1.0) - 0.5 - 1.0], rtol=1e-12)


def test_inertia_formula_by_hand():
    # Mass 2 at (1, 0, 0) and mass 3 at (0, 1, 1), three massless bodies anywhere.
    x = np.zeros((1, 20))
    x[0, :5] = [2, 3, 0, 0, 0]
    x[0, 5:8], x[0, 8:11], x[0, 11:14] = [1, 0, 0], [0, 1, 1], [7, -2, 5]
    expected = 2 * np.diag([0.0, 1, 1]) + 3 * np.array([[2.0, 0, 0], [0, 1, -1], [0, -1, 1]])
    np.testing.assert_allclose(emlp_tasks.inertia_target(x).reshape(3, 3), expected, atol=1e-12)
    task = emlp_tasks.make("inertia", seed=0, num_examples=50)
    assert (task.x[:, :5] > 0).all()   # softplus masses
    tensors = task.y.reshape(-1, 3, 3)
    np.testing.assert_allclose(tensors, tensors.transpose(0, 2, 1), atol=1e-12)
    assert (np.linalg.eigvalsh(tensors) > 0).all()   # inertia of 5 masses off one line


def test_scattering_term_equals_its_expansion_in_invariants():
    """4 L_e^{ab} L_mu,ab expanded by hand into Minkowski products of the four momenta."""
    x = emlp_tasks.make("particle_scattering", seed=3, num_examples=40).x
    p = x.reshape(-1, 4, 4)

    def dot(i, j):
        return np.einsum("bi,ij,bj->b", p[:, i], ETA, p[:, j])

    a, b = dot(0, 2) - dot(0, 0), dot(1, 3) - dot(1, 1)
    expanded = 4 * (dot(0, 1) * dot(2, 3) - b * dot(0, 2) - a * dot(1, 3) + 4 * a * b)
    np.testing.assert_allclose(emlp_tasks.scattering_target(x)[:, 0], expanded, rtol=1e-10)
    assert abs(np.std(x) - 0.25) < 0.02


@pytest.mark.parametrize("name, make_g", [
    ("o5_synthetic", lambda rng: (block(random_orthogonal(rng, 5), 2), None)),
    ("inertia", lambda rng: (lambda r: (block(r, 5, scalars=5), np.kron(r, r)))(
        random_orthogonal(rng, 3))),
    ("particle_scattering", lambda rng: (block(random_lorentz(rng), 4), None)),
])
def test_targets_have_the_symmetry(name, make_g):
    """f(rho_in(g) x) = rho_out(g) f(x) for transforms built here, reflections included."""
    task = emlp_tasks.make(name, seed=1, num_examples=200)
    rng = np.random.default_rng(7)
    for _ in range(5):
        rho_in, rho_out = make_g(rng)
        moved = task.target_fn(task.x @ rho_in.T)
        expected = task.y if rho_out is None else task.y @ rho_out.T
        np.testing.assert_allclose(moved, expected, rtol=1e-8, atol=1e-8 * np.abs(task.y).max())
    # and a map outside the group changes them: scaling one vector, or a shear of space-time
    wrong = np.eye(task.x.shape[1])
    wrong[-1, -1] = 2.0
    assert np.abs(task.target_fn(task.x @ wrong.T) - task.y).max() > 0.1


@pytest.mark.parametrize("name", NAMES)
def test_standardization_scales_whole_fields_from_the_training_split(name):
    task, indices, scaling = emlp_tasks.split(name, seed=2, num_examples=300)
    splits = datasets.load(name, seed=2, num_examples=300, batch_size=16)
    (x_train, y_train), _, (x_test, y_test) = assert_splits_match_info(splits, batch_size=16)
    np.testing.assert_allclose(x_test, task.x[indices["test"]] / np.repeat(
        scaling.field_scales, scaling.field_sizes), rtol=1e-6)
    ends = np.cumsum(scaling.field_sizes)
    for size, end, scale in zip(scaling.field_sizes, ends, scaling.field_scales, strict=True):
        raw = task.x[indices["train"], end - size:end]
        assert scale == pytest.approx(np.sqrt(np.mean(raw**2)))   # one number per field
    np.testing.assert_allclose(np.sqrt(np.mean(x_train.astype(np.float64) ** 2)), 1.0, atol=0.15)
    if task.target_is_scalar:   # centred and scaled on the training split
        assert abs(y_train.mean()) < 1e-5 and y_train.std() == pytest.approx(1.0, abs=1e-4)
    else:   # the inertia tensor: scaled only, so R Y R^T still maps targets to targets
        assert scaling.target_shift == 0.0
    np.testing.assert_allclose(
        y_test * scaling.target_scale + scaling.target_shift, task.y[indices["test"]],
        rtol=1e-5, atol=1e-5 * np.abs(task.y).max())


@pytest.mark.parametrize("name", NAMES)
def test_seed_fixes_the_data_and_the_splits(name):
    a = emlp_tasks.make(name, seed=4, num_examples=30)
    np.testing.assert_array_equal(a.x, emlp_tasks.make(name, seed=4, num_examples=30).x)
    assert not np.array_equal(a.x, emlp_tasks.make(name, seed=5, num_examples=30).x)
    first = datasets.load(name, seed=4, num_examples=60, batch_size=8)
    again = datasets.load(name, seed=4, num_examples=60, batch_size=8)
    for s, t in zip(first[:3], again[:3], strict=True):
        for (x1, y1), (x2, y2) in zip(s, t, strict=True):
            np.testing.assert_array_equal(x1.numpy(), x2.numpy())
            np.testing.assert_array_equal(y1.numpy(), y2.numpy())


def test_default_split_trains_on_the_papers_1000_examples():
    info = datasets.get_info("particle_scattering")
    assert (info.train_size, info.input_shape, info.output_shape) == (1000, (16,), (1,))
    assert datasets.get_info("inertia").output_shape == (9,)
    assert datasets.get_info("o5_synthetic", num_examples=500, train_size=30).train_size == 30


@pytest.mark.parametrize("options, match", [
    ({"num_examples": 0}, "expected a positive integer. Received: num_examples=0"),
    ({"bodies": 5}, r"Unknown option\(s\) \['bodies'\] for dataset 'o5_synthetic'"),
    ({"num_examples": 2.5}, "Received: num_examples=2.5"),
])
def test_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        datasets.load("o5_synthetic", **options)


@pytest.mark.parametrize("name", NAMES)
def test_the_declared_symmetry_holds_on_the_delivered_data(name):
    """info.symmetry (eqzoo's groups and representations) on the raw data, and on the
    standardised splits through the scales: what a model trained on them must respect."""
    task, _, scaling = emlp_tasks.split(name, seed=1, num_examples=200)
    info = datasets.get_info(name, seed=1, num_examples=200)
    symmetry = info.symmetry
    assert symmetry.rep_in.dim == task.x.shape[1] and symmetry.rep_out.dim == task.y.shape[1]
    for g in symmetry.group.sample(6, seed=3):
        moved = task.target_fn(symmetry.apply(g, task.x))
        np.testing.assert_allclose(moved, symmetry.apply_to_target(g, task.y), rtol=1e-7,
                                   atol=1e-7 * np.abs(task.y).max())
        # Dividing each field by one number commutes with the group: g . (x / s) = (g . x) / s.
        np.testing.assert_allclose(scaling.inputs(symmetry.apply(g, task.x)),
                                   symmetry.apply(g, scaling.inputs(task.x)), atol=1e-9)
    assert info.to_dict()["symmetry"]["group"] == repr(symmetry.group)
