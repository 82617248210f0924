"""Development tooling, not part of the service: the sandbox Asterisk and the SIPp driver for tests, benchmarks, demo."""
