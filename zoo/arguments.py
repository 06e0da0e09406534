"""Declared types and ranges of architecture arguments: what `create_model` and `--set` accept.

Every keyword argument of a registered architecture is annotated with one of these specs:

    @register_architecture("symmetric_mlp")
    def symmetric_mlp(*, input_shape: Shape(), width: Integer(1, 2**16) = 64,
                      dropout: Number(0, 1, closed_right=False) = 0.0, ...):

The registry checks a preset's config and every override against them before building, so a
value out of range (`depth=-1`) or of the wrong type (`residual="no"`) is refused with what was
received and what was expected, whether or not the preset sets that argument.
"""

import math
import numbers
import warnings

from eqzoo.messages import short

MAX_SIZE = 2**16  # a width, a depth or a count beyond this is a typo, not a model
MAX_INPUT_ELEMENTS = 2**24
# The one argument that turns a constrained architecture into its unconstrained twin.
TWIN_FLAG = "constrained"
_RENAMED = {}  # architecture -> {old argument name: new name}, still accepted with a warning


class Spec:
    """A declared argument type: `check(value)` returns the value (normalised) or raises."""

    expected = "a value"

    def accepts(self, value):
        raise NotImplementedError

    def normalise(self, value):
        return value

    def check(self, architecture, argument, value):
        if not self.accepts(value):
            raise ValueError(f"Invalid value for argument `{argument}` of {architecture}: "
                             f"expected {self.expected}. Received: {argument}={short(value)}")
        return self.normalise(value)

    def __repr__(self):
        return f"<{self.expected}>"


class Integer(Spec):
    def __init__(self, minimum, maximum=MAX_SIZE):
        self.minimum, self.maximum = minimum, maximum
        self.expected = f"an integer in [{minimum}, {maximum}]"

    def accepts(self, value):
        return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and self.minimum <= value <= self.maximum)

    def normalise(self, value):
        return int(value)


class Number(Spec):
    """A finite real number in an interval; integers are accepted and become floats."""

    def __init__(self, minimum, maximum=math.inf, closed_left=True, closed_right=True):
        self.minimum, self.maximum = minimum, maximum
        self.closed_left, self.closed_right = closed_left, closed_right
        left, right = "[" if closed_left else "(", "]" if closed_right else ")"
        self.expected = f"a finite number in {left}{minimum:g}, {maximum:g}{right}"

    def accepts(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        value = float(value)
        return (math.isfinite(value)
                and (self.minimum <= value if self.closed_left else self.minimum < value)
                and (value <= self.maximum if self.closed_right else value < self.maximum))

    def normalise(self, value):
        return float(value)


class Boolean(Spec):
    expected = "true or false"

    def accepts(self, value):
        return isinstance(value, bool)


class Choice(Spec):
    def __init__(self, *options):
        self.options = options
        self.expected = f"one of {', '.join(map(repr, options))}"

    def accepts(self, value):
        return isinstance(value, str) and value in self.options


class Name(Spec):
    """A Keras model or layer name: a non-empty string without '/'."""

    expected = "a non-empty string without '/'"

    def accepts(self, value):
        return isinstance(value, str) and bool(value.strip()) and "/" not in value


class Activation(Spec):
    """A Keras activation by name, e.g. relu or gelu."""

    expected = "the name of a Keras activation, e.g. 'relu', 'gelu', 'tanh'"

    def accepts(self, value):
        import keras  # the registry's users have imported it already; kept out of import time

        if not isinstance(value, str):
            return False
        try:
            keras.activations.get(value)
        except (ValueError, TypeError):
            return False
        return True


class GroupName(Spec):
    """A named continuous group: SO(n), O(n), Sp(m), O(1,3) or SO+(1,3)."""

    expected = "a group name: 'SO(n)', 'O(n)', 'Sp(m)', 'O(1,3)' or 'SO+(1,3)'"

    def accepts(self, value):
        from eqzoo.layers.groups import GROUP_NAMES  # keeps Keras out of import time

        return isinstance(value, str) and bool(GROUP_NAMES.match(value.replace(" ", "")))


class RepText(Spec):
    """A representation as text (`layers.representations.parse_rep`), e.g. '5*S + 5*V', 'T2'."""

    expected = "a representation such as '5*S + 5*V', 'T2' or '4*V' (atoms S, V, P, Tk, T(p,q))"

    def accepts(self, value):
        from eqzoo.layers.representations import is_rep_text  # keeps Keras out of import time

        return is_rep_text(value)


class Sizes(Spec):
    """A list of integers in a range; `ndim` fixes its length. Returned as a tuple."""

    def __init__(self, minimum=1, maximum=MAX_SIZE, ndim=None, max_product=None):
        self.element = Integer(minimum, maximum)
        self.ndim, self.max_product = ndim, max_product
        length = f"a list of {ndim} " if ndim else "a non-empty list of "
        product = f" whose product is at most {max_product}" if max_product else ""
        self.expected = (f"{length}integers in [{minimum}, {maximum}]{product}, e.g. "
                         f"{[8] * (ndim or 2)}")

    def accepts(self, value):
        return (isinstance(value, (list, tuple)) and len(value) > 0
                and (self.ndim is None or len(value) == self.ndim)
                and all(self.element.accepts(v) for v in value)
                and (self.max_product is None or math.prod(value) <= self.max_product))

    def normalise(self, value):
        return tuple(int(v) for v in value)


class Shape(Sizes):
    """An input shape without the batch axis, e.g. (8, 8, 1)."""

    def __init__(self, ndim=None):
        super().__init__(1, MAX_INPUT_ELEMENTS, ndim=ndim, max_product=MAX_INPUT_ELEMENTS)


class Optional(Spec):
    def __init__(self, spec):
        self.spec = spec
        self.expected = f"None or {spec.expected}"

    def accepts(self, value):
        return value is None or self.spec.accepts(value)

    def normalise(self, value):
        return None if value is None else self.spec.normalise(value)


# ----------------------------------------------------------------------------------------------
# Renamed arguments: old spellings that overrides, `--set` and earlier runs' config.json may hold
# ----------------------------------------------------------------------------------------------
def declare_renamed(architecture, renamed):
    """Records `{old argument name: new name}` for `architecture` (see `register_architecture`)."""
    _RENAMED[architecture] = dict(renamed or {})


def rename_arguments(architecture, config, where):
    """`config` with old spellings of `architecture`'s arguments renamed, keeping their order;
    each old one warns with a FutureWarning naming `where`."""
    renamed = _RENAMED.get(architecture, {})
    old = [key for key in config if key in renamed]
    for key in old:
        new = renamed[key]
        if new in config:
            raise ValueError(f"{where}: `{key}` is the old spelling of `{new}`, and both are "
                             f"given ({key}={short(config[key])}, {new}={short(config[new])}); "
                             f"expected `{new}` only.")
        why = ", the one name of every family's twin flag" if new == TWIN_FLAG else ""
        warnings.warn(f"{where}: argument `{key}` of {architecture} is now spelt `{new}`{why}; "
                      f"read {key}={short(config[key])} as {new}={short(config[key])}. The old "
                      f"spelling will be refused in a future release: write `{new}`.",
                      FutureWarning, stacklevel=3)
    if not old:
        return config
    return {renamed.get(key, key): value for key, value in config.items()}


def renamed_quietly(architecture, config):
    """`config` with old spellings renamed, silently; left as written when it holds both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return rename_arguments(architecture, config, "")
        except ValueError:  # both spellings: left as written, for the reader to see
            return config
