"""Financing: pre-sale orders and the borrowing base they support (applications and offers follow)."""
