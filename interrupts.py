"""Ctrl-C during a run: at once before there is anything to save, cleanly after.

    interrupts = Interrupts().install()
    interrupts.defer(folder)  # from here on a first Ctrl-C only sets a flag
    ...
    interrupts.check()        # raises Interrupted once one came (checkpoints.StopOnInterrupt
                              # calls it between batches)
"""

import contextlib
import os
import signal
import sys


class Interrupted(Exception):
    """Raised where a run can stop cleanly after a Ctrl-C (see `Interrupts`)."""


class Interrupts:
    """SIGINT for one run. Until `defer` (no run folder yet, nothing to save) a SIGINT raises
    KeyboardInterrupt at once. After it, the first SIGINT only sets a flag that `check` turns
    into `Interrupted` between batches and between the final steps: no library in between can
    swallow it, and no file is cut in half. A second SIGINT raises KeyboardInterrupt at once."""

    def __init__(self):
        self.count, self.folder, self.deferred, self.previous = 0, None, False, None

    def install(self):
        with contextlib.suppress(ValueError):  # not the main thread: Python's default stays
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def uninstall(self):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def defer(self, folder):
        if self.count:  # a Ctrl-C during set-up that some library caught and ignored
            raise KeyboardInterrupt
        self.deferred, self.folder = True, folder

    def _handle(self, signum, frame):
        self.count += 1
        if not self.deferred or self.count > 1:
            raise KeyboardInterrupt
        # os.write, not print: the handler may run in the middle of a print to stderr.
        try:
            fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):  # a notebook's or a test's stderr object
            fd = 2
        os.write(fd, b"\ntrain.py: Ctrl-C: stopping at the next batch and "
                 b"saving (press it again to stop at once).\n")

    def check(self):
        if self.count:
            raise Interrupted
