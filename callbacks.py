"""The Keras callback train.py adds to every fit for its logs (files are checkpoints.py's).

    model.fit(..., callbacks=[SymmetryAndTime(), keras.callbacks.CSVLogger(path)])
"""

import time

import keras

from eqzoo.layers.inspection import symmetry_residuals


class SymmetryAndTime(keras.callbacks.Callback):
    """Adds `symmetry/<layer>` = max |W - W^T| (must stay 0) and the epoch's seconds to the logs
    that history.csv, the progress bar and W&B receive."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["time/epoch_seconds"] = time.perf_counter() - self.started
            residuals = symmetry_residuals(self.model)
            logs.update({f"symmetry/{name}": value for name, value in residuals.items()})
