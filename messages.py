"""How eqzoo speaks to a user: one-line errors that echo what was received, and close names.

Standard library only: the command line refuses a bad flag with these before TensorFlow loads.

    raise UsageError(f"Invalid value for `epochs`: expected ... Received: epochs={short(value)}")
    close_matches("digit", ["digits", "wine"])  # ["digits"]
"""

import difflib
import re
import sys

# train.py's exit codes: a run that failed, a usage error (argparse's), a Ctrl-C (128 + SIGINT).
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class UsageError(Exception):
    """A bad flag, value, name or combination: one line and exit code 2, before any training."""


def short(value, limit=60):
    """`repr(value)`, cut to `limit` characters: a huge value is echoed as a prefix."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def first_line(error, limit=None):
    """The first line of an exception's message (its type's name when it has none)."""
    return (str(error).strip() or type(error).__name__).splitlines()[0][:limit]


def one_line(error, longest=200):
    """The message on one line; a word longer than `longest` (a huge value echoed by a library,
    such as an unknown model name) is cut to a prefix."""
    words = str(error).split()
    return " ".join(word if len(word) <= longest else f"{word[:60]}... ({len(word)} characters)"
                    for word in words)


def close_matches(given, known, n=3, cutoff=0.6):
    """The known names nearest to a misspelt one, best first; one that differs only in case
    comes first whatever its score."""
    known = list(known)
    lower = {name.lower(): name for name in known}
    matches = difflib.get_close_matches(given, known, n=n, cutoff=cutoff)
    if given.lower() in lower:
        matches = [lower[given.lower()], *matches]
    return list(dict.fromkeys(matches))[:n]


def close_to_pattern(pattern, known, n=5):
    """The known names nearest to a shell-style `pattern` that matched none: close to the
    pattern without its wildcards, or starting close to what comes before its first wildcard
    (`symetric_*` -> `symmetric_mlp_digits`, ...), sorted."""
    known = sorted(known)
    stem = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    literal = re.sub(r"[*?\[\]]", "", pattern)
    near = close_matches(literal, known, n=n) if literal else []
    if len(stem) >= 2:
        near += [name for name in known if difflib.SequenceMatcher(
            None, stem.lower(), name[:len(stem)].lower()).ratio() >= 0.75]
    return list(dict.fromkeys(near))[:n]


def no_match(what, pattern, known, flag):
    """`No model matches 'x*'. Close names: ... ; --list-models alone lists all 33.`"""
    near = close_to_pattern(pattern, known)
    close = (f"Close names: {', '.join(near)}." if near else "No name is close to it.")
    return (f"No {what} matches {short(pattern)}. {close} {flag} with no pattern lists all "
            f"{len(known)}.")


def unknown_keys(given, known):
    """`"'widht' (did you mean 'width'?), 'x'"` for the keys of `given` not in `known`, sorted;
    "" when there are none."""
    unknown = sorted(set(given) - set(known))
    close = {key: close_matches(key, known, n=1) for key in unknown}
    return ", ".join(f"{key!r} (did you mean {match[0]!r}?)" if match else repr(key)
                     for key, match in close.items())


def warn(message):
    print(f"train.py: warning: {message}", file=sys.stderr)
