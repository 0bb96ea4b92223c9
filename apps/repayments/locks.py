"""Row locks for repayments, in the one global order (apps.ledger.locks):

    lender position → merchant → loan → installment → (the ledger's exposure and balance rows)

A repayment holds its lender's position lock from its first statement to its commit, so every
round trip it makes is serialised with every other money service of that lender. These
helpers take several locks, and the reads that go with them, in ONE round trip: the
statements are sent together (the client-side-binding cursor Django uses with psycopg runs
them in order, each with its own snapshot taken after the previous one's lock was granted,
so what is read after a lock is current).
"""

import datetime
from dataclasses import dataclass

from django.db import connection

from apps.ledger.locks import lender_position_lock
from apps.merchants.models import Merchant

from .models import Loan, LoanInstallment, MarginCallState, Repayment


@dataclass(frozen=True)
class LoanLocked:
    loan: Loan  # read under its lock; .merchant read under its lock, .merchant.lender the caller's
    existing: Repayment | None  # the repayment already posted for (source, reference), if any
    later: bool = False  # whether a live payment received after `later_than` is on the loan (when asked)


def loan_lock(*, loan: Loan, source: str, reference: str, position: bool = True,
              later_than: datetime.date | None = None) -> LoanLocked:
    """Lock the lender position (unless `position` is false), the loan's merchant and the loan, read them, look the
    reference up and (given `later_than`) whether payments received after that date are live: one round trip."""
    lender = loan.merchant.lender
    position_sql = "SELECT id FROM ledger_lenderposition WHERE lender_id = %s" + (" FOR UPDATE" if position else "")
    statements = [
        (position_sql, [lender.pk]),
        (f"SELECT {_columns(Merchant)} FROM merchants_merchant WHERE id = %s FOR UPDATE", [loan.merchant_id]),
        (f"SELECT {_columns(Loan)} FROM repayments_loan WHERE id = %s FOR UPDATE", [loan.pk]),
        (f"SELECT {_columns(Repayment)} FROM repayments_repayment WHERE loan_id = %s AND source = %s AND reference = %s",
         [loan.pk, source, reference]),
    ]
    if later_than is not None:
        statements.append(("SELECT 1 FROM repayments_repayment WHERE loan_id = %s AND reversed_at IS NULL"
                           " AND received_on > %s LIMIT 1", [loan.pk, later_than]))
    held, merchants, loans, existing, *later = _run(statements)
    if not held:  # the lender's books were never set up: lender_position_lock does it, then lock again
        lender_position_lock(lender)
        held, merchants, loans, existing, *later = _run(statements)
    if not loans:
        raise Loan.DoesNotExist(f"Loan #{loan.pk} does not exist.")
    merchant = _instance(Merchant, merchants[0])
    merchant.lender = lender
    locked = _instance(Loan, loans[0])
    locked.merchant = merchant
    return LoanLocked(loan=locked, existing=_instance(Repayment, existing[0]) if existing else None,
                      later=bool(later and later[0]))


def installments_locked(*, loan: Loan) -> list[LoanInstallment]:
    """The loan's installments, locked (or read again under the lock already held), by number."""
    return list(LoanInstallment.objects.select_for_update().filter(loan=loan).order_by("number"))


def loan_installments_lock(*, loan: Loan) -> tuple[list[LoanInstallment], bool]:
    """Lock and read the loan's installments (by number) and say whether a margin call is open on it: one round trip."""
    installments, calls = _run([
        (f"SELECT {_columns(LoanInstallment)} FROM repayments_loaninstallment WHERE loan_id = %s ORDER BY number FOR UPDATE",
         [loan.pk]),
        ("SELECT 1 FROM repayments_margincall WHERE loan_id = %s AND state = %s LIMIT 1", [loan.pk, MarginCallState.OPEN]),
    ])
    rows = [_instance(LoanInstallment, row) for row in installments]
    for row in rows:
        row.loan = loan
    return rows, bool(calls)


def _columns(model) -> str:
    return ", ".join(f'"{field.column}"' for field in model._meta.concrete_fields)


def _instance(model, row):
    return model.from_db(connection.alias, [field.attname for field in model._meta.concrete_fields], row)


def _run(statements: list[tuple[str, list]]) -> list[list[tuple]]:
    """Send the statements in one round trip; each one's rows, in order."""
    results = []
    with connection.cursor() as cursor:
        cursor.execute("; ".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
        while True:
            results.append(cursor.fetchall() if cursor.description else [])
            if not cursor.nextset():
                break
    return results

