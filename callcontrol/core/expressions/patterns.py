"""The regular expressions of `matches`: compiled under length and nested-quantifier rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from callcontrol.core.expressions.limits import MAX_PATTERN_LENGTH


class PatternProblem(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a `matches` pattern under the length and nested-quantifier rules (cached)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternProblem(f"regular expression too long ({len(pattern)} characters)",
                             f"at most {MAX_PATTERN_LENGTH}")
    try:
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        reason, position = (error.msg, error.pos) if isinstance(error, re.error) else (str(error), None)
        raise PatternProblem(f"invalid regular expression: {reason}",
                             None if position is None else f"at position {position} of the pattern") from None
    if _has_nested_quantifier(pattern):
        raise PatternProblem("regular expression repeats a repetition (like '(a+)+')",
                             "that can take exponential time: make the inner quantifier possessive ('a++') "
                             "or use an atomic group '(?>...)'")
    return compiled


_SMALL_REPEAT = 4  # (x{1,3}){3} tries at most 3**3 splits per position: harmless; (x+)+ or (x{1,9}){1,9} is not
_MANY = 1 << 32  # the count of an unbounded repeat (* + {n,})
_COUNTED = re.compile(r"\{([0-9]*)(?:(,)([0-9]*))?\}")
_FLAGS = frozenset("aiLmsux-")


@dataclass
class _Group:
    atomic: bool  # (?>...): never backtracked into, so nothing inside counts outside
    inner: int = 0  # the largest count of a variable repeat inside it, at any depth (0: none)


def _has_nested_quantifier(pattern: str) -> bool:
    """True when a variable-length repeat sits inside a repeat that can run more than once, unless both are small.

    Read from the text of a pattern re.compile accepted: escapes, classes and group openers are skipped; a
    possessive repeat ('a++') or an atomic group ('(?>...)') is never backtracked into, so what it holds does
    not count against the repeats around it."""
    groups = [_Group(atomic=False)]  # the whole pattern first
    atom_inner = 0  # the inner count of the item just read, not yet added to its group (it may be repeated)
    position = 0
    while position < len(pattern):
        repeat = _repeat_at(pattern, position)
        if repeat is not None:
            low, high, position, possessive = repeat
            if possessive:
                atom_inner = 0
                continue
            if high > 1 and atom_inner > 1 and max(high, atom_inner) > _SMALL_REPEAT:
                return True
            atom_inner = max(atom_inner, high if high > 1 and low != high else 0)
            continue
        groups[-1].inner = max(groups[-1].inner, atom_inner)
        atom_inner = 0
        char = pattern[position]
        if char == "\\":
            position += 2
        elif char == "[":
            position = _after_class(pattern, position)
        elif char == "(":
            position, atomic, opens = _group_opener(pattern, position)
            if opens:
                groups.append(_Group(atomic))
        elif char == ")" and len(groups) > 1:
            closed = groups.pop()
            atom_inner = 0 if closed.atomic else closed.inner
            position += 1
        else:
            position += 1
    return False


def _repeat_at(pattern: str, position: int) -> tuple[int, int, int, bool] | None:
    """The repeat at position: (least count, largest count, the position after it, possessive), or None."""
    char = pattern[position]
    if char in "*+?":
        low, high = {"*": (0, _MANY), "+": (1, _MANY), "?": (0, 1)}[char]
        end = position + 1
    elif char == "{" and (counted := _COUNTED.match(pattern, position)) and counted[0] != "{}":
        low = int(counted[1] or 0)
        high = (int(counted[3]) if counted[3] else _MANY) if counted[2] else low
        end = counted.end()
    else:
        return None
    possessive = end < len(pattern) and pattern[end] == "+"
    lazy = end < len(pattern) and pattern[end] == "?"
    return low, high, end + 1 if possessive or lazy else end, possessive


def _after_class(pattern: str, position: int) -> int:
    """The position after the character class [...] that starts at position."""
    position += 1
    if pattern.startswith("^", position):
        position += 1
    if pattern.startswith("]", position):  # a ] first is a literal
        position += 1
    while position < len(pattern) and pattern[position] != "]":
        position += 2 if pattern[position] == "\\" else 1
    return position + 1


def _group_opener(pattern: str, position: int) -> tuple[int, bool, bool]:
    """Read the '(' at position: (the position after its opener, atomic, whether it opens a group to close)."""
    if not pattern.startswith("(?", position):
        return position + 1, False, True
    rest = position + 2
    char = pattern[rest] if rest < len(pattern) else ""
    if char in (":", "=", "!", ">"):
        return rest + 1, char == ">", True
    if pattern.startswith(("<=", "<!"), rest):
        return rest + 2, False, True
    if pattern.startswith("P<", rest):
        return pattern.index(">", rest) + 1, False, True
    if char == "(":  # (?(group)yes|no): the condition, then the branches
        return pattern.index(")", rest) + 1, False, True
    if pattern.startswith("P=", rest) or char == "#":  # a named backreference or a comment: nothing to close
        return pattern.index(")", rest) + 1, False, False
    end = rest
    while end < len(pattern) and pattern[end] in _FLAGS:
        end += 1
    if pattern.startswith(":", end):  # (?i:...)
        return end + 1, False, True
    return end + 1, False, False  # (?i): flags for the whole pattern
