"""`train.py --compare`: runs side by side from their folders, offline: the config values that
differ, the final metrics, and a PNG of their validation curves.

    compare(["runs/a", "runs/b"], "compare.png")
"""

import json
import os

from eqzoo import zoo
from eqzoo.messages import UsageError, warn
from eqzoo.runs import BrokenRunFile, read_run

TABLE_WIDTH = 40  # characters per cell; longer values are cut in the middle


def check_plot_path(plot_path):
    """`--plot`: a file name of an image type matplotlib writes (none given: .png is added), in
    a folder that exists or is created; anything else is one UsageError."""
    from matplotlib.backend_bases import FigureCanvasBase

    types = FigureCanvasBase.get_supported_filetypes()
    if os.path.isdir(plot_path):
        raise UsageError(f"--plot {plot_path} is a folder; expected an image file name, e.g. "
                         f"{os.path.join(plot_path, 'compare.png')}.")
    extension = os.path.splitext(plot_path)[1]
    if not extension:
        plot_path += ".png"
    elif extension[1:].lower() not in types:
        raise UsageError(f"--plot {plot_path}: matplotlib cannot write {extension!r} images; "
                         f"expected one of {', '.join('.' + t for t in sorted(types))}.")
    folder = os.path.dirname(plot_path)
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--plot {plot_path}: cannot create its folder {folder} "
                         f"({error.strerror}).") from None
    return plot_path


def compare(paths, plot_path=None):
    if plot_path is not None:
        plot_path = check_plot_path(plot_path)
    runs, configs, finals, histories, skipped = [], [], [], [], []
    for path in paths:
        if not os.path.isfile(os.path.join(path, "config.json")):
            if os.path.isdir(path):
                skipped.append(f"skipping {path}: not a run folder (no config.json)")
            continue
        try:
            config, final, history = read_run(path)
        except BrokenRunFile as error:
            skipped.append(f"skipping {path}: {' '.join(str(error).split())}")
            continue
        runs.append(path)
        configs.append(flatten(zoo.rename_run_config(config)))  # old spellings too
        finals.append(final)
        histories.append(history)
    if not runs:
        broken = [message for message in skipped if "not a run folder" not in message]
        raise UsageError(f"--compare found no run folder (a folder with config.json) in {paths}"
                         if not broken else f"--compare found no readable run: {broken[0]}")
    for message in skipped:
        warn(message)
    names = [os.path.basename(os.path.normpath(run)) for run in runs]

    keys = sorted({key for config in configs for key in config} - {"run_id", "run_dir"})
    differing = [key for key in keys
                 if len({json.dumps(config.get(key), sort_keys=True) for config in configs}) > 1]
    metric_keys = sorted({key for final in finals for key, value in final.items()
                          if "/" in key and isinstance(value, float)})
    rows = [("run", names)]
    rows += [(key, [config.get(key, "-") for config in configs]) for key in differing]
    rows += [("epochs done", [len(history) for history in histories])]
    rows += [(key, [final.get(key, "-") for final in finals]) for key in metric_keys]
    print_table(rows, config_rows=len(differing))

    figure = curves_figure(names, histories)
    from matplotlib import pyplot as plt  # after curves_figure chose the Agg backend

    plot_path = plot_path or os.path.join(os.path.dirname(os.path.normpath(runs[0])),
                                          "compare.png")
    figure.savefig(plot_path, dpi=100)
    plt.close(figure)
    print(f"Validation curves: {plot_path}")
    return 0


def curves_figure(names, histories):
    """One panel per `val_*` curve, one line per run, and one legend for all panels below them,
    outside every panel, so it never covers a curve however many runs there are."""
    import matplotlib  # only comparing draws

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = sorted({key for history in histories for row in history for key in row
                     if key.startswith("val_")}) or ["val_loss"]
    figure, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4 + 0.2 * len(names)),
                                squeeze=False, layout="constrained")
    lines = {}
    for axis, curve in zip(axes[0], curves, strict=True):
        for index, (name, history) in enumerate(zip(names, histories, strict=True)):
            points = [(int(row["epoch"]) + 1, float(row[curve])) for row in history
                      if row.get(curve)]
            if points:  # a run keeps its colour in every panel, for the one legend
                (lines[name],) = axis.plot(*zip(*points, strict=True), marker=".", label=name,
                                           color=f"C{index % 10}")
        axis.set(title=curve, xlabel="epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    figure.suptitle("Validation curves")
    shown = [name for name in names if name in lines]
    if shown:
        figure.legend([lines[name] for name in shown], shown, loc="outside lower center",
                      ncols=max(1, min(len(shown), len(curves))), fontsize="small")
    return figure


def middle_cut(text, width):
    """`text` in at most `width` characters, cut in the middle: a run id keeps its start (the
    preset and dataset) and its distinguishing end (date, time and random hex)."""
    if len(text) <= width:
        return text
    head = (width - 3) // 2
    return f"{text[:head]}...{text[len(text) - (width - 3 - head):]}"


def distinct_cuts(texts, width=TABLE_WIDTH):
    """`texts` cut by `middle_cut`, wider where that would make two different ones look alike."""
    while len(set(cuts := [middle_cut(t, width) for t in texts])) < len(set(texts)):
        width += 8
    return cuts


def flatten(config, prefix=""):
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`, so nested differences show one by one."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def print_table(rows, config_rows):
    def text(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return json.dumps(value) if isinstance(value, (list, dict)) else str(value)

    cells = [[key] + distinct_cuts([text(value) for value in values]) for key, values in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for i, row in enumerate(cells):
        if i == 1:
            print("-- config differences" if config_rows else "-- same config apart from the id")
        if i == 1 + config_rows:
            print("-- final metrics")
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
