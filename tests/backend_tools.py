"""Backend-agnostic helpers for tests: numpy reads, gradients w.r.t. Keras variables, and traced
calls.

Each Keras backend differentiates its own way (TensorFlow tapes, `jax.grad` over stateless
calls, PyTorch autograd); these helpers hide the difference so one test runs on all three.
"""

import keras
import numpy as np

# Keras computes float64 throughout on TensorFlow only: on JAX and PyTorch its type promotion
# (`keras.backend.result_type`) maps float64 to float32, so some ops of a float64 layer round to
# float32 (JAX's sin, tanh, cosh; PyTorch's matmul and tensordot). Checks in float64 there use
# float32's tolerance (and gradient checks run in float32: see tests/layer_checks.py).
FLOAT64_EXACT = keras.backend.backend() == "tensorflow"


def float64_tol(tol):
    """A tolerance `tol` where Keras computes in float64; float32's 1e-5 at least elsewhere."""
    return tol if FLOAT64_EXACT else max(tol, 1e-5)


def to_numpy(x, dtype=None):
    """A tensor, Keras variable or array-like as a numpy array (optionally cast to `dtype`).

    `np.asarray` refuses a PyTorch tensor that requires grad (every layer output whose weights
    are trainable); `keras.ops.convert_to_numpy` detaches it first, on every backend.
    """
    value = keras.ops.convert_to_numpy(x)
    return value if dtype is None else value.astype(dtype)


def variable_gradients(loss, variables):
    """Gradients of the scalar `loss()` (a closure over layers) w.r.t. `variables`, as numpy."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss()
        gradients = tape.gradient(value, [v.value for v in variables])
        return [np.asarray(tf.convert_to_tensor(g)) for g in gradients]  # IndexedSlices too
    if backend == "jax":
        import jax

        def loss_of(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return loss()

        return [np.asarray(g) for g in jax.grad(loss_of)([v.value for v in variables])]
    if backend == "torch":
        import torch

        grads = torch.autograd.grad(loss(), [v.value for v in variables])
        return [g.detach().cpu().numpy() for g in grads]
    raise ValueError(f"No gradient helper for the {backend!r} backend.")


def input_gradient(function, x):
    """`d sum(function(x)) / dx` for a numpy `x`, on the active backend, as numpy."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = keras.ops.sum(function(x))
        return tape.gradient(value, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: keras.ops.sum(function(t)))(x))
    import torch

    x = torch.tensor(x, requires_grad=True)
    (grad,) = torch.autograd.grad(keras.ops.sum(function(x)), [x])
    return grad.detach().cpu().numpy()


def traced(model, x, jit):
    """The model's outputs from the backend's compiled path (tf.function, jax.jit), as numpy;
    PyTorch has no separate traced path here, so it returns eager outputs."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return np.asarray(tf.function(model, jit_compile=jit)(x))
    if backend == "jax":
        import jax

        def call(trainable, non_trainable, x):
            y, _ = model.stateless_call(trainable, non_trainable, x)
            return y

        values = ([v.value for v in model.trainable_variables],
                  [v.value for v in model.non_trainable_variables])
        return np.asarray(jax.jit(call)(*values, x))
    return keras.ops.convert_to_numpy(model(x))
