"""The expression tokenizer: numbers, strings, dotted names, keywords and operators, each with its column."""

from __future__ import annotations

import math
from dataclasses import dataclass

from callcontrol.core.expressions.errors import ExpressionError
from callcontrol.core.expressions.limits import MAX_INTEGER

KEYWORDS = frozenset({
    "and", "or", "not", "in", "starts_with", "ends_with", "contains", "matches", "true", "false", "null",
})


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "string", "name", "keyword", "op", "end"
    value: object
    column: int
    source: str

    def describe(self) -> str:
        if self.kind == "end":
            return "end of expression"
        source = self.source if len(self.source) <= 24 else self.source[:21] + "..."
        return f"'{source}'" if self.kind != "string" else f"string {source}"


_SPACE = frozenset(" \t\r\n")
_DIGITS = frozenset("0123456789")
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_PART = _IDENT_START | _DIGITS
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",")
_FOREIGN_OPERATORS = {  # longest first
    "===": "did you mean '=='?", "!==": "did you mean '!='?",
    "&&": "did you mean 'and'?", "||": "did you mean 'or'?", "<>": "did you mean '!='?",
    "=<": "did you mean '<='?", "=>": "did you mean '>='?", "**": "there is no power operator",
    "//": "use '/' for division", "=": "did you mean '=='?", "!": "did you mean 'not' or '!='?",
    "&": "did you mean 'and'?", "|": "did you mean 'or'?",
}
_KEYWORD_LOOKALIKES = {"none": "null", "nil": "null"} | {word: word for word in ("and", "or", "not", "in", "true",
                                                                                 "false", "null")}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"'}


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def next(self) -> Token:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        self.pos = pos
        if pos >= len(text):
            return Token("end", None, len(text) + 1, "")
        char = text[pos]
        if char in _DIGITS:
            return self._number()
        if char in _IDENT_START:
            return self._name()
        if char in "'\"":
            return self._string()
        for foreign, hint in _FOREIGN_OPERATORS.items():
            if text.startswith(foreign, pos) and not any(text.startswith(op, pos) and len(op) >= len(foreign)
                                                         for op in _OPERATORS):
                raise ExpressionError(f"unknown operator '{foreign}'", pos + 1, hint)
        for op in _OPERATORS:
            if text.startswith(op, pos):
                self.pos = pos + len(op)
                return Token("op", op, pos + 1, op)
        if char == ".":
            hint: str | None = "a '.' only joins the parts of a name or a decimal number"
        elif not char.isascii():
            hint = "names use ASCII letters, digits and _"
        else:
            hint = None
        raise ExpressionError(f"unexpected character {char!r}", pos + 1, hint)

    def _number(self) -> Token:
        text, start = self.text, self.pos
        pos = start
        while pos < len(text) and text[pos] in _DIGITS:
            pos += 1
        decimal = False
        if pos < len(text) and text[pos] == ".":
            if pos + 1 >= len(text) or text[pos + 1] not in _DIGITS:
                raise ExpressionError("expected digits after the decimal point", pos + 2)
            decimal = True
            pos += 1
            while pos < len(text) and text[pos] in _DIGITS:
                pos += 1
        if pos < len(text) and (text[pos] in _IDENT_PART or text[pos] == "."):
            end = pos
            while end < len(text) and (text[end] in _IDENT_PART or text[end] == "."):
                end += 1
            raise ExpressionError(f"invalid number '{text[start:end][:24]}'", start + 1,
                                  "names cannot start with a digit")
        source = text[start:pos]
        self.pos = pos
        if decimal:
            number = float(source)
            if not math.isfinite(number):
                raise ExpressionError("number too large", start + 1)
            return Token("number", number, start + 1, source)
        value = int(source)
        if value > MAX_INTEGER:
            raise ExpressionError("number too large", start + 1, f"at most {MAX_INTEGER}")
        return Token("number", value, start + 1, source)

    def _identifier(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in _IDENT_PART:
            pos += 1
        return pos

    def _name(self) -> Token:
        text, start = self.text, self.pos
        pos = self._identifier(start)
        word = text[start:pos]
        if word in KEYWORDS:
            self.pos = pos
            return Token("keyword", word, start + 1, word)
        if word.lower() in _KEYWORD_LOOKALIKES:
            raise ExpressionError(f"unknown name '{word}'", start + 1,
                                  f"keywords are lowercase: did you mean '{_KEYWORD_LOOKALIKES[word.lower()]}'?")
        self._check_part(word, start)
        while pos < len(text) and text[pos] == ".":
            part_start = pos + 1
            if part_start >= len(text) or text[part_start] not in _IDENT_START:
                raise ExpressionError("expected a name after '.'", part_start + 1)
            pos = self._identifier(part_start)
            self._check_part(text[part_start:pos], part_start)
        self.pos = pos
        return Token("name", text[start:pos], start + 1, text[start:pos])

    @staticmethod
    def _check_part(part: str, start: int) -> None:
        if part.startswith("__"):
            raise ExpressionError(f"invalid name '{part[:24]}'", start + 1, "names may not start with '__'")

    def _string(self) -> Token:
        text, start = self.text, self.pos
        quote = text[start]
        pos = start + 1
        chunks: list[str] = []
        while True:
            end = pos
            while end < len(text) and text[end] not in (quote, "\\"):
                end += 1
            chunks.append(text[pos:end])
            if end >= len(text):
                raise ExpressionError("unterminated string starting", start + 1, f"close it with {quote}")
            if text[end] == quote:
                self.pos = end + 1
                return Token("string", "".join(chunks), start + 1, text[start:end + 1])
            following = text[end + 1] if end + 1 < len(text) else ""
            if following in _ESCAPES:
                chunks.append(_ESCAPES[following])
                pos = end + 2
            else:  # not an escape: the backslash stays, as in "^\d+$"
                chunks.append("\\")
                pos = end + 1
