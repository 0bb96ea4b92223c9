"""Ledger: the small-loan general ledger and lender capital.

The bounded context is reserved here; its models arrive with its issue.
"""
