"""Every docstring example in layers/, zoo/ and datasets/ runs and prints what it shows.

As in Keras' own docs, an example may use `np` and `keras` without importing them; anything
else it imports by its installed name (`from eqzoo.layers.groups import SymmetricGroup`).
"""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest

import eqzoo.datasets
import eqzoo.layers
import eqzoo.zoo

MODULES = sorted(module.name for package in (eqzoo.layers, eqzoo.zoo, eqzoo.datasets)
                 for module in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
                 if not module.name.endswith("_symmetric_matmul_torch"))  # torch backend only


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={**vars(module), "np": np, "keras": keras}):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed"


def test_the_examples_are_found():
    assert len(MODULES) > 40
    examples = sum(len(test.examples) for name in MODULES
                   for test in doctest.DocTestFinder().find(importlib.import_module(name)))
    assert examples >= 60
