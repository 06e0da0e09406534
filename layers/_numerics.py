"""Numerical helpers shared by the layers."""

import keras
from keras import ops


def at_least_float32(x):
    """`x` in float32 when it is half precision: factorisations (eigh, QR) need the range."""
    if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
        return ops.cast(x, "float32")
    return x
