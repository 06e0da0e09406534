"""How a run ends before it finishes: a non-finite loss, or a Ctrl-C.

Both leave the run folder resumable or explain why not, finish the W&B run with the exit code,
and print one line saying what happened and what to do next (`train.fit_evaluate_save` and
`train.train` call them).
"""

import os
import sys

from eqzoo.messages import EXIT_FAILED, EXIT_INTERRUPTED


def stop_non_finite(config, losses, folder, run):
    """A NaN or inf stop: nothing non-finite is saved (best.keras holds the best finite epoch,
    if any), no metrics.json, and W&B's summary says why the run stopped."""
    from eqzoo import wandb_logging

    best = os.path.join(folder, "best.keras")
    epoch = len(losses) if losses else "?"
    if run is not None:
        wandb_logging.wandb_call("summary", run.summary.update,
                                 {"stopped": "non-finite loss or weights", "stopped_epoch": epoch})
        wandb_logging.wandb_call("finish", run.finish, exit_code=EXIT_FAILED)
    kept = (f"the best finite model so far is {best}" if os.path.exists(best)
            else "no epoch ended with finite weights, so no model was saved")
    loss = losses[-1] if losses else "non-finite"
    print(f"train.py: error: the training loss became {loss} in epoch {epoch} and "
          f"TerminateOnNaN stopped the run; try a lower --learning-rate (it was "
          f"{config['learning_rate']:g}); {kept}.", file=sys.stderr)
    return EXIT_FAILED


def stop_interrupted(model, folder, run, interrupts):
    """After a Ctrl-C: the current weights as interrupted.keras (if finite), W&B finished with
    exit code 130, and the resume command; the last epoch's backup is what a resume uses."""
    from eqzoo import checkpoints, wandb_logging

    saved = ""
    if model.optimizer is not None and model.optimizer.built and \
            checkpoints.weights_finite(model):
        path = os.path.join(folder, "interrupted.keras")
        checkpoints.save_model(model, path)
        saved = f"; the model is in {path}"
    if run is not None:
        wandb_logging.wandb_call("finish", run.finish, exit_code=EXIT_INTERRUPTED)
    print(f"\ntrain.py: interrupted{saved}. Resume with: python train.py --resume {folder}",
          file=sys.stderr)
    return EXIT_INTERRUPTED
