"""What train.py answers instead of training: --list-models, --list-datasets, --compare, --card
and --export, each with its exit code.

    code = answer(build_parser().parse_args(["--list-models", "tied_*"]))  # None: train instead
"""

import os
import sys

from eqzoo import distribute
from eqzoo.checks import setup_errors
from eqzoo.messages import EXIT_FAILED, UsageError, no_match

INSTEAD_OF_TRAINING = ("list_models", "list_datasets", "compare", "card", "export",
                       "export_format", "export_dir")


def answer(args):
    """What the command line asks instead of training, answered with its exit code: listing,
    --compare, --card, --export (the first given, in that order); None when it asks to train."""
    if not set(INSTEAD_OF_TRAINING) & set(vars(args)):
        return None
    distribute.import_tensorflow()  # the registries live beside the models and data they build
    from eqzoo import datasets, zoo

    if "list_models" in args:
        names = zoo.list_models(args.list_models)
        if not names:
            raise UsageError(no_match("model", args.list_models, zoo.list_models(),
                                      "--list-models"))
        for name in names:
            metadata = zoo.get_preset(name)["metadata"]
            print(f"{name:40s} {metadata['task']:15s} {metadata['description']}")
        return 0
    if "list_datasets" in args:
        names = datasets.list_datasets(args.list_datasets)
        if not names:
            raise UsageError(no_match("dataset", args.list_datasets, datasets.list_datasets(),
                                      "--list-datasets"))
        for name in names:
            source, description = datasets.describe(name)
            print(f"{name:20s} {source:20s} {description}")
        print("Any tensorflow-datasets set also loads as tfds:<name> (prepared, or --download); "
              "your own data as csv:PATH, npz:PATH or images:DIR (see README, Datasets).")
        return 0
    if "compare" in args:
        from eqzoo.compare import compare

        return compare(args.compare, vars(args).get("plot"))
    if "card" in args:
        with setup_errors():
            print(zoo.model_card(args.card))
        return 0
    folder, export_format = vars(args).get("export"), vars(args).get("export_format")
    if folder is None:
        raise UsageError("--format and --export-dir go with --export RUN_FOLDER.")
    if export_format not in zoo.export.RUN_ARTIFACTS:
        given = "none" if export_format is None else f"--format {export_format}"
        raise UsageError(f"--export needs --format {' | '.join(zoo.export.RUN_ARTIFACTS)}. "
                         f"Received: {given}")
    export_dir = vars(args).get("export_dir")
    if export_dir is not None and os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise UsageError(f"--export-dir {export_dir} is a file; expected a folder (created when "
                         "missing) to write the export into.")
    with setup_errors():
        try:
            zoo.export_run(folder, export_format, vars(args).get("export_dir"),
                           load_validation_inputs=validation_inputs)
        except zoo.export.UnfinishedRunError as error:
            raise UsageError(f"--export: {error}") from None
        except zoo.ExportVerificationError as error:
            print(f"train.py: error: {' '.join(str(error).split())}", file=sys.stderr)
            return EXIT_FAILED
    return 0


def validation_inputs(config, count):
    """The first `count` inputs of a run's validation split: same dataset, options and seed."""
    from eqzoo import datasets

    _, val_split, _, _ = datasets.load(
        config["dataset"], batch_size=count, seed=config["seed"],
        reconstruction=config["task"] == "reconstruction", data_dir=config["data_dir"],
        **config["dataset_options"])
    x = next(iter(val_split))[0]
    return {k: v.numpy() for k, v in x.items()} if isinstance(x, dict) else x.numpy()
