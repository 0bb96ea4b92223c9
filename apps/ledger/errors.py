"""Ledger domain errors: stable codes, messages that name the numbers involved."""

from apps.core.errors import Conflict, DomainError, ValidationFailed


class LedgerError(DomainError):
    code = "LEDGER_ERROR"
    status = 409
    title = "The books refused this posting"


class UnbalancedEntry(ValidationFailed):
    code = "UNBALANCED_ENTRY"


class DuplicateReference(Conflict):
    """The reference was already posted with different content (a replay of the same event is not an error)."""

    code = "DUPLICATE_REFERENCE"

    def __init__(self, message: str, *, existing=None):
        super().__init__(message)
        self.existing = existing


class CapExceeded(LedgerError):
    code = "CAP_EXCEEDED"
    title = "Borrowing cap exceeded"


class LenderInBreach(LedgerError):
    code = "LENDER_IN_BREACH"
    title = "Lender in breach of the borrowing cap"


class FacilityLimitExceeded(LedgerError):
    code = "FACILITY_LIMIT_EXCEEDED"
    title = "Facility limit exceeded"


class TooManyLendingBanks(LedgerError):
    code = "TOO_MANY_LENDING_BANKS"
    title = "Too many lending banks"


class InsufficientCash(LedgerError):
    code = "INSUFFICIENT_CASH"
    title = "Not enough cash"


class SingleBorrowerLimitExceeded(LedgerError):
    code = "SINGLE_BORROWER_LIMIT_EXCEEDED"
    title = "Single-borrower limit exceeded"


class ExceedsOutstanding(LedgerError):
    code = "EXCEEDS_OUTSTANDING"
    title = "More than is outstanding"
