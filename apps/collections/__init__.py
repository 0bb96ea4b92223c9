"""Collections: dunning, cases, guarantees.

The bounded context is reserved here; its models arrive with its issue.
"""
