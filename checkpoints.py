"""Run-folder files that survive SIGKILL at any instant, and Ctrl-C that always stops a run.

Every file is written all or nothing (`eqzoo.fileio`: a temporary name, flushed, renamed over).
`Backup` is Keras' `BackupAndRestore` with such writes, two checkpoints kept, each described by a
metadata file holding its SHA-256 and optimizer step; a resume uses the newest pair that verifies
and loads, says so in one line when it falls back, and refuses in one line when none does.
`BestModelCheckpoint` never keeps non-finite weights; `StopOnInterrupt` stops `fit` between
batches once train.py's SIGINT handler has set its flag.

    backup = Backup("runs/x/backup", note=print)
    resumed = backup.restore(model)           # None, or the metadata of the checkpoint loaded
    model.fit(..., callbacks=[..., backup])   # a verified checkpoint after every epoch
"""

import csv
import json
import os
import shutil

import keras
import numpy as np

from eqzoo.fileio import (
    atomic_write,
    file_sha256,
    naming,
    remove_temporaries,
    write_json,
    write_temporary,
)
from eqzoo.messages import first_line
from eqzoo.runs import BrokenRunFile, parse_history


def save_model(model, path):
    """`model.save(path)`, atomically."""
    atomic_write(path, lambda temporary: model.save(temporary, overwrite=True))


def weights_finite(model):
    return all(np.all(np.isfinite(keras.ops.convert_to_numpy(weight)))
               for weight in model.weights if "float" in str(weight.dtype))


# ----------------------------------------------------------------------------------------------
# The training backup
# ----------------------------------------------------------------------------------------------
class Backup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose checkpoints survive a kill at any instant and are verified.

    A checkpoint is `latest.weights.h5` (weights and optimizer state) and
    `training_metadata.json` (epoch, SHA-256 and size of the weights file, optimizer step, and
    `finished`: the epochs of a `fit` that returned, else false); the
    one before is kept as `*.bkp`. A write puts the new weights file in place under a temporary
    name, rotates the current pair to `*.bkp`, renames the new file in, then writes its metadata:
    at every instant some metadata file describes a complete weights file on disk. Metadata is
    paired with weights by checksum, so a kill between two renames loses nothing.

    Args:
        backup_dir: the folder, used by nothing else.
        note: called with a one-line message when a checkpoint is skipped or a fallback is used.
    """

    def __init__(self, backup_dir, note=print):
        super().__init__(backup_dir, double_checkpoint=True, delete_checkpoint=False)
        self.note = note
        self.finished = False
        self._restored_epoch = None
        self._skipped_non_finite = False

    # Writing -----------------------------------------------------------------------------------
    def _save_model(self):
        if not weights_finite(self.model):
            if not self._skipped_non_finite:
                self.note(f"epoch {self._current_epoch} ended with non-finite weights; "
                          f"{self.backup_dir} keeps the last finite checkpoint.")
            self._skipped_non_finite = True
            return
        weights, metadata = self._weights_path, self._training_metadata_path
        new_weights = write_temporary(
            weights, lambda temporary: self.model.save_weights(temporary, overwrite=True))
        record = {
            "epoch": self._current_epoch,
            "batch": self._last_batch_seen,
            "finished": self.finished,
            "sha256": file_sha256(new_weights),
            "bytes": os.path.getsize(new_weights),
            "variables": len(self.model.weights),
            "optimizer_iterations": optimizer_iterations(self.model),
        }
        self._pause()
        if os.path.exists(weights) and os.path.exists(metadata):
            os.replace(weights, self._prev_weights_path)
            self._pause()
            os.replace(metadata, self._prev_training_metadata_path)
            self._pause()
        os.replace(new_weights, weights)
        self._pause()
        write_json(metadata, record)

    def _pause(self):
        """A test hook between the steps of a backup write; does nothing. The fault-injection
        tests (tests/processes.py, benchmarks/bench_faults.py) make it sleep, so that a signal
        can land inside a write."""

    def mark_finished(self, epochs):
        """Record that `fit` for `epochs` returned (early stopping may have ended it sooner): a
        resume for as many epochs goes straight to the final evaluation."""
        self.finished = epochs
        self._save_model()

    def remove(self):
        shutil.rmtree(self.backup_dir, ignore_errors=True)

    # Restoring ---------------------------------------------------------------------------------
    def restore(self, model):
        """Load the newest checkpoint that verifies into `model` (built and compiled, under the
        strategy's scope); returns its metadata, or None when there is none to resume.

        Raises `BrokenRunFile` when checkpoint files exist but none verifies and loads."""
        self.set_model(model)
        if not os.path.isdir(self.backup_dir):
            return None
        remove_temporaries(self.backup_dir)
        candidates, problems, broken = self._candidates()
        for record, path in candidates:
            try:
                self._load(path, record)
            except Exception as error:
                problems.append(f"{os.path.basename(path)} does not load "
                                f"({first_line(error, 200)})")
                broken.add(path)
                continue
            if problems:
                self.note(f"{self.backup_dir}: {'; '.join(problems)}; resuming from the "
                          f"previous checkpoint (epoch {record['epoch']}); the broken files are "
                          "kept as *.broken.")
            self._settle(path, record, broken)
            self._restored_epoch = self._current_epoch = record["epoch"]
            return record
        if problems:
            raise BrokenRunFile(
                f"{self.backup_dir} holds no usable checkpoint: {'; '.join(problems)}. Delete "
                "that folder to restart this run from epoch 1, or start another --run-id.")
        return None

    def _candidates(self):
        """`(candidates, problems, broken)`: [(metadata, weights path)] newest first, each
        weights file's checksum verified; one-line problems; the paths of broken files."""
        slots = {self._training_metadata_path: self._weights_path,
                 self._prev_training_metadata_path: self._prev_weights_path}
        sums = {path: file_sha256(path) for path in slots.values() if os.path.exists(path)}
        records, problems, broken = [], [], set()
        for path in slots:
            if not os.path.exists(path):
                continue
            try:
                with open(path) as f:
                    record = json.load(f)
                if not (isinstance(record, dict) and type(record.get("epoch")) is int
                        and record["epoch"] >= 0):
                    raise ValueError("no epoch number in it")
            except (OSError, ValueError) as error:
                problems.append(f"{os.path.basename(path)} is broken ({first_line(error, 200)})")
                broken.add(path)
                continue
            records.append((record, path))
        if not records and not problems:
            return [], [], broken  # never backed up completely (a first write cut off): afresh
        candidates = []
        for record, path in sorted(records, key=lambda pair: -pair[0]["epoch"]):
            if "sha256" in record:
                matches = [w for w, digest in sums.items() if digest == record["sha256"]]
            else:  # written by Keras' own BackupAndRestore: loading is the only check
                matches = [slots[path]] if slots[path] in sums else []
            if matches:
                candidates.append((record, matches[0]))
            elif not candidates:  # newer than any usable checkpoint: it is lost, say so
                weights = os.path.basename(slots[path])
                problems.append(f"{weights} is missing or does not match the checksum in "
                                f"{os.path.basename(path)} (epoch {record['epoch']})")
                broken.update(p for p in (path, slots[path]) if os.path.exists(p))
        return candidates, problems, broken

    def _load(self, path, record):
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        if path.endswith(".weights.h5"):
            self.model.load_weights(path)
        else:  # Keras reads only names ending .weights.h5: load *.bkp through a temporary link
            linked = write_temporary(self._weights_path, lambda temporary: _link(path, temporary))
            try:
                self.model.load_weights(linked)
            finally:
                os.remove(linked)
        expected = record.get("optimizer_iterations")
        if expected is not None and optimizer_iterations(self.model) != expected:
            raise ValueError(f"optimizer step {optimizer_iterations(self.model)}, its metadata "
                             f"says {expected}")
        if not weights_finite(self.model):
            raise ValueError("non-finite weights")

    def _settle(self, used, record, broken):
        """Put the checkpoint used in the `latest` slot, broken files aside as `*.broken`."""
        for path in sorted(broken):
            if path != used and os.path.exists(path):
                os.replace(path, path + ".broken")
        if used != self._weights_path:
            if os.path.exists(self._weights_path):  # an orphan whose metadata was never written
                os.remove(self._weights_path)
            os.replace(used, self._weights_path)
        write_json(self._training_metadata_path, record)

    def on_train_begin(self, logs=None):
        if self._restored_epoch is not None:
            self.model._initial_epoch = self._restored_epoch


def _link(source, destination):
    os.remove(destination)
    try:
        os.link(source, destination)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, destination)


def optimizer_iterations(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not optimizer.built:
        return 0
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


# ----------------------------------------------------------------------------------------------
# history.csv
# ----------------------------------------------------------------------------------------------
def repair_history(path, note):
    """Drop the lines of a resumed run's history.csv that are not history rows (a kill in the
    middle of a row, a stray edit), saying which, so appending goes on from a clean file."""
    rows, problems = parse_history(path)
    if not problems:
        return
    note(f"{path}: {'; '.join(problems)}; dropped (an epoch whose row is lost keeps no metrics "
         "in this file; set it right by hand from W&B if needed).")
    if rows:
        header = list(rows[0])

        def write(temporary):
            with open(temporary, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=header)
                writer.writeheader()
                writer.writerows(rows)

        atomic_write(path, write)
    else:
        os.replace(path, path + ".broken")


def reconcile_history(path, epochs_done, note, best_path=None):
    """Make a resumed run's history.csv hold each of the `epochs_done` epochs the restored
    checkpoint holds exactly once, and nothing after them (those epochs are trained again).

    Rows after the checkpoint (a fallback to the previous checkpoint, a deleted backup) and repeated
    rows are dropped, in one note; `best_path` (best.keras) goes too when it came from a dropped
    epoch. Returns the number of epochs the file held before (so W&B can be rewound to match).
    Raises `BrokenRunFile` when rows of epochs the checkpoint holds are missing: their metrics
    are lost, and appending would leave a gap."""
    if not os.path.exists(path):
        rows = []
    else:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))  # repair_history ran: every row parses
    epochs = [int(row["epoch"]) for row in rows]
    missing = sorted(set(range(epochs_done)) - set(epochs))
    if missing:
        raise BrokenRunFile(
            f"{path} lacks the row(s) of epoch(s) {_epoch_list(missing)} of the {epochs_done} "
            f"the backup holds; restore that file, or delete {os.path.dirname(path)}/backup "
            "(and history.csv) to restart this run from epoch 1.")
    kept = {epoch: row for epoch, row in zip(epochs, rows, strict=True) if epoch < epochs_done}
    dropped = sorted({epoch for epoch in epochs if epoch >= epochs_done})
    if not dropped and len(kept) == len(rows):
        return len(kept)
    best = ""
    if best_path and os.path.exists(best_path) and dropped and _best_epoch(rows) in dropped:
        os.remove(best_path)
        best = f", and {os.path.basename(best_path)}, saved in one of them"
    what = (f"the row(s) of epoch(s) {_epoch_list(dropped)}, which the checkpoint restored "
            f"does not hold (they are trained again){best}" if dropped else "repeated rows")
    note(f"{path}: reconciled with the backup of epoch {epochs_done}: dropped {what}.")
    if not kept:
        os.remove(path)
    else:
        def write(temporary):
            with open(temporary, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(kept[epoch] for epoch in sorted(kept))

        atomic_write(path, write)
    return max(epochs) + 1


def _best_epoch(rows):
    scored = [(float(row["val_loss"]), int(row["epoch"])) for row in rows if row.get("val_loss")
              and np.isfinite(float(row["val_loss"]))]
    return min(scored)[1] if scored else None


def _epoch_list(epochs):
    """0-based epochs as the 1-based numbers Keras prints: [0, 1, 2, 5] -> '1-3, 6'."""
    spans, start = [], None
    for i, epoch in enumerate(epochs):
        start = epoch if start is None else start
        if i + 1 == len(epochs) or epochs[i + 1] != epoch + 1:
            spans.append(f"{start + 1}" if start == epoch else f"{start + 1}-{epoch + 1}")
            start = None
    return ", ".join(spans)


def resume_run(folder, model, strategy, note):
    """The run folder's backup restored into `model` (built, compiled), and history.csv made to
    agree with it. Returns `(backup, resumed, rewind)`: the `Backup` callback, the metadata of
    the checkpoint restored (None: training starts at epoch 1), and the epoch W&B's history must
    be rewound to (None: nothing to rewind)."""
    history_path = os.path.join(folder, "history.csv")
    backup = Backup(os.path.join(folder, "backup"), note=note)
    repair_history(history_path, note=note)
    with strategy.scope():
        resumed = backup.restore(model)
    done = resumed["epoch"] if resumed else 0
    held = reconcile_history(history_path, done, note, os.path.join(folder, "best.keras"))
    # W&B holds later epochs when history.csv did, or when a run restarts in its old W&B run.
    restarts = done == 0 and os.path.isdir(os.path.join(folder, "wandb"))
    return backup, resumed, (done if held > done or restarts else None)


class HistoryLogger(keras.callbacks.CSVLogger):
    """Keras' `CSVLogger`, appending to history.csv; a full disk while writing a row names the
    file (`fileio.naming`). A row cut short by it is dropped by the next resume."""

    def __init__(self, path):
        super().__init__(path, append=True)

    def on_train_begin(self, logs=None):
        with naming(self.filename):
            super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        with naming(self.filename):
            super().on_epoch_end(epoch, logs)


# ----------------------------------------------------------------------------------------------
# Ctrl-C
# ----------------------------------------------------------------------------------------------
class StopOnInterrupt(keras.callbacks.Callback):
    """Calls `interrupts.check()` (which raises once a SIGINT came) at every batch and epoch end.
    Placed after `Backup`, an epoch that ends is backed up first, and raising from a batch skips
    the epoch's end: a partial epoch is never recorded as done."""

    def __init__(self, interrupts):
        super().__init__()
        self.interrupts = interrupts

    def on_train_batch_end(self, batch, logs=None):
        self.interrupts.check()

    def on_test_batch_end(self, batch, logs=None):
        self.interrupts.check()

    def on_epoch_end(self, epoch, logs=None):
        self.interrupts.check()


class BestModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint(save_best_only=True)` that writes atomically and never saves an epoch
    whose monitored value or weights are not finite."""

    def __init__(self, filepath, monitor="val_loss", initial_value_threshold=None):
        super().__init__(filepath, monitor=monitor, save_best_only=True,
                         initial_value_threshold=initial_value_threshold)

    def _save_model(self, epoch, batch, logs):
        current = (logs or {}).get(self.monitor)
        if current is None or not np.isfinite(current) or not weights_finite(self.model):
            return
        filepath = self._get_file_path(epoch, batch, logs)
        if self._should_save_model(epoch, batch, logs, filepath):
            save_model(self.model, filepath)
