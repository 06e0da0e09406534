"""The README's fenced Python blocks, collected from the file itself and run with their claims.

`blocks(path)` finds every ```` ```python ```` fence (also one indented inside a list item), and
`run(block)` executes it statement by statement in a fresh namespace. A top-level expression
statement, or `print(...)`, whose line ends in a comment has that comment checked as a claim:

- the comment is a Python literal: the value must equal it, `# ((8, 8, 1), 'classification', 10)`
  (floats to the digits written, `0.98` within 0.005; a set literal against a dict is its keys);
- it ends in `= <literal>`: the same, `# (2*3*16 + 16) + (16*2 + 2) = 146`;
- it holds `> <number>` or `< <number>`: a bound, `# large (> 1)`;
- anything else is prose (`# passes`) and is not checked, but prose holding a digit is refused:
  a number the README shows must be one the test can check.

A block is marked by an HTML comment on the line before its fence (blank lines between are
allowed), which GitHub does not render:

- `<!-- readme-test: skip <reason> -->`: not run (a network, a long run); reported skipped with
  the reason, which is required;
- `<!-- readme-test: slow -->`: run, marked `slow` (deselected by `-m "not slow"`);
- `<!-- readme-test: fresh-process -->`: run in a new Python process (a block that changes
  process-wide state: the Keras backend, a global dtype policy, what is imported).

Markers combine with commas, `skip` last (its reason runs to the end of the comment, commas
and all): `<!-- readme-test: slow, fresh-process -->`. An unknown or misspelt marker fails the
block's test instead of skipping it.
"""

import ast
import contextlib
import decimal
import io
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*(?P<body>.*?)\s*-->\s*$")
FLAGS = ("slow", "fresh-process")
BOUND = re.compile(r"(?<![<>=!])(?P<op>[<>])\s*(?P<number>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)")


@dataclass
class Block:
    """One fenced Python block: its source (dedented), where it starts, and its markers."""

    source: str
    line: int  # 1-based line of the first source line in the README
    section: str
    skip: str | None = None
    flags: set = field(default_factory=set)
    error: str | None = None  # a bad marker: the test fails with this

    @property
    def id(self):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.section).strip("-").lower() or "top"
        return f"L{self.line}-{slug[:40]}"


def blocks(path):
    """Every fenced `python` block of the Markdown file at `path`, in order."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    found, section, i = [], "", 0
    while i < len(lines):
        text = lines[i]
        if text.startswith("#"):  # a heading: fences are skipped whole below
            section = text.lstrip("#").strip()
        fence = FENCE.match(text)
        if not fence:
            i += 1
            continue
        indent, lang = fence["indent"], fence["lang"]
        end = next((j for j in range(i + 1, len(lines))
                    if lines[j].strip() == "```" and lines[j].startswith(indent)), None)
        if end is None:
            raise ValueError(f"{path}:{i + 1}: a ``` fence that is never closed")
        if lang == "python":
            body = [line[len(indent):] if line.startswith(indent) else line.lstrip()
                    for line in lines[i + 1:end]]
            block = Block("\n".join(body) + "\n", i + 2, section)
            apply_marker(block, *marker_before(lines, i))
            found.append(block)
        i = end + 1
    return found


def marker_before(lines, i):
    """`(body, line)` of the marker comment before the fence at index `i`, or `(None, None)`."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    match = MARKER.match(lines[j]) if j >= 0 else None
    return (match["body"], j + 1) if match else (None, None)


def apply_marker(block, body, line):
    """Flags, comma-separated, then optionally `skip <reason>`, whose reason runs to the end."""
    if body is None:
        return
    parts = body.split(",")
    for index, part in enumerate(parts):
        word = part.strip()
        if word == "skip" or word.startswith("skip "):
            block.skip = ",".join([word[len("skip"):], *parts[index + 1:]]).strip()
            if not block.skip:
                block.error = (f"README line {line}: `readme-test: skip` needs a reason, e.g. "
                               "`<!-- readme-test: skip needs a network -->`")
            return
        if word in FLAGS:
            block.flags.add(word)
        else:
            block.error = (f"README line {line}: unknown readme-test marker {word!r}; expected "
                           f"one of {', '.join(FLAGS)}, then optionally `skip <reason>`")


# ----------------------------------------------------------------------------------------------
# Claims: what a trailing comment says an expression's value is.
# ----------------------------------------------------------------------------------------------
class ClaimError(AssertionError):
    """A README block printed or evaluated to something its comment contradicts."""


def comments_by_line(source):
    """`{line: comment text}` for every `# ...` comment in `source` (1-based lines)."""
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string[1:].strip()
    return comments


def parse_claim(comment):
    """`("equal", value)`, `("bounds", [(op, number), ...])`, `("prose", None)`; ValueError for
    prose holding a number."""
    for text in (comment, comment.rpartition("=")[2] if "=" in comment else None):
        if text is None:
            continue
        with contextlib.suppress(ValueError, SyntaxError, TypeError, MemoryError):
            return "equal", ast.literal_eval(text.strip())
    bounds = [(m["op"], float(m["number"])) for m in BOUND.finditer(comment)]
    if bounds:
        return "bounds", bounds
    if re.search(r"\d", comment):
        raise ValueError(
            f"the comment {comment!r} holds a number the test cannot check: write the value as "
            "a Python literal, `... = <value>`, or a bound `> <number>`")
    return "prose", None


def tolerance(number):
    """Half a unit in the last digit written: 8.0 -> 0.05, 0.01458 -> 5e-06."""
    exponent = decimal.Decimal(repr(float(number))).as_tuple().exponent
    return 0.5 * 10.0 ** exponent


def matches(actual, claim):
    """Whether `actual` is what the literal `claim` says, floats to the digits written."""
    if hasattr(actual, "tolist") and not isinstance(claim, str):  # numpy arrays and scalars
        actual = actual.tolist()
    if isinstance(claim, bool) or claim is None or isinstance(claim, str):
        return actual == claim and type(actual) is type(claim)
    if isinstance(claim, float):
        return (isinstance(actual, (int, float)) and not isinstance(actual, bool)
                and abs(actual - claim) <= tolerance(claim))
    if isinstance(claim, int):
        return isinstance(actual, int) and not isinstance(actual, bool) and actual == claim
    if isinstance(claim, (set, frozenset)):
        keys = set(actual.keys()) if hasattr(actual, "keys") else actual
        return isinstance(keys, (set, frozenset)) and keys == claim
    if isinstance(claim, dict):
        return (hasattr(actual, "keys") and set(actual.keys()) == set(claim)
                and all(matches(actual[k], v) for k, v in claim.items()))
    if isinstance(claim, (list, tuple)):
        return (type(actual) is type(claim) and len(actual) == len(claim)
                and all(matches(a, c) for a, c in zip(actual, claim, strict=True)))
    return actual == claim


def check(value, comment, where):
    kind, claim = parse_claim(comment)
    if kind == "equal" and not matches(value, claim):
        raise ClaimError(f"{where} gave {value!r}; the README says {comment!r}")
    if kind == "bounds":
        for op, bound in claim:
            if not (value > bound if op == ">" else value < bound):
                raise ClaimError(f"{where} gave {value!r}; the README says {comment!r}")


def checked_expression(statement):
    """The expression a statement shows (a bare expression, or the argument of `print`)."""
    if not isinstance(statement, ast.Expr):
        return None
    call = statement.value
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print"
            and not call.keywords and call.args):
        if len(call.args) == 1:
            return call.args[0]
        return ast.Tuple(elts=call.args, ctx=ast.Load())
    return call


def run(block, readme="README.md"):
    """Executes `block` in a fresh namespace, checking every claim; the first wrong one raises."""
    tree = ast.parse(block.source, filename=readme)
    ast.increment_lineno(tree, block.line - 1)
    comments = {line + block.line - 1: text
                for line, text in comments_by_line(block.source).items()}
    namespace = {"__name__": "__readme__"}
    for statement in tree.body:
        where = f"{readme} line {statement.lineno} ({block.section})"
        comment = comments.get(statement.end_lineno)
        expression = checked_expression(statement) if comment else None
        if expression is None:
            exec(compile(ast.Module([statement], []), readme, "exec"), namespace)
            continue
        try:
            parse_claim(comment)
        except ValueError as error:
            raise ClaimError(f"{where}: {error}") from None
        value = eval(compile(ast.Expression(expression), readme, "eval"), namespace)
        if isinstance(statement.value, ast.Call) and expression is not statement.value:
            print(*(value if isinstance(expression, ast.Tuple) else (value,)))
        check(value, comment, f"{where}: `{ast.unparse(expression)}`")


def main(argv):
    """`python tests/readme_blocks.py README.md LINE`: runs the block starting at LINE."""
    readme, line = argv[0], int(argv[1])
    (block,) = [b for b in blocks(readme) if b.line == line]
    run(block, readme)


if __name__ == "__main__":
    main(sys.argv[1:])
