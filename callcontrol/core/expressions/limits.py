"""The expression language's limits: text length, nesting, patterns, subjects, strings and integers."""

MAX_TEXT_LENGTH = 1_000
MAX_DEPTH = 32
MAX_PATTERN_LENGTH = 200
# What `matches` is applied to comes from callers (digits, caller ids): short. Capping it bounds the
# backtracking of patterns with overlapping quantifiers (.*.*.*x) to well under a second.
MAX_SUBJECT_LENGTH = 128
MAX_STRING_LENGTH = 10_000
MAX_INTEGER = 2**63 - 1
