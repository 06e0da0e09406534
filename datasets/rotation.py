"""Rotated-MNIST style options for image sets: rotate test images, or all, by random angles.

    datasets.load("mnist", rotate="test", angles="quarter_turns")   # test images only, k * 90 deg
    datasets.load("mnist", rotate="all", angles="any")              # every split, any angle

`angles="quarter_turns"` turns each image by k * 90 degrees, k drawn uniformly from {0, 1, 2, 3}
(np.rot90, exact: a p4 G-CNN is invariant to it); `angles="any"` by an angle drawn uniformly from
[0, 360) degrees, resampled bilinearly about the image centre with zeros outside (what exact p4
equivariance does not cover, as in MNIST-rot). Draws are stateless, from the seed and the batch's
position, so the test split is the same for a seed; a rotated training split gets fresh angles
per position, and with the epoch's shuffle new pairs of image and angle.
"""

import math

import tensorflow as tf

ROTATE = ("test", "all")
ANGLES = ("quarter_turns", "any")
_STREAM = 23  # mixed into the seed so the angles do not correlate with the shuffle


def check_rotation_options(name, options, input_shape=None, reconstruction=False):
    """`(rotate, angles)` from a loader's options (None, ... when not asked); one-line refusals."""
    rotate, angles = options.get("rotate"), options.get("angles")
    if rotate is not None and reconstruction:
        raise ValueError(f"Dataset {name!r}: option `rotate` rotates the inputs of a classifier; "
                         f"it does not combine with reconstruction. Received: rotate={rotate!r}")
    if rotate is None:
        if angles is not None:
            raise ValueError(f"Dataset {name!r}: option `angles` needs `rotate` ('test' or "
                             f"'all'). Received: angles={angles!r} without rotate")
        return None, None
    if rotate not in ROTATE:
        raise ValueError(f"Invalid value for dataset option `rotate` of {name!r}: expected one of "
                         f"{list(ROTATE)}. Received: rotate={rotate!r}")
    angles = "quarter_turns" if angles is None else angles
    if angles not in ANGLES:
        raise ValueError(f"Invalid value for dataset option `angles` of {name!r}: expected one of "
                         f"{list(ANGLES)}. Received: angles={angles!r}")
    if input_shape is not None and (len(input_shape) != 3 or input_shape[0] != input_shape[1]):
        raise ValueError(f"Dataset {name!r}: option `rotate` needs square images (h, w, c). "
                         f"Received: input shape {tuple(input_shape)}")
    return rotate, angles


def describe(rotate, angles):
    """The preprocessing note for DatasetInfo."""
    which = "test images" if rotate == "test" else "images of every split"
    how = ("by k * 90 degrees, k uniform in {0, 1, 2, 3}" if angles == "quarter_turns" else
           "by an angle uniform in [0, 360) degrees, bilinear, zeros outside")
    return f"{which} rotated {how} (seeded)"


def rotate_batches(ds, angles, seed):
    """`ds` of `(images, labels)` batches with each image rotated as `angles` says."""
    turn = quarter_turns if angles == "quarter_turns" else any_angle

    def rotate(index, batch):
        x, y = batch
        return turn(x, tf.stack([tf.constant(seed * 1000 + _STREAM, tf.int64), index])), y

    return ds.enumerate().map(rotate, num_parallel_calls=tf.data.AUTOTUNE)


def quarter_turns(images, seed):
    """Each image of a `(b, n, n, c)` batch turned by `np.rot90(image, k)`, k drawn per image."""
    k = tf.random.stateless_uniform((tf.shape(images)[0],), seed=seed, minval=0, maxval=4,
                                    dtype=tf.int32)
    turned = tf.stack([tf.image.rot90(images, j) for j in range(4)])  # (4, b, n, n, c)
    return tf.gather(tf.transpose(turned, (1, 0, 2, 3, 4)), k, axis=1, batch_dims=1)


def any_angle(images, seed):
    """Each image rotated about its centre by an angle drawn uniformly in [0, 2 pi), bilinear."""
    theta = tf.random.stateless_uniform((tf.shape(images)[0],), seed=seed, minval=0.0,
                                        maxval=2 * math.pi)
    return rotate_by(images, theta)


def rotate_by(images, theta):
    """Each image turned counter-clockwise by its `theta` (radians) about its centre, bilinear;
    a quarter turn is `np.rot90` (up to float rounding)."""
    shape = tf.shape(images)
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin, zero = tf.cos(theta), tf.sin(theta), tf.zeros_like(theta)
    # Output pixel (x, y) reads input (cos (x - cx) - sin (y - cy) + cx, sin (x - cx) + ...).
    transforms = tf.stack([cos, -sin, cx - cos * cx + sin * cy,
                           sin, cos, cy - sin * cx - cos * cy, zero, zero], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")
