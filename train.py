"""The shared training loop: any zoo preset on any compatible dataset, with a run folder and W&B.

    python train.py                              # symmetric_mlp_digits on digits, under a minute
    python train.py --model mlp_digits --seed 1  # its unconstrained twin
    python train.py --model symmetric_mlp_wine --set width=16 --epochs 50 --wandb-group twins
    python train.py --resume runs/<id>           # continue a killed or interrupted run
    python train.py --compare runs/*             # side by side, plus a PNG of validation curves

Read top to bottom: DEFAULTS; the command line; the resolved config (DEFAULTS, preset, --config
file, flags, --set); the model and the dataset, looked up by name and checked to fit; W&B; one
`fit` with Keras callbacks; the final evaluation and files. No model has a branch of its own: the
preset's task chooses loss and metrics. The command line, the run folder and the environment are
checked before TensorFlow is imported, so a usage error answers at once with exit code 2.
"""

import argparse
import copy
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time

from eqzoo import checks, commands, distribute, endings, runs
from eqzoo.checks import CHOICES, setup_errors
from eqzoo.fileio import report_disk_full, write_json
from eqzoo.interrupts import Interrupted, Interrupts
from eqzoo.messages import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
    first_line,
    one_line,
    warn,
)

# Keras reads KERAS_BACKEND once, when it is first imported: --backend must act before that.
if distribute.backend_from_argv(sys.argv[1:]) in distribute.BACKENDS and "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = distribute.backend_from_argv(sys.argv[1:])


# ----------------------------------------------------------------------------------------------
# Defaults: every training setting in one place; the preset supplies the model's own config.
# Their allowed values (CHOICES, ranges) are checks.py's.
# ----------------------------------------------------------------------------------------------
DEFAULTS = {
    "model": "symmetric_mlp_digits",
    "dataset": None,  # None: the first dataset the preset lists (digits for the default model)
    "dataset_options": {},  # source-specific, e.g. {"num_examples": 256} for synthetic sets
    "overrides": {},  # preset config values (--set key=value), type-checked against the preset
    "epochs": 20,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "optimizer": "adam",  # adam | adamw | sgd (momentum 0.9)
    "lr_schedule": "constant",  # constant | cosine (to 0 at the last step)
    "early_stopping": 0,  # patience in epochs on val_loss, best weights restored; 0 = off
    "seed": 0,
    "run_dir": "runs",
    "run_id": None,  # None: "<model>-<dataset>-<YYYYmmdd-HHMMSS>-<4 hex>"
    "strategy": "default",  # default | mirrored | multiworker (TF_CONFIG) | data_parallel (JAX)
    "data_dir": None,  # tensorflow-datasets data directory
    "download": False,  # let tensorflow-datasets download a set that is not prepared
    "wandb_mode": "auto",  # auto | online | offline | disabled
    "wandb_project": "eqzoo",
    "wandb_entity": None,
    "wandb_group": None,
    "wandb_tags": [],
}


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def build_parser():
    d = DEFAULTS
    p = _Parser(
        prog="train.py", description=__doc__.split("\n\n")[0], allow_abbrev=False,
        argument_default=argparse.SUPPRESS,  # a flag overrides only when given
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Overrides apply in order: DEFAULTS, preset, --config FILE, flags, --set.\n"
               "A run folder runs/<id>/ holds config.json, history.csv, best.keras, model.keras,\n"
               "metrics.json, backup/ while training and wandb/ (offline runs: `wandb sync "
               "runs/<id>/wandb`).")
    what = p.add_argument_group("what to train")
    what.add_argument("--model", help=f"a preset, see --list-models (default: {d['model']})")
    what.add_argument("--dataset", help="a dataset, see --list-datasets, or csv:PATH, npz:PATH, "
                      "images:DIR (default: the first one the preset lists)")
    what.add_argument("--set", dest="set_items", action="append", metavar="KEY=VALUE",
                      help="override a preset config value, e.g. --set width=16 --set "
                      "input_shape=[64]; JSON or a Python literal, type-checked; repeatable")
    what.add_argument("--dataset-option", dest="dataset_option_items", action="append",
                      metavar="KEY=VALUE",
                      help="a dataset option, e.g. num_examples=256; repeatable")
    what.add_argument("--config", metavar="FILE",
                      help="a JSON file of DEFAULTS keys, applied before the flags")
    what.add_argument("--data-dir", dest="data_dir", help="tensorflow-datasets data directory")
    what.add_argument("--download", action="store_true",
                      help="let tensorflow-datasets download a set that is not prepared")
    how = p.add_argument_group("how to train")
    how.add_argument("--epochs", type=int, help=f"(default: {d['epochs']})")
    how.add_argument("--batch-size", dest="batch_size", type=int,
                     help=f"(default: {d['batch_size']})")
    how.add_argument("--learning-rate", "--lr", dest="learning_rate", type=float,
                     help=f"(default: {d['learning_rate']})")
    how.add_argument("--optimizer", help=f"{' | '.join(CHOICES['optimizer'])} "
                     f"(default: {d['optimizer']})")
    how.add_argument("--lr-schedule", dest="lr_schedule",
                     help=f"{' | '.join(CHOICES['lr_schedule'])} (default: {d['lr_schedule']})")
    how.add_argument("--early-stopping", dest="early_stopping", type=int, metavar="PATIENCE",
                     help="stop after PATIENCE epochs without a better val_loss (default: 0, off)")
    how.add_argument("--seed", type=int, help=f"(default: {d['seed']})")
    how.add_argument("--strategy", help="default | mirrored (all local devices) | multiworker "
                     "(MultiWorkerMirroredStrategy configured by TF_CONFIG), both TensorFlow | "
                     "data_parallel (keras.distribution.DataParallel over local devices, JAX)")
    how.add_argument("--backend", help=f"the Keras backend: {' | '.join(distribute.BACKENDS)} "
                     "(default: KERAS_BACKEND, else tensorflow); set before Keras is imported")
    run = p.add_argument_group("run folder and W&B")
    run.add_argument("--run-dir", dest="run_dir",
                     help=f"where run folders go (default: {d['run_dir']})")
    run.add_argument("--run-id", dest="run_id", help="the run's id, also its W&B id; the id of an "
                     "unfinished run resumes it (default: generated)")
    run.add_argument("--resume", metavar="RUN_FOLDER",
                     help="resume an unfinished run with its saved config")
    run.add_argument("--wandb", dest="wandb_mode", help="auto (WANDB_MODE if set, else online "
                     "when logged in, else offline) | online | offline | disabled (default: auto)")
    run.add_argument("--wandb-project", dest="wandb_project",
                     help=f"(default: {d['wandb_project']})")
    run.add_argument("--wandb-entity", dest="wandb_entity")
    run.add_argument("--wandb-group", dest="wandb_group", help="a group to compare runs in W&B")
    run.add_argument("--wandb-tags", dest="wandb_tags", metavar="TAG,TAG",
                     type=lambda text: [tag for tag in text.split(",") if tag])
    instead = p.add_argument_group("instead of training")
    instead.add_argument("--list-models", nargs="?", const="*", metavar="PATTERN",
                         help="list the presets (matching a wildcard) and exit")
    instead.add_argument("--list-datasets", nargs="?", const="*", metavar="PATTERN",
                         help="list the datasets (matching a wildcard) and exit")
    instead.add_argument("--card", metavar="NAME",
                         help="print the preset's model card (Markdown) and exit")
    instead.add_argument("--compare", nargs="+", metavar="RUN_FOLDER",
                         help="print runs side by side and plot their validation curves")
    instead.add_argument("--plot", metavar="PNG", help="where --compare puts its plot "
                         "(default: compare.png beside the first run folder)")
    instead.add_argument("--export", metavar="RUN_FOLDER", help="export a finished run's model "
                         "for serving and verify it on the run's validation split (see --format)")
    instead.add_argument("--format", dest="export_format", metavar="FORMAT",
                         help="what --export writes: keras | saved_model | tflite")
    instead.add_argument("--export-dir", dest="export_dir", metavar="DIR",
                         help="where --export writes (default: RUN_FOLDER/export/FORMAT)")
    return p


# ----------------------------------------------------------------------------------------------
# Config: DEFAULTS -> preset -> --config file -> flags -> --set, each value checked
# ----------------------------------------------------------------------------------------------
def resolve_config(args):
    config = copy.deepcopy(DEFAULTS)
    given = vars(args)
    if "resume" in given:
        folder = os.path.normpath(given["resume"])
        saved = checks.read_config_file(os.path.join(folder, "config.json"), "--resume")
        config.update({key: checks.check_value(key, saved[key], DEFAULTS[key],
                                               f" in {folder}/config.json")
                       for key in DEFAULTS if key in saved})
        run_dir, config["run_id"] = os.path.split(folder)
        config["run_dir"] = run_dir or "."
    if "config" in given:
        from_file = checks.read_config_file(given["config"], "--config")
        checks.reject_unknown(from_file, DEFAULTS, f"key(s) in {given['config']}", "Its keys "
                              "are DEFAULTS' (see --help); preset values go under \"overrides\"")
        config.update({key: checks.check_value(key, value, DEFAULTS[key], f" in {given['config']}")
                       for key, value in from_file.items()})
    config.update({key: given[key] for key in DEFAULTS if key in given})
    config["overrides"] = {**config["overrides"],
                           **checks.parse_assignments(given.get("set_items"), "--set")}
    config["dataset_options"] = {**config["dataset_options"], **checks.parse_assignments(
        given.get("dataset_option_items"), "--dataset-option")}
    checks.check_config(config, DEFAULTS)
    checks.check_environment(config)

    distribute.import_tensorflow()  # the command line is sound: now the zoo and the data
    from eqzoo import zoo

    preset = zoo.get_preset(config["model"])  # an unknown name lists the closest ones
    if config["dataset"] is None:
        if not preset["metadata"]["datasets"]:
            raise UsageError(f"Model {config['model']!r} lists no dataset: pass --dataset NAME.")
        config["dataset"] = preset["metadata"]["datasets"][0]
    try:  # every argument's declared type and range (zoo/arguments.py), set by the preset or not
        config["overrides"] = zoo.check_arguments(config["model"], config["overrides"])
    except ValueError as error:
        raise UsageError(f"--set: {error}") from None
    checks.check_model_memory(config)
    return config, preset


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------
def main(argv=None):
    # tensorflow-datasets warns through absl about what the refusals say in one line.
    logging.getLogger("absl").setLevel(logging.ERROR)
    interrupts = Interrupts().install()
    try:
        args = build_parser().parse_args(argv)
        distribute.check_backend_installed(vars(args).get("backend"))
        answered = commands.answer(args)
        return train(args, interrupts) if answered is None else answered
    except (UsageError, runs.BrokenRunFile) as error:
        print(f"train.py: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a full disk: one line, exit 1, the run folder resumable
        return report_disk_full(error, interrupts.folder)  # any other OSError goes on up
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except (KeyboardInterrupt, Interrupted):
        if interrupts.folder is None:
            print("train.py: interrupted before training started.", file=sys.stderr)
        else:  # a second Ctrl-C: every file written so far is whole, the backup included
            print(f"\ntrain.py: interrupted at once. Resume with: python train.py --resume "
                  f"{interrupts.folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        runs.release_run_folders()
        interrupts.uninstall()


def train(args, interrupts):
    """One run of the parsed command line: config, model and data, W&B, fit, the run folder."""
    with setup_errors():
        config, preset = resolve_config(args)
    # The command line is sound: now the training stack, which takes seconds to import.
    distribute.import_tensorflow()
    import keras

    from eqzoo import checkpoints, datasets, wandb_logging, zoo
    from eqzoo.layers.equivariance_monitor import EquivarianceMonitor
    from eqzoo.zoo.tasks import compile_for_task

    distribute.check_backend(vars(args).get("backend"), config["strategy"])
    task = preset["metadata"]["task"]
    keras.utils.set_random_seed(config["seed"])
    # Multi-worker collectives must be set up before TensorFlow runs any op, data loading too.
    strategy = distribute.make_strategy(config["strategy"])

    # Data and model, by name.
    with setup_errors():
        train_split, val_split, test_split, info = datasets.load(
            config["dataset"], batch_size=config["batch_size"], seed=config["seed"],
            reconstruction=task == "reconstruction", data_dir=config["data_dir"],
            download=config["download"], **config["dataset_options"])
    splits = distribute.distribute_splits(
        {"train": train_split, "val": val_split, "test": test_split}, config["strategy"],
        strategy, info, config["batch_size"])
    with strategy.scope():
        with setup_errors():
            model = zoo.create_model(config["model"], **config["overrides"])
            checks.check_fit(config, preset, info, model)
        compile_for_task(model, task, config["optimizer"], config["learning_rate"],
                         config["lr_schedule"],
                         config["epochs"] * math.ceil(info.train_size / config["batch_size"]))

    # The resolved config, as the run folder and W&B record it.
    config["run_id"] = config["run_id"] or runs.default_run_id(config)
    runs.record_config(config, preset, info, model, strategy.num_replicas_in_sync)
    config = json.loads(json.dumps(config))  # tuples become lists: saved as printed
    chief = distribute.is_chief(strategy)
    if chief:
        folder = os.path.join(config["run_dir"], config["run_id"])
        runs.prepare_run_folder(folder, config)
    else:  # every worker saves (saving may need them all), the others into scratch space
        folder = tempfile.mkdtemp(prefix=f"eqzoo-{config['run_id']}-worker-")
        print(f"Worker {strategy.cluster_resolver.task_id}: not the chief, writing to {folder}")
    # From here on a Ctrl-C stops at the next batch or step, saves, and says how to resume.
    interrupts.defer(folder if chief else None)
    runs.print_config(config)
    # An equivariant preset's error is measured each epoch on the first validation batch.
    spec = checks.equivariance_spec(config, preset, model)
    monitor = spec and EquivarianceMonitor(spec["rep_in"], spec["rep_out"],
                                           next(iter(splits["val"]))[0])
    run = None
    try:  # the backup restored, history.csv (and W&B's history, rewound) agreeing with it
        backup, resumed, rewind = checkpoints.resume_run(folder, model, strategy, note=warn)
        run = wandb_logging.start_wandb(config, folder, rewind) if chief else None
        return fit_evaluate_save(config, model, splits, monitor, folder, chief, run, backup,
                                 resumed, interrupts)
    except Interrupted:
        return endings.stop_interrupted(model, folder, run, interrupts)


def fit_evaluate_save(config, model, splits, monitor, folder, chief, run, backup, resumed,
                      interrupts):
    """One `fit` resumed from the run's `backup` (`resumed`: the metadata of the checkpoint it
    restored, or None), the final evaluation and files. Every file is written atomically; the
    backup stays until metrics.json, which marks the run finished. `monitor` measures an
    equivariant preset's equivariance error each epoch (None otherwise)."""
    import keras
    import numpy as np

    from eqzoo import checkpoints, wandb_logging
    from eqzoo.callbacks import SymmetryAndTime
    from eqzoo.layers.inspection import symmetry_residuals
    from eqzoo.zoo.artifacts import weights_digest

    history_path = os.path.join(folder, "history.csv")
    fitted = bool(resumed) and resumed.get("finished") == config["epochs"]
    if resumed:
        print(f"Resuming from the backup of epoch {resumed['epoch']}"
              + (" (training had finished: evaluating)" if fitted else ""))
    interrupts.check()
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        SymmetryAndTime(),
        *([monitor] if monitor else []),
        checkpoints.HistoryLogger(history_path),
        # After the history row: a kill between the two repeats an epoch rather than losing one.
        backup,
        checkpoints.BestModelCheckpoint(os.path.join(folder, "best.keras"),
                                        initial_value_threshold=runs.best_val_loss(history_path)),
    ]
    if config["early_stopping"]:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config["early_stopping"], restore_best_weights=True))
    if run is not None:
        try:
            callbacks.append(wandb_logging.WandbEpochLogger())
        except Exception as error:
            warn(f"W&B's Keras logger failed ({first_line(error)}); training goes on without it.")
    # Last: an epoch that ends is backed up, checkpointed if best and logged to W&B before a
    # Ctrl-C stops the run.
    callbacks.append(checkpoints.StopOnInterrupt(interrupts))
    started = time.perf_counter()
    losses = []
    if not fitted:
        history = model.fit(splits["train"], validation_data=splits["val"],
                            epochs=config["epochs"], callbacks=callbacks,
                            shuffle=False)  # the pipeline shuffles, anew each epoch
        losses = history.history.get("loss", [])
    if (losses and not np.isfinite(losses[-1])) or not checkpoints.weights_finite(model):
        return endings.stop_non_finite(config, losses, folder, run)
    interrupts.check()
    backup.mark_finished(config["epochs"])  # a kill from here on resumes at the evaluation

    # Final evaluation and files.
    metrics = {}
    for name, split in splits.items():
        values = model.evaluate(split, verbose=0, return_dict=True,
                                callbacks=[checkpoints.StopOnInterrupt(interrupts)])
        metrics.update({f"{name}/{key}": float(value) for key, value in values.items()})
    residuals = symmetry_residuals(model)
    summary = {
        **metrics,
        **{f"symmetry/{name}": value for name, value in residuals.items()},
        **(monitor.measure() if monitor else {}),
        "epochs_completed": len(runs.read_history(history_path)),
        "optimizer_iterations": checkpoints.optimizer_iterations(model),
        "fit_seconds": time.perf_counter() - started,
        "weights_sha256": weights_digest(model),
    }
    interrupts.check()
    checkpoints.save_model(model, os.path.join(folder, "model.keras"))
    interrupts.check()
    write_json(os.path.join(folder, "metrics.json"), summary)  # the run is finished
    backup.remove()
    if run is not None:
        wandb_logging.finish_run(run, config, summary, folder, runs.read_history(history_path))
    print("Final: " + "  ".join(f"{key} {value:.4g}" for key, value in metrics.items()))
    symmetry = (f"max |W - W^T| over symmetric layers: {max(residuals.values()):g}" if residuals
                else "no layer claims symmetric matrices")
    print(f"Final weights sha256 {summary['weights_sha256']}; {symmetry}")
    if chief:
        print(f"Run folder: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    if interrupts.count:
        print("train.py: interrupted after the run had finished; its folder is complete.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
