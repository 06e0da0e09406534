"""Python started with this folder on PYTHONPATH behaves as if JAX and PyTorch were not installed.

tests/test_without_extras.py runs pytest so, to check that the README's test command passes on a
machine that has only `.[test]`: the base environment has the extras, and a venv with
`--system-site-packages` would see them. Python imports `sitecustomize` at startup, before any
other module, and child processes inherit PYTHONPATH. The blocked packages are not in
sys.modules' way: the path finder simply does not see them, so `import jax` raises
ModuleNotFoundError, `importlib.util.find_spec("jax")` is None and `importlib.metadata` lists no
such distribution, as on a machine without it.
"""

import importlib.machinery
import os
import sys

BLOCKED = set(os.environ.get("EQZOO_ABSENT_PACKAGES", "jax,jaxlib,torch").split(","))


class _PathFinderWithout:
    """`importlib.machinery.PathFinder`, blind to the packages in BLOCKED."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            return None
        return importlib.machinery.PathFinder.find_spec(name, path, target)

    @staticmethod
    def find_distributions(*args, **kwargs):  # importlib.metadata: entry points, versions
        for distribution in importlib.machinery.PathFinder.find_distributions(*args, **kwargs):
            if (distribution.metadata["Name"] or "").lower() not in BLOCKED:
                yield distribution

    @staticmethod
    def invalidate_caches():
        importlib.machinery.PathFinder.invalidate_caches()


sys.meta_path[:] = [_PathFinderWithout if finder is importlib.machinery.PathFinder else finder
                    for finder in sys.meta_path]
