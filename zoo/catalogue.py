"""The catalogue of every preset's model card, zoo/CARDS.md, generated from the registry.

    python -m eqzoo.zoo.catalogue            # rewrites zoo/CARDS.md (atomically)
    python -m eqzoo.zoo.catalogue --check    # exit 1 when zoo/CARDS.md is stale

Run it after adding or changing a preset; tests/test_cards.py fails while the file is stale.
"""

import argparse
import os
import sys

from eqzoo.fileio import write_text
from eqzoo.zoo import registry
from eqzoo.zoo.cards import model_card

CATALOGUE_PATH = os.path.join(registry.ZOO_DIR, "CARDS.md")


def catalogue():
    """All cards, in name order, with an index: the text of zoo/CARDS.md."""
    sizes = {}  # a twin is measured once, though several presets name it
    names = registry.list_models()
    lines = ["# eqzoo model cards", "",
             "Generated from the registry by `python -m eqzoo.zoo.catalogue`; do not edit by hand "
             "(`tests/test_cards.py` fails when this file is stale). One card per preset: "
             f"{len(names)} presets.", ""]
    lines += [f"- [`{name}`](#{name}): {registry.get_preset(name)['metadata']['description']}"
              for name in names]
    cards = "\n\n".join(model_card(name, sizes) for name in names)
    return "\n".join(lines) + "\n\n" + cards + "\n"


def write_catalogue(path=None):
    """Writes `catalogue()` to `path` (default zoo/CARDS.md) atomically, so a failed run leaves
    the old file whole."""
    path = path or CATALOGUE_PATH
    write_text(path, catalogue())
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m eqzoo.zoo.catalogue",
        description="Write the catalogue of all model cards to zoo/CARDS.md.")
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 when zoo/CARDS.md is stale")
    args = parser.parse_args(argv)
    if args.check:
        with open(CATALOGUE_PATH) as f:
            stale = f.read() != catalogue()
        state = "stale: run python -m eqzoo.zoo.catalogue" if stale else "up to date"
        print(f"{CATALOGUE_PATH} is {state}")
        return 1 if stale else 0
    print(f"Wrote {write_catalogue()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
