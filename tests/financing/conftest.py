from tests.term_loans import six_percent, term_loan, term_merchant  # noqa: F401 - shared fixtures
