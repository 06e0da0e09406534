"""A real Ctrl-C in the middle of an in-process `train.main` run, for the resume tests."""

import os
import signal

from eqzoo.callbacks import SymmetryAndTime


def ctrl_c_after_epoch(patch, epoch=1):
    """Patches `SymmetryAndTime.on_epoch_end` (with `patch`, a pytest MonkeyPatch) so that the
    run receives a real SIGINT at the end of epoch `epoch` (0-based); the handler train.main
    installs turns it into a clean stop."""
    on_epoch_end = SymmetryAndTime.on_epoch_end

    def then_ctrl_c(self, done, logs=None):
        on_epoch_end(self, done, logs)
        if done == epoch:
            os.kill(os.getpid(), signal.SIGINT)

    patch.setattr(SymmetryAndTime, "on_epoch_end", then_ctrl_c)
