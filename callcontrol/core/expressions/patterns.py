"""The regular expressions of `matches`: compiled under length and nested-quantifier rules."""

from __future__ import annotations

import re
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


try:  # the structure check reads the stdlib's own regex parser; without it only the length limits apply
    from re import _constants as _sre
    from re import _parser as _sre_parser
except ImportError:  # pragma: no cover - Python < 3.11 layouts
    _sre = _sre_parser = None  # type: ignore[assignment]


_SMALL_REPEAT = 4  # (x{1,3}){3} tries at most 3**3 splits per position: harmless; (x+)+ or (x{1,9}){1,9} is not


def _has_nested_quantifier(pattern: str) -> bool:
    """True when a variable-length repeat sits inside a repeat that can run more than once, unless both are small."""
    if _sre_parser is None:  # pragma: no cover
        return False
    # Each pending entry: a sequence of regex items and the largest count of the repeat around it (0: none).
    pending: list[tuple[object, int]] = [(_sre_parser.parse(pattern), 0)]
    while pending:
        items, outer = pending.pop()
        for op, av in items:  # type: ignore[attr-defined]
            if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
                low, high, body = av
                if outer > 1 and high > 1 and low != high and max(outer, high) > _SMALL_REPEAT:
                    return True
                pending.append((body, max(outer, high)))
            elif op in (_sre.POSSESSIVE_REPEAT, _sre.ATOMIC_GROUP):  # never backtracked into
                pending.append((av[2] if op == _sre.POSSESSIVE_REPEAT else av, 0))
            elif op == _sre.SUBPATTERN:
                pending.append((av[-1], outer))
            elif op == _sre.BRANCH:
                pending.extend((branch, outer) for branch in av[1])
            elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
                pending.append((av[1], outer))
            elif op == _sre.GROUPREF_EXISTS:
                pending.extend((branch, outer) for branch in av[1:] if branch is not None)
    return False
