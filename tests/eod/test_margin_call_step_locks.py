"""End of day's margin-call step must not lock the lender's (and merchant's) rows: every posting of the lender then
waits for the EOD chunk to commit, and the chunk's own GL posting at its end deadlocks with them."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction

from apps.eod.chunks import Chunk
from apps.eod.posting import EntryKind, eod_entries_post, eod_entry_post
from apps.financing.disbursement import loan_disburse
from apps.financing.services import order_event_apply
from apps.repayments.accrual import accrual_lines, loan_accrue
from apps.repayments.collateral import margin_calls_enforce
from apps.repayments.models import MarginCall
from tests.conftest import TODAY
from tests.locking import Attempt

D = Decimal
DAY = datetime.timedelta(days=1)


@pytest.mark.django_db(transaction=True)
def test_the_margin_call_step_does_not_block_or_deadlock_the_lenders_other_postings(accepted, lender):
    called = loan_disburse(application=accepted("1700.00", take=slice(0, 2)), actor="t")
    other = loan_disburse(application=accepted("1000.00", take=slice(2, 4)), actor="t")
    order_event_apply(order=called.application.orders.order_by("pk").first(), event="refunded", actor="api:marketplace")
    deadline = MarginCall.objects.get(loan=called).deadline

    outcome = {}
    try:
        with transaction.atomic():  # one EOD chunk: the margin step, then the chunk's GL entries at its end
            chunk = Chunk(run_id=0, business_date=deadline + DAY, lo=called.pk, hi=called.pk + 1, entries=[])
            margin_calls_enforce(as_of=deadline + DAY, loan_ids=(called.pk, called.pk + 1), actor="system:eod")
            # Meanwhile a payment's day is accrued on another loan of the lender (its own entry).
            attempt = Attempt(lambda: loan_accrue(loan=other, through=TODAY + 3 * DAY, actor="m"))
            outcome["other_done_while_chunk_open"] = attempt.finished_within(3)
            eod_entry_post(chunk=chunk, lender_id=lender.pk, step="interest",
                           lines=accrual_lines(interest=D("1.00"), fee=D("0.10")), kind=EntryKind.ACCRUAL,
                           description="Interest and fee accrual")
            eod_entries_post(chunk)
    except Exception as exc:  # noqa: BLE001
        outcome["chunk_error"] = f"{type(exc).__name__}: {exc}"[:200]
    attempt.done.wait(30)
    outcome["other_error"] = f"{type(attempt.error).__name__}: {attempt.error}"[:200] if attempt.error else None
    assert outcome == {"other_done_while_chunk_open": True, "other_error": None}
