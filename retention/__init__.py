"""Housekeeping of records kept for a limited time (idempotency records). Used by the CLI."""
