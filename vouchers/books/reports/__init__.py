"""Finance reports: liability, breakage, channels, collection, trial balance, distributors.

Each report is a plain data structure computed by set-based queries; the CLI
renders it as JSON, CSV or PDF (:mod:`print_templates.finance_reports`).
"""
