"""The common repayment in one statement (repayments_post_fast, migration 0010).

A repayment received today on a loan the lender funded alone, that neither reshapes the schedule, repays the
loan nor leaves a credit balance, is made by one database call that locks, accrues, allocates and posts
exactly as services.repayment_post's general path does (tests hold the two to the same rows). Any other
repayment makes the call raise; what it wrote and locked is rolled back and None comes back, for the general
path to run from the start.
"""

import contextlib
import datetime
from decimal import Decimal

from django.db import DatabaseError, connection, models, transaction

from apps.core.audit import actor_label_of
from apps.core.db import prepared_fetchall
from apps.ledger.models import Acct
from apps.ledger.posting import codes_literal

from .accrual import accrual_description, accrual_reference
from .models import Loan, LoanState, Repayment

# The accounts in the order the function takes them (p_codes), written into the prepared statement.
_CODES = (Acct.CASH, Acct.LOANS_PRINCIPAL, Acct.LOANS_INTEREST, Acct.LOANS_FEES, Acct.LOANS_PENALTIES,
          Acct.INTEREST_INCOME, Acct.FEE_INCOME, Acct.PENALTY_INCOME)
_SQL = ("SELECT * FROM repayments_post_fast(%s, %s, %s, %s, %s::numeric, %s, %s, %s, %s, %s, %s, %s::bigint, %s, %s, %s, %s, "
        f"{codes_literal(_CODES)}, %s)")
_FULL_PATH = "repayment needs the full path: "
_COLUMNS = tuple(field.attname for field in Repayment._meta.concrete_fields)  # in the order from_db takes them
_WAITS = "repayment waits for a balance slice"  # no free slice could take it: made again, waiting (repayments 0017)


def entry_reference(*, loan_id: int, source: str, reference: str) -> str:
    return f"repayment:{loan_id}:{source}:{reference}"


def entry_description(*, loan_id: int, source: str) -> str:
    return f"Repayment of loan #{loan_id} ({source})"


def repayment_post_one_statement(*, loan: Loan, amount: Decimal, source: str, reference: str, actor,
                                  received_on: datetime.date, today: datetime.date, prepayment: str) -> Repayment | None:
    """Post the repayment in one statement if it is the common kind; None when the general path must post it.

    Outside a transaction the statement is its own; inside one it runs in a savepoint, so that giving way to
    the general path releases its locks (the general path may take the lender position exclusively).
    """
    lender = loan.merchant.lender
    created_by = actor_label_of(actor)
    params = [lender.pk, lender.base_currency, loan.merchant_id, loan.pk, amount, source, reference, received_on, today,
              prepayment, created_by, actor.pk if isinstance(actor, models.Model) else None,
              accrual_reference(loan_id=loan.pk, through=received_on),
              accrual_description(loan_id=loan.pk, through=received_on),
              entry_reference(loan_id=loan.pk, source=source, reference=reference),
              entry_description(loan_id=loan.pk, source=source)[:255]]
    # The balances in one free slice each, then (when some has none) waiting for slices; inside a caller's transaction,
    # which may post again, every slice (repayments migration 0017).
    alone = not connection.in_atomic_block
    for slices in ("free", "wait") if alone else ("all",):
        try:
            with contextlib.nullcontext() if alone else transaction.atomic():
                status, repayment_id, _, entry_id, created_at = prepared_fetchall(_SQL, [*params, slices])[0]
            break
        except DatabaseError as exc:
            message = getattr(getattr(exc.__cause__, "diag", None), "message_primary", None) or ""
            if message.startswith(_FULL_PATH):
                return None
            if not (message == _WAITS and slices == "free"):
                raise
    if status == "replay":  # repayment_post checks the resend is the same request
        repayment = Repayment.objects.get(pk=repayment_id)
        repayment.replayed = True
        return repayment
    if status == "cured":  # the payment left nothing past due on the overdue loan (migration 0020); the caller's
        loan.__dict__["state"] = LoanState.ACTIVE  # object kept in step as transition_apply does (a protected field)
    # The row as the ORM would read it back, without reading it (a field this does not name fails loudly).
    row = {"id": repayment_id, "loan_id": loan.pk, "source": source, "reference": reference, "amount": amount,
           "received_on": received_on, "prepayment": prepayment, "journal_entry_id": entry_id, "reversed_at": None,
           "reversal_reason": "", "created_by": created_by, "created_at": created_at}
    repayment = Repayment.from_db(connection.alias, _COLUMNS, tuple(row[name] for name in _COLUMNS))
    repayment.loan = loan
    return repayment
