"""Reliability and attack tests: crash, restart, key compromise, secret hygiene, limits."""
