"""LinearDynamics: `x' = x + c v` with one learnt time step c, the EGNN paper's linear baseline."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="eqzoo")
class LinearDynamics(keras.layers.Layer):
    """`x' = x + c v`: every point moves along its velocity for a learnt time `c`.

    The "Linear" baseline of the EGNN paper's N-body experiment (the reference code's
    `Linear_dynamics`, `c` starting at 0.7). It is E(n)-equivariant, but ignores interactions.

    Args:
        initial_time: the starting value of `c`.

    Inputs: a dict with `positions` and `velocities`, both `(batch, n, d)`.
    Output shape: `(batch, n, d)`.

    Example:

    >>> layer = LinearDynamics(initial_time=0.5)
    >>> out = layer({"positions": np.zeros((1, 2, 3), "float32"),
    ...              "velocities": np.ones((1, 2, 3), "float32")})
    >>> float(out[0, 0, 0])
    0.5
    """

    def __init__(self, initial_time=0.7, **kwargs):
        super().__init__(**kwargs)
        if isinstance(initial_time, bool) or not isinstance(initial_time, (int, float)):
            raise ValueError("Invalid value for argument `initial_time` of LinearDynamics: "
                             f"expected a number. Received: initial_time={initial_time!r}")
        self.initial_time = float(initial_time)

    def build(self, input_shape):
        if not isinstance(input_shape, dict) or not {"positions", "velocities"} <= set(
                input_shape):
            raise ValueError("LinearDynamics takes a dict with 'positions' and 'velocities'. "
                             f"Received: {input_shape!r}")
        self.time = self.add_weight(name="time", shape=(),
                                    initializer=keras.initializers.Constant(self.initial_time))

    def call(self, inputs):
        return inputs["positions"] + ops.cast(self.time, inputs["velocities"].dtype) * inputs[
            "velocities"]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape["positions"])

    def get_config(self):
        return {**super().get_config(), "initial_time": self.initial_time}
