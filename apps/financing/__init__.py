"""Financing: pre-sale orders, borrowing base, applications, offers.

The bounded context is reserved here; its models arrive with its issue.
"""
