"""A run folder, read back: config.json, metrics.json and history.csv, as train.py wrote them.

Standard library only, so comparing runs and reading their results needs no TensorFlow. A file
that cannot be used raises `BrokenRunFile`, whose message names the file and says what to do.

    config, metrics, history = read_run("runs/<id>")  # metrics is {} while the run is unfinished
    losses = [float(row["val_loss"]) for row in read_history("runs/<id>/history.csv")]
"""

import csv
import json
import os


class BrokenRunFile(Exception):
    """A run-folder file that cannot be used; the message names it and says what to do."""


def read_run(path):
    """A run folder's config, final metrics ({} while unfinished) and history rows; a broken
    file raises `BrokenRunFile` naming it."""
    loaded = {}
    for name in ("config.json", "metrics.json"):
        file = os.path.join(path, name)
        if name == "metrics.json" and not os.path.exists(file):
            loaded[name] = {}
            continue
        try:
            with open(file) as f:
                loaded[name] = json.load(f)
        except (OSError, ValueError) as error:
            raise BrokenRunFile(f"{file} is not readable JSON ({_first_line(error)}); restore or "
                                "delete that file") from None
        if not isinstance(loaded[name], dict):
            raise BrokenRunFile(f"{file} holds a {type(loaded[name]).__name__}, expected a JSON "
                                "object; restore or delete that file")
    history = read_history(os.path.join(path, "history.csv"))
    return loaded["config.json"], loaded["metrics.json"], history


def _first_line(error):
    return (str(error).strip() or type(error).__name__).splitlines()[0]


# ----------------------------------------------------------------------------------------------
# history.csv (Keras' CSVLogger, appended to by every resume)
# ----------------------------------------------------------------------------------------------
def parse_history(path):
    """`(rows, problems)`: one row per epoch (a repeated epoch keeps its last row), and one
    `"line N: ..."` per line that is not a history row."""
    if not os.path.exists(path):
        return [], []
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    if not lines:
        return [], []
    header, problems, rows = lines[0], [], {}
    if not header or header[0] != "epoch":
        return [], [f"line 1 is not a header starting with 'epoch' ({_echo(lines[0])})"]
    for number, cells in enumerate(lines[1:], start=2):
        if not cells:
            continue
        try:
            if len(cells) != len(header):
                raise ValueError(f"{len(cells)} fields, the header has {len(header)}")
            epoch = int(cells[0])
            if epoch < 0:
                raise ValueError("negative epoch")
            for cell in cells[1:]:
                if cell:
                    float(cell)
        except ValueError as error:
            problems.append(f"line {number} is not a history row ({_echo(cells)}: {error})")
            continue
        rows[epoch] = dict(zip(header, cells, strict=True))
    return [rows[epoch] for epoch in sorted(rows)], problems


def _echo(cells):
    text = ",".join(cells)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def read_history(path):
    """The rows of a history.csv, one per epoch; raises `BrokenRunFile` on a line that is not."""
    rows, problems = parse_history(path)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BrokenRunFile(f"{path}: {problems[0]}{more}; fix or delete that line (resuming "
                            "the run drops it).")
    return rows
