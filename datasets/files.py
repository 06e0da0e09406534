"""Your own files by path: "csv:PATH" (a table with a header row) and "npz:PATH" (NumPy arrays).

Both are read whole, checked (a refusal is one ValueError naming the file and the problem), then
split and scaled exactly as `datasets.from_arrays` does: seeded stratified splits, statistics
fitted on the training split only.

    datasets.load("csv:wine.csv", target="class")            # classes named in info.class_names
    datasets.load("csv:houses.csv", target="price")          # float target: regression
    datasets.load("npz:signals.npz", x="signals", y="labels")
"""

import csv
import os
import zipfile

import numpy as np

from eqzoo.datasets import arrays
from eqzoo.datasets.registry import register_prefix, reject_options
from eqzoo.messages import close_matches

# What pandas' read_csv also reads as a missing value (case-insensitive), plus UCI's "?".
MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "<na>", "?"})
SHARED_OPTIONS = ("task", "standardize", "train_size")


def existing_path(name, prefix, kind):
    """The path after `prefix`, checked to exist and to be a `kind` ("file" or "directory")."""
    given = name[len(prefix):]
    if not given:
        raise ValueError(f"{name!r} names no {kind}: write {prefix}PATH, e.g. {prefix}data")
    path = os.path.abspath(os.path.expanduser(given))
    if not os.path.exists(path):
        raise arrays.DataFileNotFoundError(f"{name}: no such {kind}: {path}")
    if (kind == "directory") != os.path.isdir(path):
        raise ValueError(f"{name}: {path} is not a {kind}")
    return path


def close_names(given, known):
    """" Did you mean 'a', 'b'?" for the known names nearest to a misspelt one, else ""."""
    matches = close_matches(given, known, n=3)
    return f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


# ----------------------------------------------------------------------------------------------
# csv:PATH
# ----------------------------------------------------------------------------------------------
def load_csv(name, *, batch_size, seed, validation_fraction, test_fraction, reconstruction,
             data_dir, download, **options):
    """A CSV file with a header row: numeric feature columns and one target column.

    Options: `target` (the target column, required), `features` (the feature columns; default
    every other column), `task` ("classification" or "regression"; default: classification when
    the target holds integers or text, else regression), `delimiter` (default ","),
    `standardize`, `train_size` (as for `datasets.from_arrays`).
    """
    arrays.reject_tfds_arguments(name, data_dir, download)
    reject_options(name, options, allowed=("target", "features", "delimiter", *SHARED_OPTIONS))
    path = existing_path(name, "csv:", "file")
    task = arrays.check_task(name, options.get("task"))
    delimiter = options.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"Invalid value for option `delimiter` of {name!r}: expected one "
                         f"character. Received: delimiter={delimiter!r}")
    header, rows, lines = _read_rows(name, path, delimiter)
    target, features = _choose_columns(name, header, options.get("target"),
                                       options.get("features"))
    columns = {column: [row[header.index(column)] for row in rows]
               for column in [*features, target]}
    x = _feature_matrix(name, columns, features, lines)
    y, task = _target(name, columns[target], target, task, lines)
    splits, fields = arrays.make_splits(
        name, x, y, task=task, symmetry=None, structure="vector", class_names=None,
        standardize=options.get("standardize"), train_size=options.get("train_size"),
        seed=seed, validation_fraction=validation_fraction, test_fraction=test_fraction,
        source=f"CSV file {path}",
        description=f"{len(rows)} rows of {os.path.basename(path)}: {len(features)} numeric "
                    f"feature columns ({_preview(features)}); target column {target!r}.",
        x_label="the feature columns", y_label=f"target column {target!r}")
    return arrays.to_splits(splits, fields, batch_size=batch_size, seed=seed,
                            reconstruction=reconstruction)


def _read_rows(name, path, delimiter):
    """The header, the data rows and each row's line number; blank lines are skipped."""
    try:
        # utf-8-sig: spreadsheet programs often start a UTF-8 CSV with a byte-order mark.
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            numbered = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except UnicodeDecodeError as error:
        raise ValueError(f"{name}: not UTF-8 text ({error.reason} at byte {error.start}); save "
                         "the file as UTF-8 CSV") from None
    except csv.Error as error:
        raise ValueError(f"{name}: not a readable CSV file ({error})") from None
    if not numbered:
        raise ValueError(f"{name}: the file is empty; expected a header row, then data rows")
    header = [cell.strip() for cell in numbered[0][1]]
    if len(header) < 2:
        other = next((d for d in ";\t|," if d != delimiter and d in header[0]), None)
        hint = f"; is the delimiter {other!r}? Pass delimiter={other!r}" if other else ""
        raise ValueError(f"{name}: the header row reads as one column {header[0]!r} with "
                         f"delimiter {delimiter!r}, but a feature and a target column are "
                         f"needed{hint}")
    if len(numbered) == 1:
        raise ValueError(f"{name}: the file holds a header row but no data rows")
    unnamed = [i + 1 for i, column in enumerate(header) if not column]
    repeated = sorted({column for column in header if column and header.count(column) > 1})
    if unnamed or repeated:
        raise ValueError(f"{name}: every column needs a header name of its own; columns "
                         f"{unnamed} have none, and {repeated} appear more than once")
    for line, row in numbered[1:]:
        if len(row) != len(header):
            raise ValueError(f"{name}: line {line} has {len(row)} fields but the header has "
                             f"{len(header)} (delimiter {delimiter!r})")
    return header, [row for _, row in numbered[1:]], [line for line, _ in numbered[1:]]


def _choose_columns(name, header, target, features):
    if target is None:
        raise ValueError(f"{name}: say which column is the target with target=COLUMN (train.py: "
                         f"--dataset-option target=COLUMN). Its columns: {header}")
    if isinstance(target, int) and not isinstance(target, bool):
        target = str(target)  # a column named "3" arrives from the command line as the number 3
    if not isinstance(target, str):
        raise ValueError(f"Invalid value for option `target` of {name!r}: expected a column name."
                         f" Received: target={target!r}")
    if target not in header:
        raise ValueError(f"{name}: no target column {target!r}.{close_names(target, header)} "
                         f"Its columns: {header}")
    if features is None:
        return target, [column for column in header if column != target]
    if isinstance(features, str) or not all(isinstance(f, str) for f in features) or not features:
        raise ValueError(f"Invalid value for option `features` of {name!r}: expected a non-empty "
                         f"list of column names. Received: features={features!r}")
    for column in features:
        if column not in header:
            raise ValueError(f"{name}: no feature column {column!r}."
                             f"{close_names(column, header)} Its columns: {header}")
    if target in features:
        raise ValueError(f"{name}: the target column {target!r} cannot also be a feature")
    return target, list(features)


def _parse_numbers(cells):
    """Float values (NaN where missing) and the index of the first cell that is not a number."""
    values = np.empty(len(cells))
    for i, cell in enumerate(cells):
        text = cell.strip()
        if text.lower() in MISSING:
            values[i] = np.nan
            continue
        try:
            values[i] = float(text)
        except ValueError:
            return values, i
    return values, None


def _feature_matrix(name, columns, features, lines):
    parsed = {column: _parse_numbers(columns[column]) for column in features}
    text = {column: first for column, (_, first) in parsed.items() if first is not None}
    if text:
        shown = ", ".join(f"{column!r} (line {lines[i]}: {columns[column][i].strip()!r})"
                          for column, i in text.items())
        raise ValueError(f"{name}: feature columns must be numeric, but {shown} "
                         f"{'is' if len(text) == 1 else 'are'} not; encode them as numbers, or "
                         "list the numeric columns with features=[...]")
    bad = {column: ~np.isfinite(values) for column, (values, _) in parsed.items()}
    _refuse_non_finite(name, bad, lines)
    for column in features:
        _refuse_beyond_float32(name, column, parsed[column][0], lines)
    return np.column_stack([parsed[column][0] for column in features])


def _refuse_beyond_float32(name, column, values, lines):
    huge = np.abs(values) > arrays.FLOAT32_MAX
    if huge.any():
        first = int(np.argmax(huge))
        raise ValueError(f"{name}: column {column!r} holds {values[first]:.4g} (line "
                         f"{lines[first]}; {int(huge.sum())} value(s) in all) beyond float32's "
                         f"range (±{arrays.FLOAT32_MAX:.4g}) that training uses; rescale that "
                         "column (e.g. take logarithms or change units)")


def _target(name, cells, column, task, lines):
    """The target as integers, strings or floats, and the task it implies (or was given)."""
    values, first_text = _parse_numbers(cells)
    if first_text is not None:  # text labels
        missing = np.array([cell.strip().lower() in MISSING for cell in cells])
        _refuse_non_finite(name, {column: missing}, lines, numeric=False)
        if task == "regression":
            raise ValueError(f"{name}: target column {column!r} is not numeric (line "
                             f"{lines[first_text]}: {cells[first_text].strip()!r}), so it cannot "
                             "be a regression target")
        return np.array([cell.strip() for cell in cells]), "classification"
    _refuse_non_finite(name, {column: ~np.isfinite(values)}, lines)
    integers = all(_is_integer_text(cell) for cell in cells)
    if not integers:
        _refuse_beyond_float32(name, column, values, lines)
    if task is None:
        task = "classification" if integers else "regression"
    if task == "regression":
        return values, task
    return (values.astype(np.int64) if integers else np.array([c.strip() for c in cells]), task)


def _is_integer_text(text):
    try:
        int(text)
    except ValueError:
        return False
    return True


def _refuse_non_finite(name, bad, lines, numeric=True):
    bad = {column: mask for column, mask in bad.items() if mask.any()}
    if bad:
        what = "NaN, inf or missing values" if numeric else "missing values"
        shown = "; ".join(f"column {column!r} in {int(mask.sum())} row(s) (first at line "
                          f"{lines[int(np.argmax(mask))]})" for column, mask in bad.items())
        raise ValueError(f"{name}: {what} in {shown}; fill or drop those rows")


def _preview(columns, limit=6):
    shown = ", ".join(columns[:limit])
    return shown + (f", ... {len(columns) - limit} more" if len(columns) > limit else "")


# ----------------------------------------------------------------------------------------------
# npz:PATH
# ----------------------------------------------------------------------------------------------
def load_npz(name, *, batch_size, seed, validation_fraction, test_fraction, reconstruction,
             data_dir, download, **options):
    """A NumPy .npz archive (`np.savez`) holding inputs and targets, of any input rank.

    Options: `x` and `y` (the arrays' names; default "x" and "y"), `task`, `structure`,
    `standardize`, `train_size` (as for `datasets.from_arrays`).
    """
    arrays.reject_tfds_arguments(name, data_dir, download)
    reject_options(name, options, allowed=("x", "y", "structure", *SHARED_OPTIONS))
    path = existing_path(name, "npz:", "file")
    keys = {option: options.get(option, option) for option in ("x", "y")}
    for option, key in keys.items():
        if not isinstance(key, str):
            raise ValueError(f"Invalid value for option `{option}` of {name!r}: expected the name "
                             f"of an array in the file. Received: {option}={key!r}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{name}: not a NumPy .npz archive ({error}); save one with "
                         "np.savez(path, x=inputs, y=targets)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{name}: holds one array (a .npy file), not inputs and targets; save "
                         "both with np.savez(path, x=inputs, y=targets)")
    with archive:
        found = list(archive.files)
        loaded = {}
        for option, key in keys.items():
            if key not in found:
                raise ValueError(f"{name}: no array {key!r}.{close_names(key, found)} Its arrays: "
                                 f"{found}; choose others with the options x=NAME and y=NAME")
            try:
                loaded[option] = archive[key]
            except ValueError as error:  # object arrays need pickle, which stays off
                raise ValueError(f"{name}: array {key!r} cannot be read without pickle "
                                 f"({error}); save plain numeric or string arrays") from None
    x, y = arrays.check_arrays(name, loaded["x"], loaded["y"], f"array {keys['x']!r}",
                               f"array {keys['y']!r}")
    splits, fields = arrays.make_splits(
        name, x, y, task=options.get("task"), symmetry=None, structure=options.get("structure"),
        class_names=None, standardize=options.get("standardize"),
        train_size=options.get("train_size"), seed=seed,
        validation_fraction=validation_fraction, test_fraction=test_fraction,
        source=f"NumPy archive {path} (x={keys['x']!r}, y={keys['y']!r})",
        description=f"{len(x)} examples of shape {x.shape[1:]} from {os.path.basename(path)}.",
        x_label=f"array {keys['x']!r}", y_label=f"array {keys['y']!r}")
    return arrays.to_splits(splits, fields, batch_size=batch_size, seed=seed,
                            reconstruction=reconstruction)


register_prefix("csv:", load_csv)
register_prefix("npz:", load_npz)
