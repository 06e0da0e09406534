"""Argument checks shared by the layers, with messages that say what was received."""

import numbers


def check_units(owner, units, allow_none=True, argument="units"):
    """`units` is None (when allowed) or a positive integer; returns it as an int or None."""
    if units is None and allow_none:
        return None
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
        expected = "a positive integer or None" if allow_none else "a positive integer"
        raise ValueError(
            f"Invalid value for argument `{argument}` of {owner}: expected {expected}. "
            f"Received: {argument}={units!r}"
        )
    return int(units)


def check_choice(owner, argument, value, choices):
    if value not in choices:
        raise ValueError(
            f"Invalid value for argument `{argument}` of {owner}: expected one of "
            f"{sorted(choices)}. Received: {argument}={value!r}"
        )
    return value
