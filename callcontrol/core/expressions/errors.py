"""The two errors of the expression language: bad text (ExpressionError) and a failed evaluation."""

from __future__ import annotations

class ExpressionError(ValueError):
    """Bad expression text; .column (1-based) points at the problem; str() is a clear message."""

    def __init__(self, message: str, column: int, hint: str | None = None) -> None:
        self.message = message
        self.column = column
        self.hint = hint
        text = f"{message} at column {column}"
        super().__init__(f"{text} ({hint})" if hint else text)

    def __reduce__(self) -> tuple[type, tuple[str, int, str | None]]:
        return type(self), (self.message, self.column, self.hint)


class EvaluationError(ValueError):
    """A well-formed expression that fails on these values: unknown variable, type mismatch, bad regex."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        super().__init__(message if column is None else f"{message} at column {column}")

    def __reduce__(self) -> tuple[type, tuple[str, int | None]]:
        return type(self), (self.message, self.column)
