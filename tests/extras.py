"""The optional extras, JAX and PyTorch: which are installed, and how a test that needs one says so.

A test that needs an extra carries `requires("jax")` (or `marks("torch")` in a `pytest.param`):
the `extras` marker, and a skip, with the install command as its reason, when the package is
absent. The README's `pip install -e ".[test]" && python -m pytest` then passes without them, and
`python -m pytest -m extras` runs just these tests once they are installed (CI's second pass).
A test that walks the package imports its modules with `import_unless_extra_missing`.
"""

import importlib
import importlib.util

import pytest

EXTRAS = ("jax", "torch")


def installed(package):
    return importlib.util.find_spec(package) is not None


def marks(*packages):
    """The `extras` marker, and a skip naming what to install when one of `packages` is absent."""
    absent = [p for p in packages if not installed(p)]
    reason = (f"needs {' and '.join(absent)}: pip install -e \".[{','.join(absent)}]\""
              if absent else "")
    return [pytest.mark.extras, pytest.mark.skipif(bool(absent), reason=reason)]


def requires(*packages):
    """`marks(*packages)` as a decorator of a test function."""
    def decorate(test):
        for mark in marks(*packages):
            test = mark(test)
        return test
    return decorate


def import_unless_extra_missing(name):
    """The module `name`, imported; None when it needs an extra (jax, torch) that is absent."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] in EXTRAS and not installed(error.name):
            return None
        raise
