"""The graph family: symmetric edge outputs, node outputs, and the builders' argument checks.

The registry-wide checks (build, fit, save, params, equivariance from the preset metadata) run
on these presets in tests/test_zoo.py; here, what is particular to graphs.
"""

import numpy as np
import pytest

from eqzoo import zoo
from eqzoo.layers.equivariance import assert_equivariant
from eqzoo.layers.groups import SymmetricGroup
from eqzoo.layers.representations import DefiningRep
from tests.backend_tools import to_numpy


def test_edge_output_is_symmetric_even_for_asymmetric_inputs():
    model = zoo.create_model("equivariant_graph_net_line_degrees")
    x = np.random.default_rng(0).normal(size=(3, 8, 8)).astype("float32")  # not symmetric
    y = to_numpy(model(x))
    assert y.shape == (3, 8, 8)
    np.testing.assert_array_equal(y, y.transpose(0, 2, 1))
    plain = zoo.create_model("equivariant_graph_net_line_degrees", symmetric_output=False)
    y = to_numpy(plain(x))
    assert np.abs(y - y.transpose(0, 2, 1)).max() > 1e-3  # the symmetrisation is what does it


def test_node_output_is_permutation_equivariant():
    model = zoo.create_model("equivariant_graph_net_line_degrees", output="nodes",
                             input_shape=(6, 6))
    assert model.output_shape == (None, 6)
    points = DefiningRep(SymmetricGroup(6))
    assert_equivariant(model, points.group, points * points, points, atol=1e-4)


def test_invariant_network_is_independent_of_the_node_count():
    small = zoo.create_model("invariant_graph_net_triangles", input_shape=(5, 5))
    large = zoo.create_model("invariant_graph_net_triangles", input_shape=(12, 12))
    assert small.count_params() == large.count_params() == 4_689


@pytest.mark.parametrize("name, overrides, message", [
    ("invariant_graph_net_triangles", {"input_shape": (8, 7)},
     r"expected \(n, n\), a square matrix per example. Received: input_shape=\(8, 7\)"),
    ("equivariant_graph_net_line_degrees", {"output": "graph"},
     r"expected one of 'edges', 'nodes'. Received: output='graph'"),
])
def test_bad_arguments(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        zoo.create_model(name, **overrides)
