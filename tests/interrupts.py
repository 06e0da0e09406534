"""A real Ctrl-C in the middle of an in-process `train.main` run, for the resume tests."""

import os
import signal

from eqzoo import train


def ctrl_c_after_epoch(patch, epoch=1):
    """Patches `train.symmetry_and_time` (with `patch`, a pytest MonkeyPatch) so that the run
    receives a real SIGINT at the end of epoch `epoch` (0-based); the handler train.main installs
    turns it into a clean stop."""
    symmetry_and_time = train.symmetry_and_time

    def interrupting():
        callback = symmetry_and_time()
        on_epoch_end = callback.on_epoch_end

        def then_ctrl_c(done, logs=None):
            on_epoch_end(done, logs)
            if done == epoch:
                os.kill(os.getpid(), signal.SIGINT)

        callback.on_epoch_end = then_ctrl_c
        return callback

    patch.setattr(train, "symmetry_and_time", interrupting)
