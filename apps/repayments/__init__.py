"""Repayments: schedules, sweeps, allocation.

The bounded context is reserved here; its models arrive with its issue.
"""
