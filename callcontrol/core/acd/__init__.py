"""Automatic call distribution, pure: agent states, queues with skills and escalation, and the router."""
