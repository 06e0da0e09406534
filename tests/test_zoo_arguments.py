"""Declared argument types and ranges (zoo/arguments.py), checked over the whole registry."""

import math

import pytest

from eqzoo import zoo
from eqzoo.zoo import arguments, registry


def first_preset(architecture):
    return next((name for name in zoo.list_models()
                 if zoo.get_preset(name)["architecture"] == architecture), None)


def bad_values(spec):
    """Values that `spec` must refuse: wrong types, out of range, not finite."""
    if isinstance(spec, arguments.Optional):
        return bad_values(spec.spec)
    if isinstance(spec, arguments.Integer):
        return [spec.minimum - 1, spec.maximum + 1, 2.5, True, "3", None]
    if isinstance(spec, arguments.Number):
        return [math.nan, math.inf, -math.inf, "0.1", True, None, spec.minimum - 1]
    if isinstance(spec, arguments.Boolean):
        return ["no", "false", 0, 1, None]
    if isinstance(spec, arguments.Sizes):
        return [[], [0], [1.5], "8", 8, [True], [2**40]]
    if isinstance(spec, (arguments.Choice, arguments.Activation)):
        return ["no_such_thing", 3, None, ""]
    if isinstance(spec, arguments.Name):
        return ["", "a/b", 3, None]
    if isinstance(spec, arguments.GroupName):
        return ["SO3", "U(2)", "O(1,2)", 3, None, ""]
    if isinstance(spec, arguments.RepText):
        return ["5*X", "V+", "2*", 3, None, ""]
    raise AssertionError(f"no bad values listed for {spec!r}: add them here")


@pytest.mark.parametrize("architecture", zoo.list_architectures())
def test_every_argument_declares_its_type_and_the_memory_is_declared(architecture):
    specs = registry.architecture_specs(architecture)
    undeclared = [argument for argument, spec in specs.items() if spec is None]
    assert not undeclared, (f"{architecture}: annotate {undeclared} with a spec from "
                            "zoo/arguments.py")
    assert registry._MEMORY[architecture] is not None, (
        f"{architecture}: register it with memory=<lower bound on bytes>")


@pytest.mark.parametrize("architecture", zoo.list_architectures())
def test_every_argument_refuses_wrong_types_and_ranges(architecture):
    """Whether or not the preset sets it (issue 12: depth=-1, residual="no"); an architecture
    with no preset yet is checked on its own."""
    name = first_preset(architecture)
    for argument, spec in registry.architecture_specs(architecture).items():
        for value in bad_values(spec):
            if isinstance(spec, arguments.Optional) and value is None:
                continue
            with pytest.raises(ValueError) as error:
                registry.check_arguments(name or architecture, {argument: value},
                                         architecture=None if name else architecture)
            message = str(error.value)
            assert f"`{argument}`" in message and "expected" in message, message
            assert f"Received: {argument}=" in message, message


@pytest.mark.parametrize("name", zoo.list_models())
def test_presets_satisfy_their_declared_types(name):
    config = zoo.get_preset(name)["config"]
    assert registry.check_arguments(name, config).keys() == config.keys()


def test_issue_examples_and_name():
    with pytest.raises(ValueError, match=r"`depth`.*integer in \[1, 65536\].*depth=-1"):
        zoo.create_model("symmetric_mlp_digits", depth=-1)
    with pytest.raises(ValueError, match=r"`residual`.*true or false.*residual='no'"):
        zoo.create_model("symmetric_mlp_digits", residual="no")
    # `name` is listed as a valid key, and it works.
    assert "name" in registry.architecture_arguments("symmetric_mlp")
    assert zoo.create_model("mlp_wine", name="my_twin").name == "my_twin"
    with pytest.raises(ValueError, match="without '/'"):
        zoo.create_model("mlp_wine", name="a/b")


def test_values_are_normalised_and_huge_values_echoed_as_a_prefix():
    checked = registry.check_arguments("mlp_wine", {"input_shape": [13], "dropout": 0})
    assert checked == {"input_shape": (13,), "dropout": 0.0}
    with pytest.raises(ValueError) as error:
        registry.check_arguments("mlp_wine", {"activation": "x" * 100_000})
    assert len(str(error.value)) < 400 and "(100002 characters)" in str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.list_models())
def test_memory_estimate_is_a_tight_lower_bound(name):
    """Below what training holds (16 bytes per parameter), and for dense-like families close."""
    model = zoo.create_model(name)
    estimate = registry.estimate_memory(name)
    held = registry.BYTES_PER_PARAMETER * model.count_params()
    assert 0 < estimate <= held
    if zoo.get_preset(name)["metadata"]["constraint"] != "equivariant":
        assert estimate >= 0.75 * held, (estimate, held)


def test_memory_estimate_grows_with_the_sizes_without_building():
    small = registry.estimate_memory("symmetric_mlp_digits", width=64)
    huge = registry.estimate_memory("symmetric_mlp_digits", width=60_000)  # never built
    assert huge > 2**35 > small
    assert registry.estimate_memory("deepsets_set_sum", input_shape=[4096, 3]) == 16 * 4096**2
