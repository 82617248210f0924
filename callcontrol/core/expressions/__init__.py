r"""The safe expression language of IVR flows (branch, set, say and http nodes): parsed and evaluated, never eval.

Grammar, lowest precedence first (every binary level is left-associative, comparisons do not chain):

    expression  := or
    or          := and ("or" and)*
    and         := not ("and" not)*
    not         := "not" not | comparison
    comparison  := additive [cmp_op additive]
    cmp_op      := "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in"
                 | "starts_with" | "ends_with" | "contains" | "matches"
    additive    := multiplicative (("+" | "-") multiplicative)*
    multiplicative := unary (("*" | "/" | "%") unary)*
    unary       := "-" unary | primary
    primary     := NUMBER | STRING | "true" | "false" | "null" | NAME
                 | "(" expression ")" | "[" [expression ("," expression)*] "]"

    NUMBER  digits, optionally "." digits (an integer, or a decimal evaluated as a float)
    STRING  '...' or "..."; backslash escapes \\ \' \" only; any other backslash is kept as written,
            so a regular expression such as "^\d{6}$" reads as the author typed it
    NAME    dotted identifiers a.b.c, each part [A-Za-z_][A-Za-z0-9_]* and not starting with "__"

Values are null, booleans, numbers (int or float, never bool), strings and lists (tuples).
The environment is a flat mapping from dotted names to such values; a name that is not in it is an
EvaluationError (there is no "is defined": a flow that needs an optional variable sets it to null first).

Semantics, chosen to be explicit rather than convenient:
- `and`, `or`, `not` take booleans only (no truthiness) and short-circuit: `false and x` never reads x.
- `==` / `!=` never coerce: values of different kinds are simply unequal ("1" != 1, true != 1);
  null equals only null; lists are equal item by item.
- `< <= > >=` compare two numbers or two strings, anything else is an EvaluationError.
- `+` adds two numbers or concatenates two strings; `- * / %` take numbers; `/` is true division.
- `a in b`: b a list (membership with `==`) or b and a strings (substring); `not in` is its negation.
  `a contains b` is `b in a`. `starts_with` / `ends_with` take two strings.
- `s matches p` is re.search(p, s): anchor with ^ and $ for a whole match. A literal pattern is compiled
  once, at parse time; patterns are limited to 200 characters, subjects to 1,000, and a variable
  quantifier nested inside another (the exponential-backtracking shape, e.g. "(a+)+") is refused unless
  both are small (at most 4, as in "(\d{1,3}\.){3}"), or the inner one is possessive ("a++") or in an
  atomic group ("(?>...)"). Not caught: polynomial backtracking from several overlapping quantifiers in
  a row (".*.*.*x" takes tens of seconds on a 1,000-character subject that does not match).
- Integers stay within signed 64 bits, floats stay finite, a concatenation stays within 10,000
  characters: beyond that the evaluation fails instead of growing without bound.

Limits: text at most 1,000 characters; at most 32 nested levels, where each ( [ not and unary - is one.

The modules: lexer (tokens), parser (syntax tree, in syntax), patterns (the regular expressions of `matches`),
evaluator, expression (the Expression object); errors and limits are shared by all.
"""

from callcontrol.core.expressions.errors import EvaluationError, ExpressionError
from callcontrol.core.expressions.expression import Expression, parse
from callcontrol.core.expressions.lexer import KEYWORDS
from callcontrol.core.expressions.limits import (
    MAX_DEPTH,
    MAX_INTEGER,
    MAX_PATTERN_LENGTH,
    MAX_STRING_LENGTH,
    MAX_SUBJECT_LENGTH,
    MAX_TEXT_LENGTH,
)
from callcontrol.core.expressions.patterns import compile_pattern
from callcontrol.core.expressions.syntax import (
    Arithmetic,
    Comparison,
    ListOf,
    Literal,
    Logical,
    Match,
    Name,
    Negate,
    Node,
    Not,
    walk,
)

__all__ = [
    "KEYWORDS", "MAX_DEPTH", "MAX_INTEGER", "MAX_PATTERN_LENGTH", "MAX_STRING_LENGTH", "MAX_SUBJECT_LENGTH",
    "MAX_TEXT_LENGTH",
    "EvaluationError", "Expression", "ExpressionError", "compile_pattern", "parse", "walk",
    "Arithmetic", "Comparison", "ListOf", "Literal", "Logical", "Match", "Name", "Negate", "Node", "Not",
]
