"""Data files of the staff accounts (the common-password list); see README.md."""
