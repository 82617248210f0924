"""Development tooling, not part of the service: the sandbox Asterisk and the SIPp driver (tests, benchmarks, demo)."""
