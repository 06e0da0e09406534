"""A resume from a damaged run folder leaves a true history: after it, history.csv holds each
completed epoch exactly once, consistent with the checkpoint restored, metrics.json and W&B's
history; or the resume refuses in one line naming the file and what to do.

The damaged folders are copies of one run stopped by a real SIGINT after epoch 2 of 3 (backup of
epoch 2, its previous checkpoint of epoch 1). The `checkpoints.reconcile_history` cases run
on hand-written files.
"""

import csv
import shutil

import pytest

from eqzoo import checkpoints, train
from eqzoo.runs import BrokenRunFile
from tests.interrupts import ctrl_c_after_epoch
from tests.wandb_records import read_records

STEPS = 256 // 32
SMALL = ["--set", "width=8", "--epochs", "3", "--dataset-option", "train_size=256",
         "--run-id", "r"]


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        ctrl_c_after_epoch(patch, 1)
        runs = tmp_path_factory.mktemp("stopped") / "runs"
        code = train.main([*SMALL, "--run-dir", str(runs), "--wandb", "offline"])
    assert code == 130
    return runs / "r"


@pytest.fixture
def folder(stopped, tmp_path):
    shutil.copytree(stopped, tmp_path / "r")
    return tmp_path / "r"


def file_epochs(folder):
    """The epoch of every row of history.csv, as the file holds them (repeats included)."""
    with open(folder / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def resume(folder, wandb="disabled"):
    return train.main(["--resume", str(folder), "--wandb", wandb])


def assert_true_run(folder):
    import json

    metrics = json.loads((folder / "metrics.json").read_text())
    assert file_epochs(folder) == [0, 1, 2]
    assert metrics["epochs_completed"] == 3 and metrics["optimizer_iterations"] == 3 * STEPS


def reconcile_notes(err):
    return [line for line in err.splitlines() if "reconciled with the backup" in line]


def test_the_stopped_run_is_what_the_cases_damage(stopped):
    assert file_epochs(stopped) == [0, 1]
    assert (stopped / "backup" / "latest.weights.h5").exists()
    assert (stopped / "backup" / "latest.weights.h5.bkp").exists()


@pytest.mark.parametrize("damage", ["zero-byte checkpoint", "garbage metadata"])
def test_a_fallback_to_the_previous_checkpoint_drops_the_later_row(damage, folder, capsys):
    if damage == "zero-byte checkpoint":
        (folder / "backup" / "latest.weights.h5").write_bytes(b"")
    else:
        (folder / "backup" / "training_metadata.json").write_text("\x00garbage{")
    assert resume(folder) == 0
    out, err = capsys.readouterr()
    notes = reconcile_notes(err)
    assert len(notes) == 1, err
    assert "backup of epoch 1: dropped the row(s) of epoch(s) 2," in notes[0]
    assert "Traceback" not in err and "Epoch 2/3" in out
    assert_true_run(folder)


def test_a_deleted_backup_folder_restarts_with_the_history_emptied(folder, capsys):
    shutil.rmtree(folder / "backup")
    assert resume(folder) == 0
    out, err = capsys.readouterr()
    notes = reconcile_notes(err)
    assert len(notes) == 1 and "backup of epoch 0: dropped the row(s) of epoch(s) 1-2" in notes[0]
    assert "Epoch 1/3" in out
    assert_true_run(folder)


@pytest.mark.parametrize("damage, missing", [("truncated", "2"), ("header only", "1-2"),
                                             ("zero bytes", "1-2")])
def test_rows_missing_for_epochs_the_backup_holds_are_refused_in_one_line(damage, missing,
                                                                          folder, capsys):
    lines = (folder / "history.csv").read_text().splitlines(keepends=True)
    kept = {"truncated": lines[:2] + [lines[2][:9]], "header only": lines[:1], "zero bytes": []}
    (folder / "history.csv").write_text("".join(kept[damage]))
    assert resume(folder) == 2
    err = capsys.readouterr().err
    refusal = [line for line in err.splitlines() if line.startswith("train.py: error:")]
    assert len(refusal) == 1 and "Traceback" not in err
    assert f"{folder / 'history.csv'} lacks the row(s) of epoch(s) {missing} of the 2" in refusal[0]
    assert f"delete {folder / 'backup'} (and history.csv) to restart" in refusal[0]
    # The advice works: the run restarts and ends true.
    shutil.rmtree(folder / "backup")
    (folder / "history.csv").unlink()
    assert resume(folder) == 0
    assert_true_run(folder)


def test_wandb_history_is_rewound_to_the_checkpoint_restored(folder, capsys):
    (folder / "backup" / "latest.weights.h5").write_bytes(b"")
    assert resume(folder, wandb="offline") == 0
    assert_true_run(folder)
    first, second = sorted((folder / "wandb").glob("offline-run-*-r"))
    steps = {}
    for run in (first, second):
        records = read_records(run / "run-r.wandb")
        steps[run] = [r.history.step.num for r in records if r.WhichOneof("record_type")
                      == "history"]
        branch = [r.run.branch_point for r in records if r.WhichOneof("record_type") == "run"
                  and r.run.HasField("branch_point")]
        if run == second:
            assert len(branch) == 1 and branch[0].run == "r"
            assert (branch[0].metric, branch[0].value) == ("_step", 1)
    assert steps[first] == [1, 2]
    # Epochs 2 and 3 again, then the test metrics beside epoch 3: each epoch once after step 1.
    assert steps[second][:2] == [2, 3] and set(steps[second]) == {2, 3}


def test_reconcile_history_keeps_one_row_per_epoch_and_drops_a_stale_best(tmp_path):
    path, best = tmp_path / "history.csv", tmp_path / "best.keras"
    path.write_text("epoch,loss,val_loss\n0,1,0.9\n1,1,0.8\n1,1,0.7\n2,1,0.5\n")
    best.write_text("the model of epoch 3")
    notes = []
    assert checkpoints.reconcile_history(str(path), 2, notes.append, str(best)) == 3
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,1,0.9", "1,1,0.7"]
    assert len(notes) == 1
    assert "epoch(s) 3, which the checkpoint restored does not hold (they are trained again), " \
        "and best.keras, saved in one of them" in notes[0]
    assert not best.exists()
    # Only repeats: said as such, best.keras (of a kept epoch) stays.
    path.write_text("epoch,loss,val_loss\n0,1,0.9\n0,1,0.8\n")
    best.write_text("epoch 1")
    notes.clear()
    assert checkpoints.reconcile_history(str(path), 1, notes.append, str(best)) == 1
    assert "dropped repeated rows" in notes[0] and best.exists()
    # In agreement: nothing said, nothing written.
    notes.clear()
    assert checkpoints.reconcile_history(str(path), 1, notes.append, str(best)) == 1
    assert notes == []
    with pytest.raises(BrokenRunFile, match=r"lacks the row\(s\) of epoch\(s\) 2-3, 5 of the 5"):
        path.write_text("epoch,loss\n0,1\n3,1\n")
        checkpoints.reconcile_history(str(path), 5, notes.append)
