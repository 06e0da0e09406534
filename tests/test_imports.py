"""The shape of the package's imports: no module imports another in a cycle, and the maths of
the groups and representations needs no more than numpy. Read from the source with `ast`, so the
check sees imports inside functions too, not only those that ran."""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What installs as eqzoo (pyproject: package-dir eqzoo = the repository root).
PACKAGES = ("layers", "zoo", "datasets")


def eqzoo_modules():
    """`{module name: path}` of every module that installs: top-level files and the packages."""
    modules = {}
    for name in os.listdir(ROOT):
        if name.endswith(".py"):
            modules[f"eqzoo.{name[:-3]}"] = os.path.join(ROOT, name)
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    parts = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].split(os.sep)
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    modules[".".join(["eqzoo", *parts])] = os.path.join(folder, name)
    return modules


def imports(path, modules):
    """The eqzoo modules the file at `path` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from eqzoo.zoo import registry` imports a module
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return found & set(modules)


def cycles(graph):
    """Every import cycle, as a list of module names, found by depth-first search."""
    found, state, stack = [], {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                found.append(stack[stack.index(imported):] + [imported])
            elif imported not in state:
                visit(imported)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def test_no_module_imports_another_in_a_cycle():
    modules = eqzoo_modules()
    assert {"eqzoo.train", "eqzoo.layers", "eqzoo.zoo.registry"} <= set(modules)
    graph = {name: imports(path, modules) - {name} for name, path in modules.items()}
    assert graph["eqzoo.train"], "the reader found no import at all"
    assert cycles(graph) == []


def test_the_cycle_check_finds_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("module", ["eqzoo.train", "eqzoo.checks", "eqzoo.runs",
                                    "eqzoo.distribute", "eqzoo.messages", "eqzoo.fileio"])
def test_the_command_line_modules_import_without_numpy_or_keras(module):
    """What refuses a bad flag imports the standard library only (train.py's refusals answer
    before TensorFlow loads; tests/test_train_refusals.py checks it through train.main)."""
    code = (f"import sys, {module}; print(sorted(m for m in ('numpy', 'keras', 'tensorflow', "
            "'wandb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
