"""Synthetic tasks: the declared symmetry holds on the data itself; the seed fixes everything."""

import numpy as np
import pytest

from eqzoo import datasets
from eqzoo.datasets import synthetic
from eqzoo.datasets.info import Symmetry
from eqzoo.layers.groups import CyclicGroup, SymmetricGroup

TASKS = sorted(synthetic.TASKS)
# Only quadratic_form adds noise to its target; the symmetry is a property of the ground truth.
NOISELESS = {"quadratic_form": {"noise": 0.0}}


def collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def all_examples(name, seed=1):
    splits = datasets.load(name, seed=seed, num_examples=96, **NOISELESS.get(name, {}))
    parts = zip(*(collect(ds) for ds in splits[:3]), strict=True)  # (xs, ys) of the three splits
    x, y = (np.concatenate(part) for part in parts)
    return x.astype(np.float64), y.astype(np.float64), splits.info


def symmetry_error(symmetry, target_fn, x, y, num_elements=12):
    """`max |f(g . x) - (g acting on y)|` over sampled group elements `g`."""
    return max(
        np.abs(target_fn(symmetry.apply(g, x)) - symmetry.apply_to_target(g, y)).max()
        for g in symmetry.group.sample(num_elements, seed=2)
    )


@pytest.mark.parametrize("name", TASKS)
def test_declared_symmetry_holds_on_the_data(name):
    x, y, info = all_examples(name)
    target_fn = synthetic.make(name, seed=1, num_examples=1).target_fn
    symmetry = info.symmetry
    assert all(symmetry.group.dim == info.input_shape[axis] for axis in symmetry.axes)
    np.testing.assert_allclose(target_fn(x), y, atol=1e-4)  # the delivered targets are f(x)
    assert symmetry_error(symmetry, target_fn, x, y) < 1e-4 * max(1.0, np.abs(y).max())


@pytest.mark.parametrize(
    "name, wrong",
    [
        ("cyclic_signal", lambda info: Symmetry(SymmetricGroup(16), axis=0, target="equivariant")),
        ("set_sum", lambda info: Symmetry(CyclicGroup(3), axis=1, target="invariant")),
        ("hopfield_patterns", lambda info: Symmetry(CyclicGroup(32), axis=0, target="equivariant")),
        ("quadratic_form", lambda info: Symmetry(SymmetricGroup(8), axis=0, target="invariant")),
        # Relabelling the rows alone is no relabelling of the graph.
        ("graph_triangles", lambda info: Symmetry(SymmetricGroup(8), axis=0, target="invariant")),
        ("line_graph_degrees", lambda info: Symmetry(SymmetricGroup(8), axis=(0, 1),
                                                     target="invariant")),
    ],
)
def test_the_check_fails_for_a_symmetry_the_task_lacks(name, wrong):
    x, y, info = all_examples(name)
    target_fn = synthetic.make(name, seed=1, num_examples=1).target_fn
    assert symmetry_error(wrong(info), target_fn, x, y) > 0.1


@pytest.mark.parametrize("name", TASKS)
def test_seed_fixes_task_and_data(name):
    a = synthetic.make(name, seed=4, num_examples=20)
    b = synthetic.make(name, seed=4, num_examples=20)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, synthetic.make(name, seed=5, num_examples=20).x)
    # The task's parameters come before the examples: more examples, the same ground truth.
    probe = synthetic.make(name, seed=9, num_examples=8).x
    more = synthetic.make(name, seed=4, num_examples=50)
    np.testing.assert_array_equal(a.target_fn(probe), more.target_fn(probe))


def test_quadratic_form_noise_has_the_asked_scale():
    task = synthetic.make("quadratic_form", seed=0, num_examples=4000, noise=0.3)
    residual = task.y - task.target_fn(task.x)
    assert abs(residual.std() - 0.3) < 0.02 and abs(residual.mean()) < 0.02


def test_hopfield_inputs_are_corrupted_memories():
    task = synthetic.make(
        "hopfield_patterns", seed=0, num_examples=200, size=20, patterns=3, corruption=0.15
    )
    assert set(np.unique(task.x)) == {-1.0, 1.0} and set(np.unique(task.y)) == {-1.0, 1.0}
    np.testing.assert_array_equal((task.x != task.y).sum(axis=1), 3)
    memories = np.unique(task.y, axis=0)
    assert len(memories) == 6  # three patterns and their negatives
    assert all(any(np.array_equal(-m, n) for n in memories) for m in memories)


def test_graph_tasks_count_by_hand():
    # A triangle (0, 1, 2) with a pendant edge (2, 3): one triangle; in the line graph, edge
    # (0, 1) touches (0, 2) and (1, 2), (0, 2) touches the three others, (2, 3) two.
    a = np.zeros((1, 5, 5))
    for i, j in [(0, 1), (0, 2), (1, 2), (2, 3)]:
        a[0, i, j] = a[0, j, i] = 1.0
    assert synthetic.make("graph_triangles", seed=0, num_examples=1).target_fn(a)[0, 0] == 1.0
    line = synthetic.make("line_graph_degrees", seed=0, num_examples=1).target_fn(a)[0]
    assert line[0, 1] == line[1, 0] == 2 and line[2, 3] == 2 and line[0, 2] == 3
    assert line[3, 4] == 0 and line[0, 3] == 0  # no edge, no line-graph node
    task = synthetic.make("graph_triangles", seed=0, num_examples=40)
    assert np.array_equal(task.x, task.x.transpose(0, 2, 1)) and not np.any(np.diagonal(
        task.x, axis1=1, axis2=2))
    info = datasets.get_info("line_graph_degrees", num_examples=50, nodes=6)
    assert info.input_shape == info.output_shape == (6, 6) and info.structure == "graph"
    assert info.symmetry.axes == (0, 1) and info.to_dict()["symmetry"]["axis"] == [0, 1]


def test_set_tasks_have_the_asked_shapes():
    info = datasets.get_info("set_max", num_examples=50, set_size=5, features=2)
    assert info.input_shape == (5, 2) and info.output_shape == (2,) and info.structure == "set"
    assert info.symmetry.group == SymmetricGroup(5) and info.symmetry.target == "invariant"
    assert "set_size=5" in info.source


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("set_sum", {"set_size": 0}, "expected a positive integer. Received: set_size=0"),
        ("set_sum", {"set_sise": 4}, r"Unknown option\(s\) \['set_sise'\] for dataset 'set_sum'"),
        ("cyclic_signal", {"length": 2.5}, "Received: length=2.5"),
        ("quadratic_form", {"noise": -1.0}, "non-negative finite number. Received: noise=-1.0"),
        ("hopfield_patterns", {"corruption": 0.6}, r"expected a number in \[0, 0.5\)"),
        ("set_max", {"num_examples": 4}, "the validation split would hold 0 examples"),
        ("graph_triangles", {"max_density": 1.5}, r"expected a number in \(0, 1\]"),
        ("line_graph_degrees", {"nodes": 0}, "expected a positive integer. Received: nodes=0"),
    ],
)
def test_bad_options(name, options, match):
    with pytest.raises(ValueError, match=match):
        datasets.load(name, **options)


@pytest.mark.parametrize("name", TASKS)
def test_memory_estimate_covers_what_is_generated(name):
    """ELEMENTS (checked against the memory available before generating) counts at least the
    examples and targets that the task makes, and not wildly more."""
    task = synthetic.make(name, seed=0, num_examples=64)
    generated = task.x.size + task.y.size
    defaults = {k: p.default for k, p in
                list(synthetic.inspect.signature(synthetic.TASKS[name]).parameters.items())[1:]}
    declared = synthetic.ELEMENTS[name](**{**defaults, "num_examples": 64})
    assert generated <= declared <= 4 * generated + 1024


@pytest.mark.parametrize("option, value", [("noise", float("nan")), ("noise", float("inf")),
                                           ("num_examples", 10**15)])
def test_non_finite_or_unallocatable_options_are_refused(option, value):
    with pytest.raises(ValueError, match="finite|needs at least .* bytes"):
        synthetic.make("quadratic_form", seed=0, **{option: value})
