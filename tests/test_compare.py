"""`train.py --compare`: the table keeps what tells runs apart, and the plot's legend covers no
curve. Run folders are written by hand here (config.json, metrics.json, history.csv), as
train.py writes them; tests/test_train.py compares real runs."""

import json

import pytest

from eqzoo import compare, train

SAME_DAY = ["symmetric_mlp_digits-digits-20261202-074812-a3f9",
            "symmetric_mlp_digits-digits-20261202-074812-0b7c"]


def write_run(folder, seed, epochs=6, curves=("val_loss", "val_accuracy")):
    folder.mkdir(parents=True)
    config = {"model": "symmetric_mlp_digits", "dataset": "digits", "seed": seed,
              "run_id": folder.name, "overrides": {"width": 16}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text(json.dumps({"test/accuracy": 0.9 + 0.01 * seed}))
    rows = [",".join(["epoch", "loss", *curves])]
    rows += [",".join(str(v) for v in [e, 1 / (e + 1), *(0.5 + 0.1 * seed - 0.05 * e
                                                        for _ in curves)])
             for e in range(epochs)]
    (folder / "history.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_same_day_runs_of_one_preset_keep_their_distinguishing_ends(tmp_path, capsys):
    folders = [str(write_run(tmp_path / name, seed)) for seed, name in enumerate(SAME_DAY)]
    assert train.main(["--compare", *folders, "--plot", str(tmp_path / "c.png")]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[0] == "run" and len(header) == 3
    assert header[1] != header[2]
    assert header[1].endswith("074812-a3f9") and header[2].endswith("074812-0b7c"), header
    assert all(cell.startswith("symmetric_mlp_d") for cell in header[1:]), header


@pytest.mark.parametrize("texts, width, expected", [
    (["short", "also short"], 40, ["short", "also short"]),
    (["a" * 30 + "-x1", "a" * 30 + "-x2"], 20, ["aaaaaaaa...aaaaaa-x1", "aaaaaaaa...aaaaaa-x2"]),
    # Alike after the cut (they differ only in the middle): widened until they are not.
    (["p" * 20 + "1" + "q" * 20, "p" * 20 + "2" + "q" * 20], 20, None),
])
def test_cells_are_cut_in_the_middle_and_never_made_alike(texts, width, expected):
    cuts = compare.distinct_cuts(texts, width)
    if expected is not None:
        assert cuts == expected
    assert len(set(cuts)) == len(set(texts))
    assert all(len(cut) <= max(width, len(text)) for cut, text in zip(cuts, texts, strict=True))
    assert all(cut == text or (cut[:3] == text[:3] and cut[-3:] == text[-3:])
               for cut, text in zip(cuts, texts, strict=True))


def overlaps(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("runs", [2, 12])
def test_the_plot_legend_lies_outside_every_panel(tmp_path, runs):
    names = [f"{SAME_DAY[0][:-4]}{k:04x}" for k in range(runs)]
    folders = [write_run(tmp_path / name, k) for k, name in enumerate(names)]
    histories = [compare.read_run(str(folder))[2] for folder in folders]
    figure = compare.curves_figure(names, histories)
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        (legend,) = figure.legends
        assert [text.get_text() for text in legend.get_texts()] == names
        box = legend.get_window_extent(renderer)
        panels = figure.axes
        assert len(panels) == 2 and all(axis.get_legend() is None for axis in panels)
        for axis in panels:
            assert not overlaps(box, axis.get_window_extent(renderer)), axis.get_title()
            assert len(axis.get_lines()) == runs
        figure_box = figure.bbox
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1 and box.y0 >= figure_box.y0
    finally:
        from matplotlib import pyplot as plt

        plt.close(figure)
