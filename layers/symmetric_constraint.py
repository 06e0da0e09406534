"""SymmetricConstraint: keep a plain Dense kernel symmetric by projection after each update."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="eqzoo")
class SymmetricConstraint(keras.constraints.Constraint):
    """Projects a square kernel onto the symmetric matrices: `W <- (W + W^T) / 2`.

    The projection is the nearest symmetric matrix in Frobenius norm, and bitwise symmetric.
    Keras applies it after every optimizer update, so `keras.layers.Dense(n,
    kernel_constraint=SymmetricConstraint())` stays symmetric through training; the initial
    kernel is not constrained until the first update (call the constraint on it to start
    symmetric). It stores n^2 values, and Adam's moments are not projected: prefer
    `SymmetricDense` unless you need to keep `keras.layers.Dense`.

    Example:

    >>> dense = keras.layers.Dense(4, kernel_constraint=SymmetricConstraint())
    """

    def __call__(self, w):
        shape = tuple(w.shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(
                "SymmetricConstraint needs a square 2-D kernel (a Dense layer whose units equal "
                f"its input width). Received: kernel shape={shape}"
            )
        return ops.multiply(ops.add(w, ops.transpose(w)), ops.cast(0.5, w.dtype))

    def get_config(self):
        return {}
