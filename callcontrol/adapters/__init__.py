"""Thin adapters to the outside world: Asterisk (AMI, AGI), the database, HTTP, YAML files."""
