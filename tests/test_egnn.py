"""EGNNLayer and its point-cloud symmetry: E(n) x S_n equivariance with transforms built here in
numpy (QR-random orthogonal matrices of both determinants, translations, permutations), padded
clouds, the velocity variant, gradients against finite differences, saving, bad inputs."""

import os

import keras
import numpy as np
import pytest

from eqzoo.layers import EGNNLayer, MessagePassing, PointCloudInvariants, equivariance_error
from eqzoo.layers.point_clouds import EuclideanGroup, PointCloudRep
from tests.backend_tools import to_numpy
from tests.layer_checks import GRADIENT_DTYPE, assert_gradients_match_finite_differences


def orthogonal(rng, d, det):
    """A random orthogonal d x d matrix of determinant `det`, from numpy's QR."""
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) * det < 0:
        q[:, 0] = -q[:, 0]
    return q


def cloud(rng, batch=3, n=5, d=3, f=4, e=2, velocities=True, mask=None):
    x = {"features": rng.normal(size=(batch, n, f)), "positions": rng.normal(size=(batch, n, d)),
         "edge_attributes": rng.normal(size=(batch, n, n, e))}
    x["edge_attributes"] += np.swapaxes(x["edge_attributes"], 1, 2)
    if velocities:
        x["velocities"] = rng.normal(size=(batch, n, d))
    if mask is not None:
        x["mask"] = np.asarray(mask, "float64")
    return {k: v.astype("float32") for k, v in x.items()}


def moved(x, q, t, p):
    """The cloud rotated/reflected by q, translated by t and relabelled by p, by hand."""
    out = {"features": x["features"][:, p], "positions": x["positions"][:, p] @ q.T + t,
           "edge_attributes": x["edge_attributes"][:, p][:, :, p]}
    if "velocities" in x:
        out["velocities"] = x["velocities"][:, p] @ q.T
    if "mask" in x:
        out["mask"] = x["mask"][:, p]
    return {k: v.astype("float32") for k, v in out.items()}


def call(layer, x):
    return {k: to_numpy(v, "float64") for k, v in layer(x).items()}


LAYERS = {
    "default": {},
    "sum_normalized_tanh_soft": {"coordinate_aggregation": "sum", "normalize": True,
                                 "tanh": True, "soft_edges": True, "aggregation": "mean"},
    "no_residual": {"units": 6, "residual": False},
}


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("det", [1, -1])
@pytest.mark.parametrize("options", list(LAYERS), ids=list(LAYERS))
@pytest.mark.parametrize("velocities", [False, True], ids=["plain", "velocity"])
def test_egnn_layer_is_e_n_x_s_n_equivariant(d, det, options, velocities):
    rng = np.random.default_rng(d + 10 * (det > 0))
    layer = EGNNLayer(**LAYERS[options])
    x = cloud(rng, d=d, velocities=velocities)
    q, t, p = orthogonal(rng, d, det), rng.normal(size=d) * 3, rng.permutation(5)
    fx, fgx = call(layer, x), call(layer, moved(x, q, t, p))
    np.testing.assert_allclose(fgx["positions"], fx["positions"][:, p] @ q.T + t, atol=2e-5)
    np.testing.assert_allclose(fgx["features"], fx["features"][:, p], atol=2e-5)
    assert ("velocities" in fx) == velocities
    if velocities:
        np.testing.assert_allclose(fgx["velocities"], fx["velocities"][:, p] @ q.T, atol=2e-5)
    assert np.abs(fx["positions"] - x["positions"]).max() > 1e-6  # the points do move


def test_padded_points_send_nothing_receive_nothing_and_stay():
    rng = np.random.default_rng(0)
    mask = [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 1, 0]]
    x = cloud(rng, mask=mask)
    layer = EGNNLayer(soft_edges=True)
    out = call(layer, x)
    padding = np.asarray(mask) == 0
    for key in ("positions", "velocities", "features"):
        np.testing.assert_array_equal(out[key][padding], x[key][padding])
    # Whatever the padding holds, the real points' outputs are the same.
    other = {k: v.copy() for k, v in x.items()}
    for key in ("positions", "velocities", "features"):
        other[key][padding] = rng.normal(size=other[key][padding].shape) * 10
    other["edge_attributes"][padding] = 5.0
    again = call(layer, other)
    for key in ("positions", "velocities", "features"):
        np.testing.assert_allclose(again[key][~padding], out[key][~padding], atol=1e-5)
    # The same cloud without its padding gives the same answer.
    alone = {k: v[:1, :3] if k != "edge_attributes" else v[:1, :3, :3] for k, v in x.items()
             if k != "mask"}
    np.testing.assert_allclose(call(layer, alone)["positions"], out["positions"][:1, :3],
                               atol=1e-5)


def test_padded_clouds_stay_equivariant_under_the_point_cloud_check():
    group = EuclideanGroup(3, 5)
    fields = {"features": ("scalar", 4), "positions": "position", "velocities": "vector",
              "mask": "mask", "edge_attributes": ("pair", 2)}
    rep_in = PointCloudRep(group, fields)
    rep_out = PointCloudRep(group, {"features": ("scalar", 4), "positions": "position",
                                    "velocities": "vector"})
    x = cloud(np.random.default_rng(1), mask=[[1, 1, 1, 0, 0], [1] * 5, [0, 1, 1, 1, 1]])
    assert equivariance_error(EGNNLayer(), group, rep_in, rep_out, inputs=x) < 1e-5
    # The check draws reflections: a layer that sees absolute coordinates fails it.
    biased = keras.layers.Lambda(lambda x: {**x, "positions": x["positions"] * 1.0 + 0.1})
    assert equivariance_error(biased, group, rep_in, rep_in, inputs=x) > 1e-2


def test_velocity_variant_is_eq_7_and_adjacency_cuts_edges():
    rng = np.random.default_rng(2)
    x = cloud(rng)
    layer = EGNNLayer()
    out = call(layer, x)
    # x' = x + v' exactly, v' = phi_v(h) v + C sum_j (x_i - x_j) phi_x(m_ij).
    np.testing.assert_allclose(out["positions"], x["positions"] + out["velocities"], atol=1e-5)
    # With no edges only phi_v(h) v moves a point, and the features see no messages.
    empty = {**x, "adjacency": np.zeros((3, 5, 5), "float32")}
    phi_v = to_numpy(layer.phi_v[1](layer.phi_v[0](x["features"])))
    np.testing.assert_allclose(call(layer, empty)["velocities"], phi_v * x["velocities"],
                               atol=1e-5)


def test_message_passing_is_permutation_equivariant_and_refuses_coordinates():
    rng = np.random.default_rng(3)
    x = cloud(rng, velocities=False)
    layer = MessagePassing()
    inputs = {"features": x["features"], "edge_attributes": x["edge_attributes"]}
    p = rng.permutation(5)
    out, permuted = to_numpy(layer(inputs)), to_numpy(layer(
        {"features": x["features"][:, p], "edge_attributes": x["edge_attributes"][:, p][:, :, p]}))
    np.testing.assert_allclose(permuted, out[:, p], atol=1e-5)
    with pytest.raises(ValueError, match="unknown \\['positions'\\]"):
        layer({"features": x["features"], "positions": x["positions"]})


def test_invariants_are_norms_products_and_squared_distances():
    rng = np.random.default_rng(4)
    x, v, q = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 1))
    out = PointCloudInvariants()({"positions": x, "velocities": v, "charges": q})
    np.testing.assert_allclose(to_numpy(out["features"])[..., 0], np.linalg.norm(v, axis=-1),
                               rtol=1e-6)
    edges = to_numpy(out["edge_attributes"])
    np.testing.assert_allclose(edges[..., 0], q[:, :, None, 0] * q[:, None, :, 0], rtol=1e-6)
    np.testing.assert_allclose(edges[..., 1], ((x[:, :, None] - x[:, None]) ** 2).sum(-1),
                               rtol=1e-5)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    x = {k: v.astype(GRADIENT_DTYPE) for k, v in cloud(rng, batch=2, n=4, f=3).items()}
    layer = EGNNLayer(units=3, normalize=True, soft_edges=True, dtype=GRADIENT_DTYPE)
    layer(x)
    target = rng.normal(size=(2, 4, 3))

    def loss():
        out = layer(x)
        error = keras.ops.subtract(out["positions"], target)
        return keras.ops.sum(keras.ops.square(error)) + keras.ops.sum(
            keras.ops.sin(out["features"]))

    # phi_x's last kernel (the coordinate weights) and phi_e's first (every message).
    variables = [layer.phi_x[1].kernel, layer.phi_e[0].bias, layer.phi_v[1].kernel]
    assert_gradients_match_finite_differences(loss, variables)


def test_saved_model_round_trip(tmp_path):
    inputs = {"features": keras.Input((5, 4), name="features"),
              "positions": keras.Input((5, 3), name="positions"),
              "mask": keras.Input((5,), name="mask")}
    out = EGNNLayer(tanh=True, name="egnn")(inputs)
    model = keras.Model(inputs, out["positions"])
    x = cloud(np.random.default_rng(6), velocities=False, mask=[[1, 1, 1, 1, 0]] * 3)
    x = {k: x[k] for k in inputs}
    path = os.path.join(tmp_path, "egnn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    assert loaded.get_layer("egnn").get_config() == model.get_layer("egnn").get_config()


@pytest.mark.parametrize("inputs, error, match", [
    ({"positions": np.zeros((1, 3, 3))}, ValueError, "missing \\['features'\\]"),
    ({"features": np.zeros((1, 3, 2)), "positions": np.zeros((1, 3, 3)),
      "charge": np.zeros((1, 3, 1))}, ValueError, "unknown \\['charge'\\]"),
    (np.zeros((1, 3, 3)), TypeError, "takes a dict of named tensors with keys"),
])
def test_bad_inputs_are_refused_in_one_line(inputs, error, match):
    with pytest.raises(error, match=match):
        EGNNLayer()(inputs)


@pytest.mark.parametrize("kwargs, match", [
    ({"units": 0}, "`units` of EGNNLayer: expected a positive integer or None. Received: units=0"),
    ({"aggregation": "max"}, "`aggregation` of EGNNLayer: expected one of"),
    ({"clip": -1}, "`clip` of EGNNLayer: expected a positive number. Received: clip=-1"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EGNNLayer(**kwargs)


def test_residual_needs_matching_widths():
    with pytest.raises(ValueError, match="residual connection needs units equal"):
        EGNNLayer(units=8)({"features": np.zeros((1, 3, 4)), "positions": np.zeros((1, 3, 3))})


def test_euclidean_group_samples_both_determinants_and_describes_elements():
    group = EuclideanGroup(3, 4)
    dets = [np.linalg.det(q) for q, _, _ in group.sample(40, seed=0)]
    assert np.allclose(np.abs(dets), 1) and min(dets) < 0 < max(dets)
    assert any(np.linalg.det(q) < 0 for q, _, _ in group.generators)
    assert "det -1" in group.describe(group.generators[0])
    with pytest.raises(ValueError, match="`dim` of EuclideanGroup: expected a positive integer"):
        EuclideanGroup(0, 4)
    with pytest.raises(ValueError, match="Invalid field 'x' of PointCloudRep"):
        PointCloudRep(group, {"x": "vectr"})


def test_egnn_layer_matches_eqs_3_to_6_written_in_numpy():
    rng = np.random.default_rng(7)
    x = cloud(rng, batch=2, n=4, f=3, velocities=False)
    layer = EGNNLayer()
    out = call(layer, x)

    def dense(d, v, act=None):
        y = v @ to_numpy(d.kernel, "float64") + (to_numpy(d.bias, "float64") if d.use_bias else 0)
        return y / (1 + np.exp(-y)) if act == "silu" else y

    h, pos, a = (x[k].astype("float64") for k in ("features", "positions", "edge_attributes"))
    n = 4
    expected_x, expected_h = np.empty_like(pos), np.empty_like(h)
    for b in range(2):
        for i in range(n):
            shift, total = np.zeros(3), 0.0
            for j in range(n):
                if j == i:
                    continue
                diff = pos[b, i] - pos[b, j]
                m = dense(layer.phi_e[1], dense(layer.phi_e[0], np.concatenate(
                    [h[b, i], h[b, j], [diff @ diff], a[b, i, j]]), "silu"), "silu")
                shift += diff * dense(layer.phi_x[1], dense(layer.phi_x[0], m, "silu"))
                total = total + m                                  # sum_j m_ij
            expected_x[b, i] = pos[b, i] + shift / (n - 1)      # C = 1 / (n - 1)
            expected_h[b, i] = h[b, i] + dense(layer.phi_h[1], dense(
                layer.phi_h[0], np.concatenate([h[b, i], total]), "silu"))
    np.testing.assert_allclose(out["positions"], expected_x, atol=1e-5)
    np.testing.assert_allclose(out["features"], expected_h, atol=1e-4)


def test_a_given_graph_moves_with_the_points():
    rng = np.random.default_rng(8)
    x = cloud(rng, mask=[[1, 1, 1, 1, 0]] * 3)
    upper = np.triu(rng.random((3, 5, 5)) < 0.6, k=1)
    x["adjacency"] = (upper | np.swapaxes(upper, 1, 2)).astype("float32")
    layer = EGNNLayer(soft_edges=True)
    q, t, p = orthogonal(rng, 3, -1), rng.normal(size=3), rng.permutation(5)
    g_x = {**moved(x, q, t, p), "adjacency": x["adjacency"][:, p][:, :, p]}
    fx, fgx = call(layer, x), call(layer, g_x)
    np.testing.assert_allclose(fgx["positions"], fx["positions"][:, p] @ q.T + t, atol=2e-5)
    np.testing.assert_allclose(fgx["velocities"], fx["velocities"][:, p] @ q.T, atol=2e-5)
    # Cutting an edge changes the answer: the adjacency is used.
    cut = {**x, "adjacency": x["adjacency"] * 0.0}
    assert np.abs(call(layer, cut)["positions"] - fx["positions"]).max() > 1e-6
