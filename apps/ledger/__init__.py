"""Ledger: the small-loan company's general ledger, lender capital and regulatory limits.

* ``posting.journal_post`` is the only way into the books (balanced, append-only,
  one entry per reference — all three also enforced by the database).
* ``selectors.net_capital_from_balances`` is the one definition of net capital.
* ``services`` records lender funding (equity, donations, bank borrowings) and the
  loan-side postings, each checking the regulatory rule set while holding the
  lender's position lock (see ``locks``).
"""
