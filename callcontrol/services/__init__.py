"""Async orchestration of the core over small ports; no adapter is imported here."""
