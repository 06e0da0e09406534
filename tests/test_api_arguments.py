"""The Python API checks its arguments as the command line does: one ValueError or TypeError
naming the argument, what was received and what was expected, before any work or allocation."""

import time

import keras
import numpy as np
import pytest

from eqzoo import datasets, zoo
from eqzoo.layers import GroupAveraged
from eqzoo.layers.equivariance import assert_equivariant, equivariance_error
from eqzoo.layers.groups import (
    MAX_GENERATOR_BYTES,
    MAX_ORDER,
    CyclicGroup,
    DihedralGroup,
    PermutationGroup,
    SymmetricGroup,
)
from eqzoo.layers.representations import DefiningRep, TrivialRep


@pytest.mark.parametrize("pattern", [3, None, ["tied_*"]])
def test_listings_refuse_a_pattern_that_is_not_a_string(pattern):
    with pytest.raises(TypeError, match=r"argument `pattern` of list_models: expected a "
                                        r"shell-style wildcard string.*Received: pattern="):
        zoo.list_models(pattern)
    with pytest.raises(TypeError, match=r"argument `pattern` of list_datasets"):
        datasets.list_datasets(pattern)


@pytest.mark.parametrize("make, n, order", [(CyclicGroup, 10**6, 10**6),
                                            (CyclicGroup, MAX_ORDER + 1, MAX_ORDER + 1),
                                            (DihedralGroup, MAX_ORDER // 2 + 1, MAX_ORDER + 2)])
def test_groups_beyond_max_order_are_refused_before_allocating(make, n, order):
    started = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{make.__name__}\(n\) would have {order} elements; "
                                         rf"expected at most MAX_ORDER = {MAX_ORDER}\. "
                                         rf"Received: n={n}"):
        make(n)
    assert time.perf_counter() - started < 1.0
    assert make(4).order == (4 if make is CyclicGroup else 8)


def test_generators_too_large_for_memory_are_refused_before_allocating():
    n = 30_000  # within MAX_ORDER, but 2 x 30000^2 float64 matrices are 13.4 GiB
    assert 8 * n * n > MAX_GENERATOR_BYTES
    with pytest.raises(ValueError, match=r"SymmetricGroup\(30000\) acts on 30000 points: its 2 "
                                         r"generator\(s\).* would take 13\.4 GiB"):
        SymmetricGroup(n)
    with pytest.raises(ValueError, match=r"PermutationGroup acts on 30000 points"):
        PermutationGroup([np.arange(n)])


def test_group_averaged_refuses_more_samples_than_it_can_run_up_front():
    group = SymmetricGroup(3)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"`samples` of GroupAveraged: expected None .* or an "
                                         r"integer in \[1, 10000\].*Received: samples=10000000"):
        GroupAveraged(model, group, DefiningRep(group), TrivialRep(group), samples=10**7)
    assert time.perf_counter() - started < 1.0
    assert GroupAveraged(model, group, DefiningRep(group), TrivialRep(group),
                         samples=10_000).num_elements == 10_000


@pytest.mark.parametrize("check", [assert_equivariant, equivariance_error])
@pytest.mark.parametrize("argument, value, expected", [
    ("n_samples", -1, "a non-negative integer"), ("n_samples", 2.5, "a non-negative integer"),
    ("batch_size", 0, "a positive integer")])
def test_equivariance_checks_name_a_bad_count(check, argument, value, expected):
    group = SymmetricGroup(3)
    rep = DefiningRep(group)
    with pytest.raises(ValueError, match=rf"Invalid value for argument `{argument}`: expected "
                                         rf"{expected}\. Received: {argument}={value}"):
        check(lambda x: x, group, rep, rep, **{argument: value})
    assert equivariance_error(lambda x: x, group, rep, rep, n_samples=0) == 0.0
