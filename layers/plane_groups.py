"""The point groups of the plane groups p4 and p4m, acting on arrays by np.rot90 and np.flip.

p4 is the group of translations and quarter turns of the pixel grid, p4m adds the mirror flips
(Cohen & Welling, ICML 2016). A G-CNN feature map has one value per pixel, orientation and
channel; the orientations are the elements of the point group, C_4 (p4, 4 elements) or D_4
(p4m, 8), numbered

    j = 4 * f + k   for   g_j = r^k m^f,   acting on an array as   np.rot90(flip^f(a), k)

with `r` the quarter turn `np.rot90` and `m` the flip `np.flip(axis=0)` (of the first axis), so
p4's orientations are p4m's first four. Products and inverses are read off the arrays
themselves (numpy, once), never written by hand.
"""

import difflib

import numpy as np

from eqzoo.layers.groups import ImageDihedralGroup, ImageRotationGroup

__all__ = ["PLANE_GROUPS", "PointGroup", "point_group"]

# Plane group name -> (flips in the point group, the pixel-grid group its feature maps move by).
PLANE_GROUPS = {"p4": (False, ImageRotationGroup), "p4m": (True, ImageDihedralGroup)}


class PointGroup:
    """C_4 (`"p4"`) or D_4 (`"p4m"`): the orientations of a G-CNN feature map.

    Example:

    >>> g = point_group("p4")
    >>> g.order, g.inverse.tolist()
    (4, [0, 3, 2, 1])
    """

    def __init__(self, name):
        self.name = name
        self.flips, self.image_group = PLANE_GROUPS[name]
        self.elements = [(k, f) for f in ((0, 1) if self.flips else (0,)) for k in range(4)]
        self.order = len(self.elements)
        # An asymmetric probe: two elements are equal exactly when they move it the same way.
        probe = np.arange(25).reshape(5, 5)
        moved = {self.transform(probe, j).tobytes(): j for j in range(self.order)}
        self.product = np.array([[moved[self.transform(self.transform(probe, b), a).tobytes()]
                                  for b in range(self.order)] for a in range(self.order)])
        self.inverse = np.argmax(self.product == 0, axis=1)

    def transform(self, array, j, axes=(0, 1)):
        """`g_j` applied to the two spatial `axes` of `array`: `np.rot90(flip^f(array), k)`."""
        k, f = self.elements[j]
        if f:
            array = np.flip(array, axis=axes[0])
        return np.rot90(array, k, axes=axes)

    def orientation_permutation(self, j):
        """`q` with `(g_j . F)[..., h, :] = F[..., q[h], :]`: the regular representation,
        `q[h] = g_j^{-1} h`."""
        return self.product[self.inverse[j]]

    def identify(self, element, height, width):
        """The index j of the pixel permutation matrix `element` of `image_group(h, w)`."""
        p = np.argmax(np.asarray(element), axis=1)
        pixels = np.arange(height * width).reshape(height, width)
        for j in range(self.order):
            if np.array_equal(self.transform(pixels, j).ravel(), p):
                return j
        raise ValueError(f"The matrix is not an element of {self.name}'s point group on a "
                         f"{height} x {width} grid.")


_CACHE = {}


def point_group(name, owner="group"):
    """The `PointGroup` of plane group `name` ("p4" or "p4m"); an unknown name lists the known."""
    if name not in PLANE_GROUPS:
        close = difflib.get_close_matches(str(name), list(PLANE_GROUPS), n=1, cutoff=0.4)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"Invalid value for argument `{owner}`: expected one of "
                         f"{sorted(PLANE_GROUPS)}{hint}. Received: {owner}={name!r}")
    if name not in _CACHE:
        _CACHE[name] = PointGroup(name)
    return _CACHE[name]
