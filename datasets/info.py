"""What `datasets.load` returns: the splits, and the facts a training loop needs about them."""

import dataclasses
from typing import NamedTuple

import numpy as np
import tensorflow as tf

TASKS = ("classification", "regression", "reconstruction")
STRUCTURES = ("vector", "image", "set", "signal", "graph", "point_cloud", "tensor")
TARGET_BEHAVIOURS = ("invariant", "equivariant")


@dataclasses.dataclass(frozen=True)
class Symmetry:
    """A group acting on one axis (or several) of every example, and how the target responds.

    The group acts through its defining matrices along `axis` of an example (the batch axis not
    counted): `(g . x)[..., i, ...] = sum_j g[i, j] x[..., j, ...]`, which for a permutation
    group is `x[p]` along that axis. A tuple of axes acts along each of them: with
    `axis=(0, 1)` an n x n matrix moves as `g X g^T`, e.g. a graph's adjacency matrix under a
    relabelling of its nodes. With `target="invariant"` the ground truth satisfies
    `f(g . x) = f(x)`; with `target="equivariant"` it satisfies `f(g . x) = g . f(x)`, the group
    acting on the same axes of the target.

    When the example is a stack of fields that move differently (scalars beside vectors, four
    4-momenta), `rep_in` and `rep_out` say how: `g . x = rho_in(g) x` on the example flattened
    row-major, `rho_out(g)` on the flattened target (which must be unchanged for
    `target="invariant"`), and `axis` is None.

    Args:
        group: a `layers.groups` group; with `axis`, its `dim` equals the size of those axes.
        axis: the axis of one example the group acts on, or a tuple of axes; None with `rep_in`.
        target: "invariant" or "equivariant".
        rep_in, rep_out: `layers.representations` of `group` on the flattened example and
            target, or None (the group's matrices along `axis`).

    Example:

    >>> from eqzoo.layers.groups import SymmetricGroup
    >>> s = Symmetry(SymmetricGroup(5), axis=0, target="invariant")
    >>> s.apply(s.group.sample(1, seed=0)[0], np.zeros((2, 5, 3))).shape
    (2, 5, 3)
    """

    group: object
    axis: int | tuple | None
    target: str
    rep_in: object = None
    rep_out: object = None

    def __post_init__(self):
        if self.target not in TARGET_BEHAVIOURS:
            raise ValueError(
                f"Invalid value for argument `target` of Symmetry: expected one of "
                f"{list(TARGET_BEHAVIOURS)}. Received: target={self.target!r}"
            )
        if (self.axis is None) == (self.rep_in is None):
            raise ValueError(
                "Symmetry takes either `axis` (the group's matrices along axes of an example) or "
                f"`rep_in` (a representation on the flattened example). Received: axis="
                f"{self.axis!r}, rep_in={self.rep_in!r}"
            )

    @property
    def axes(self):
        """The acted-on axes as a tuple (`axis` may be one int; () with `rep_in`)."""
        if self.axis is None:
            return ()
        return tuple(self.axis) if isinstance(self.axis, (tuple, list)) else (self.axis,)

    def apply(self, g, batch):
        """`g . x` for every example `x` of a batch (numpy, shape kept)."""
        batch = np.asarray(batch)
        if self.rep_in is not None:
            return _act(self.rep_in, g, batch)
        for axis in self.axes:
            moved = np.moveaxis(batch, axis + 1, 0)
            batch = np.moveaxis(np.tensordot(np.asarray(g), moved, axes=1), 0, axis + 1)
        return batch

    def apply_to_target(self, g, targets):
        """What the targets of `g . x` are, given the targets of `x`."""
        if self.target == "invariant":
            return targets
        if self.rep_in is not None:
            return _act(self.rep_out or self.rep_in, g, np.asarray(targets))
        return self.apply(g, targets)

    def to_dict(self):
        if self.rep_in is not None:
            return {"group": repr(self.group), "axis": None, "target": self.target,
                    "rep_in": repr(self.rep_in), "rep_out": repr(self.rep_out)}
        axis = list(self.axes) if len(self.axes) > 1 else self.axes[0]
        return {"group": repr(self.group), "axis": axis, "target": self.target}


def _act(rep, g, batch):
    """`rho(g)` on each example of a batch, flattened row-major and reshaped back."""
    flat = batch.reshape(len(batch), -1)
    return (flat @ np.asarray(rep.matrix(g)).T.astype(flat.dtype)).reshape(batch.shape)


@dataclasses.dataclass(frozen=True)
class PointCloudSymmetry:
    """E(d) x S_n on a point cloud's named inputs, and how the target moves with them.

    `rep_in` and `rep_out` are `layers.point_clouds.PointCloudRep`s of one `EuclideanGroup`:
    for N-body data, positions rotate, reflect, translate and permute, velocities rotate,
    reflect and permute, charges permute, and the target positions move like the positions.
    The ground truth satisfies `f(g . x) = g . f(x)`.

    Example:

    >>> from eqzoo.layers.point_clouds import EuclideanGroup, PointCloudRep
    >>> group = EuclideanGroup(3, 5)
    >>> s = PointCloudSymmetry(group, PointCloudRep(group, {"positions": "position"}),
    ...                        PointCloudRep(group, "position"))
    >>> s.apply(group.sample(1, seed=0)[0], {"positions": np.zeros((2, 5, 3))})["positions"].shape
    (2, 5, 3)
    """

    group: object
    rep_in: object
    rep_out: object
    target: str = "equivariant"

    def apply(self, g, batch):
        """`g . x` for every example of a batch (a dict of numpy arrays)."""
        return self.rep_in.act(g, batch)

    def apply_to_target(self, g, targets):
        return self.rep_out.act(g, targets)

    def to_dict(self):
        return {"group": repr(self.group), "rep_in": self.rep_in.get_config(),
                "rep_out": self.rep_out.get_config(), "target": self.target}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """The facts about a loaded dataset that choose a model's head, loss and metrics.

    Examples arrive as `(x, y)` pairs, `x` float32 of shape `(batch, *input_shape)`, or, for
    named inputs (point clouds), a dict of such tensors with `input_shape` a dict of shapes.

    Args:
        name: the registered name, e.g. "digits" or "tfds:mnist".
        task: "classification" (`y` int32 class ids of shape `(batch,)`, `num_classes` set,
            `output_shape == (num_classes,)` logits), "regression" (`y` float32 of shape
            `(batch, *output_shape)`) or "reconstruction" (`y` is `x`, `output_shape ==
            input_shape`).
        structure: how an example is laid out: "vector", "image" (height, width, channels),
            "set" (elements, features: order carries no meaning), "signal" (a periodic
            sequence), "graph" (an n x n adjacency or distance matrix: node order carries no
            meaning), "point_cloud" (named tensors of n points in R^d) or "tensor" (anything
            else).
        input_shape: shape of one example, without the batch axis (a dict of shapes for
            named inputs).
        output_shape: shape of what the model must output for one example.
        num_classes: number of classes for classification, else None.
        train_size, validation_size, test_size: examples in each split.
        symmetry: a `Symmetry` (or `PointCloudSymmetry`) the ground truth has, or None.
        source: where the data came from, e.g. "scikit-learn load_digits", "tfds mnist:3.0.1".
        description: one paragraph for people.
        preprocessing: what was done to the raw data, e.g. which statistics were fitted where.
        class_names: for classification, the name of each class id in order (a CSV's labels,
            an image folder's subfolders), when the source has names; else None.
    """

    name: str
    task: str
    structure: str
    input_shape: tuple
    output_shape: tuple
    num_classes: int | None
    train_size: int
    validation_size: int
    test_size: int
    symmetry: Symmetry | PointCloudSymmetry | None
    source: str
    description: str
    preprocessing: str
    class_names: tuple | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(
                f"DatasetInfo.task must be one of {list(TASKS)}. Received: {self.task!r}"
            )
        if self.structure not in STRUCTURES:
            raise ValueError(
                f"DatasetInfo.structure must be one of {list(STRUCTURES)}. "
                f"Received: {self.structure!r}"
            )
        if (self.task == "classification") != (self.num_classes is not None):
            raise ValueError(
                "DatasetInfo.num_classes must be set for classification and only then. "
                f"Received: task={self.task!r}, num_classes={self.num_classes!r}"
            )
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError(
                "DatasetInfo.class_names must name each of the num_classes classes. "
                f"Received: num_classes={self.num_classes!r}, class_names={self.class_names!r}"
            )

    def for_reconstruction(self):
        """This dataset as an autoencoding task: the target is the input.

        The identity map commutes with every group action, so a declared symmetry stays, now
        equivariant.
        """
        symmetry = self.symmetry and dataclasses.replace(
            self.symmetry, target="equivariant", rep_out=self.symmetry.rep_in)
        return dataclasses.replace(
            self,
            task="reconstruction",
            output_shape=self.input_shape,
            num_classes=None,
            class_names=None,
            symmetry=symmetry,
            description=f"{self.description} Used for reconstruction: the target is the input.",
        )

    def to_dict(self):
        """Plain values only, for a run's config (W&B) or a JSON file."""
        d = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        d["input_shape"] = ({k: list(v) for k, v in self.input_shape.items()}
                            if isinstance(self.input_shape, dict) else list(self.input_shape))
        d["output_shape"] = list(self.output_shape)
        d["symmetry"] = self.symmetry.to_dict() if self.symmetry else None
        d["class_names"] = list(self.class_names) if self.class_names is not None else None
        return d


class Splits(NamedTuple):
    """`(train, validation, test, info)`: batched, prefetched `tf.data.Dataset`s and their info.

    Only `train` is shuffled (anew each epoch, in an order fixed by the seed).
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    info: DatasetInfo
