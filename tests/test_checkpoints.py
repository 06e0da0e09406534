"""checkpoints: atomic writes, the verified two-deep backup and its fallbacks, finite-only best
models, and history.csv repair. Tiny Dense models, a few steps each; train.py's use of them is in
tests/test_train.py, real signals in tests/test_train_processes.py and
tests/test_bench_faults.py.
"""

import json
import os

import keras
import numpy as np
import pytest

from eqzoo import checkpoints, fileio, runs

X = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
Y = X.sum(axis=1, keepdims=True)
STEPS_PER_EPOCH = 2  # 16 examples, batch 8


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


def train_with_backup(folder, epochs, **kwargs):
    model = tiny_model()
    backup = checkpoints.Backup(str(folder), **kwargs)
    assert backup.restore(model) is None
    model.fit(X, Y, batch_size=8, epochs=epochs, callbacks=[backup], verbose=0)
    return model


def restored(folder):
    notes = []
    model = tiny_model()
    record = checkpoints.Backup(str(folder), note=notes.append).restore(model)
    return model, record, notes


def weights_of(model):
    return [np.array(w) for w in model.weights]


def test_backup_restores_weights_epoch_and_optimizer_state(tmp_path):
    model = train_with_backup(tmp_path, epochs=3)
    names = sorted(os.listdir(tmp_path))
    assert names == ["latest.weights.h5", "latest.weights.h5.bkp", "training_metadata.json",
                     "training_metadata.json.bkp"], names
    metadata = json.loads((tmp_path / "training_metadata.json").read_text())
    assert metadata["epoch"] == 3 and metadata["optimizer_iterations"] == 3 * STEPS_PER_EPOCH
    assert metadata["sha256"] == fileio.file_sha256(tmp_path / "latest.weights.h5")
    again, record, notes = restored(tmp_path)
    assert record["epoch"] == 3 and notes == []
    assert checkpoints.optimizer_iterations(again) == 3 * STEPS_PER_EPOCH
    for a, b in zip(weights_of(model), weights_of(again), strict=True):
        np.testing.assert_array_equal(a, b)
    # fit goes on from the restored epoch.
    backup = checkpoints.Backup(str(tmp_path))
    model = tiny_model()
    backup.restore(model)
    history = model.fit(X, Y, batch_size=8, epochs=5, callbacks=[backup], verbose=0)
    assert len(history.history["loss"]) == 2
    assert checkpoints.optimizer_iterations(model) == 5 * STEPS_PER_EPOCH


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_a_damaged_latest_weights_file_falls_back_to_the_previous_one(tmp_path, damage):
    train_with_backup(tmp_path, epochs=2)
    latest = tmp_path / "latest.weights.h5"
    if damage == "truncated":  # the half-written file HDF5 may still open
        latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    elif damage == "garbage":
        latest.write_bytes(b"\0" * 100)
    else:
        latest.unlink()
    model, record, notes = restored(tmp_path)
    assert record["epoch"] == 1 and checkpoints.optimizer_iterations(model) == STEPS_PER_EPOCH
    assert len(notes) == 1 and "latest.weights.h5 is missing or does not match the checksum" \
        in notes[0] and "resuming from the previous checkpoint (epoch 1)" in notes[0], notes
    # The checkpoint used moved to the latest slot; a second restore needs no fallback.
    assert restored(tmp_path)[2] == []


def test_broken_metadata_falls_back_and_both_broken_is_one_clear_error(tmp_path):
    train_with_backup(tmp_path, epochs=2)
    (tmp_path / "training_metadata.json").write_text('{"epoch": ')
    model, record, notes = restored(tmp_path)
    assert record["epoch"] == 1
    assert "training_metadata.json is broken" in notes[0]
    assert (tmp_path / "training_metadata.json.broken").exists(), "kept for inspection"

    train_with_backup(tmp_path / "b", epochs=2)
    (tmp_path / "b" / "training_metadata.json").write_text("[]")
    (tmp_path / "b" / "latest.weights.h5.bkp").write_bytes(b"not hdf5")
    with pytest.raises(checkpoints.BrokenRunFile) as error:
        restored(tmp_path / "b")
    message = str(error.value)
    assert str(tmp_path / "b") in message and "training_metadata.json is broken" in message
    assert "latest.weights.h5.bkp is missing or does not match" in message
    assert "Delete that folder to restart this run from epoch 1" in message


def test_a_file_that_verifies_but_does_not_load_falls_back(tmp_path):
    """A checksum only proves the file is the one written; loading proves it fits the model."""
    train_with_backup(tmp_path, epochs=2)
    metadata = json.loads((tmp_path / "training_metadata.json").read_text())
    metadata["optimizer_iterations"] = 999  # as if the optimizer state had been dropped
    (tmp_path / "training_metadata.json").write_text(json.dumps(metadata))
    _, record, notes = restored(tmp_path)
    assert record["epoch"] == 1 and "optimizer step 4, its metadata says 999" in notes[0]


def test_a_backup_written_by_keras_own_callback_still_resumes(tmp_path):
    model = tiny_model()
    keras_backup = keras.callbacks.BackupAndRestore(str(tmp_path), delete_checkpoint=False)
    model.fit(X, Y, batch_size=8, epochs=2, callbacks=[keras_backup], verbose=0)
    again, record, notes = restored(tmp_path)
    assert record == {"epoch": 2, "batch": 0} and notes == []
    assert checkpoints.optimizer_iterations(again) == 2 * STEPS_PER_EPOCH


class Cut(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even `except Exception`."""


def cut_metadata_rename(replace):
    def cutting(source, destination):
        if str(destination).endswith("training_metadata.json"):
            raise Cut
        return replace(source, destination)

    return cutting


@pytest.mark.parametrize("step", [0, 1, 2, 3, 4])
def test_a_write_cut_at_any_step_leaves_a_checkpoint_that_restores(tmp_path, monkeypatch, step):
    """The steps of a backup write (weights to a temporary file; rotate weights, then metadata,
    to *.bkp; rename the new file in; write its metadata) each followed by a kill."""
    model = train_with_backup(tmp_path, epochs=2)
    before = weights_of(model)
    pauses = []

    def pause(self):
        pauses.append(1)
        if len(pauses) > step:
            raise Cut

    backup = checkpoints.Backup(str(tmp_path))
    backup.restore(model)
    monkeypatch.setattr(checkpoints.Backup, "_pause", pause)
    if step == 4:  # cut inside the metadata's own atomic write, before its rename
        monkeypatch.setattr(checkpoints.os, "replace", cut_metadata_rename(os.replace))
    with pytest.raises(Cut):
        model.fit(X, Y, batch_size=8, epochs=3, callbacks=[backup], verbose=0)
    monkeypatch.undo()
    again, record, notes = restored(tmp_path)
    assert notes == [] and record["epoch"] == 2
    assert checkpoints.optimizer_iterations(again) == 2 * STEPS_PER_EPOCH
    for a, b in zip(before, weights_of(again), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")], "temporaries removed"


def test_non_finite_weights_are_never_backed_up_or_kept_as_best(tmp_path):
    notes = []
    model = tiny_model()
    backup = checkpoints.Backup(str(tmp_path / "backup"), note=notes.append)
    best = checkpoints.BestModelCheckpoint(str(tmp_path / "best.keras"))
    model.fit(X, Y, batch_size=8, epochs=1, validation_data=(X, Y), callbacks=[backup, best],
              verbose=0)
    saved = (tmp_path / "best.keras").read_bytes()
    model.layers[0].kernel.assign(np.full((3, 4), np.nan, "float32"))
    model.fit(X, Y, batch_size=8, epochs=2, initial_epoch=1, validation_data=(X, Y),
              callbacks=[backup, best], verbose=0)
    assert (tmp_path / "best.keras").read_bytes() == saved
    assert len(notes) == 1 and "non-finite weights" in notes[0]
    again, record, _ = restored(tmp_path / "backup")
    assert record["epoch"] == 1 and checkpoints.weights_finite(again)
    # The first epoch is not saved as "best" when its val_loss is NaN (Keras would: it has no
    # reference value yet).
    fresh = checkpoints.BestModelCheckpoint(str(tmp_path / "nan.keras"))
    fresh.set_model(model)
    fresh.on_epoch_end(0, {"val_loss": float("nan")})
    assert not (tmp_path / "nan.keras").exists()


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "metrics.json"
    fileio.write_json(path, {"a": 1})

    def failing(temporary):
        with open(temporary, "w") as f:
            f.write('{"half')
        raise Cut

    with pytest.raises(Cut):
        fileio.atomic_write(str(path), failing)
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["metrics.json"]
    assert oct(path.stat().st_mode & 0o777) != oct(0o600), "ordinary permissions, not mkstemp's"


def test_history_rows_that_are_not_rows_are_named_and_repaired(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss\r\n0,1.5,1.6\r\n1,1.2,1.3\r\nx,garbage\r\n1,1.1,1.25\r\n"
                    "2,1.0\r\n3,0.9,x1\r\n")
    rows, problems = runs.parse_history(str(path))
    assert [row["epoch"] for row in rows] == ["0", "1"] and rows[1]["loss"] == "1.1"
    assert problems == ["line 4 is not a history row ('x,garbage': 2 fields, the header has 3)",
                        "line 6 is not a history row ('2,1.0': 2 fields, the header has 3)",
                        "line 7 is not a history row ('3,0.9,x1': could not convert string to "
                        "float: 'x1')"]
    with pytest.raises(runs.BrokenRunFile, match="history.csv: line 4 is not a history "
                       r"row .* \(and 2 more\); fix or delete that line"):
        runs.read_history(str(path))
    notes = []
    checkpoints.repair_history(str(path), notes.append)
    assert len(notes) == 1 and all(f"line {n}" in notes[0] for n in (4, 6, 7))
    assert path.read_bytes() == b"epoch,loss,val_loss\r\n0,1.5,1.6\r\n1,1.1,1.25\r\n"
    assert runs.read_history(str(path))[1]["val_loss"] == "1.25"
    path.write_text("garbage\r\n0,1\r\n")
    checkpoints.repair_history(str(path), notes.append)
    assert not path.exists() and (tmp_path / "history.csv.broken").exists()
