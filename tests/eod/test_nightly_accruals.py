"""What end of day accrued on a loan, night by night: recorded with the accrual, shown on the loan's timeline."""

import datetime
from decimal import Decimal

import pytest

from apps.core.calendar import business_date_today
from apps.eod.pipeline import catch_up_inline
from apps.financing.disbursement import loan_disburse
from apps.ledger.models import JournalEntry
from apps.repayments.accrual import accrual_reference_prefix
from apps.repayments.models import NightlyAccrual
from apps.repayments.selectors import NightlyAccruals, loan_timeline, reconciliation_get
from apps.repayments.services import repayment_post

D = Decimal
TODAY = business_date_today()
DAY = datetime.timedelta(days=1)
ZERO = D("0.00")


def _own_accruals(loan) -> tuple[Decimal, Decimal]:
    """(interest and fees, penalty) that the loan's own accrual entries (a payment's day) posted."""
    entries = JournalEntry.objects.filter(reference__startswith=accrual_reference_prefix(loan_id=loan.pk))
    lines = [line for e in entries for line in e.lines.select_related("account")]
    return (sum((line.debit for line in lines if line.account.code in ("1110", "1120")), ZERO),
            sum((line.debit for line in lines if line.account.code == "1130"), ZERO))


def test_every_night_s_accrual_is_kept_per_loan_and_adds_up_to_what_the_loan_accrued(accepted, lender):
    loan = loan_disburse(application=accepted("1800.00"), actor="t")
    catch_up_inline(through=TODAY)
    paid_on = TODAY + 3 * DAY
    catch_up_inline(through=paid_on - DAY)
    repayment_post(loan=loan, amount=D("5.00"), source="portal", reference="p1", actor="m", received_on=paid_on)
    catch_up_inline(through=loan.maturity_date + 5 * DAY)  # never repaid: penalty after maturity

    nights = list(NightlyAccrual.objects.filter(loan=loan))
    installment = loan.installments.get()
    own_interest, own_penalty = _own_accruals(loan)
    accrued = installment.interest_accrued + installment.fee_accrued
    assert sum((n.interest + n.fee for n in nights), ZERO) + own_interest == accrued
    assert sum((n.penalty for n in nights), ZERO) + own_penalty == installment.penalty_accrued > 0
    assert paid_on not in {n.business_date for n in nights}  # the payment accrued its own day, end of day nothing
    chunk_entries = {f"eod:{n.business_date}:{step}:{n.chunk_start}" for n in nights
                     for step, amount in (("interest", n.interest + n.fee), ("penalty", n.penalty)) if amount}
    assert JournalEntry.objects.filter(reference__in=chunk_entries).count() == len(chunk_entries)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))


@pytest.mark.django_db(transaction=True)  # each step commits, so events are dated in the order they happened
def test_the_timeline_shows_the_nights_between_the_loans_other_events(accepted):
    loan = loan_disburse(application=accepted("1800.00"), actor="t")
    paid_on = TODAY + 3 * DAY
    catch_up_inline(through=TODAY)  # the first run; the next catches up night by night
    catch_up_inline(through=paid_on - DAY)
    repayment_post(loan=loan, amount=D("5.00"), source="portal", reference="p1", actor="m", received_on=paid_on)
    catch_up_inline(through=paid_on + 4 * DAY)

    timeline = loan_timeline(loan=loan)
    kinds = [type(e).__name__ if isinstance(e, NightlyAccruals) else e.action for e in timeline]
    repayment_at = next(i for i, e in enumerate(timeline) if "(entry repayment:" in e.reason)
    assert kinds[repayment_at - 2:repayment_at] != ["NightlyAccruals"] * 2  # no two groups side by side
    before, after = (next(e for e in part if isinstance(e, NightlyAccruals))
                     for part in (reversed(timeline[:repayment_at]), timeline[repayment_at:]))
    assert (before.first, before.last, before.nights) == (TODAY + DAY, paid_on - DAY, 2)  # nothing accrued on day 0
    assert (after.first, after.last, after.nights) == (paid_on + DAY, paid_on + 4 * DAY, 4)
    nights = NightlyAccrual.objects.filter(loan=loan, business_date__gt=paid_on)
    assert after.interest == sum((n.interest for n in nights), ZERO) > 0
    assert after.reason.startswith(f"End of day accrued interest {after.interest:,.2f}, fees {after.fee:,.2f} over 4 "
                                   f"nights, {paid_on + DAY} to {paid_on + 4 * DAY} (last entry eod:{paid_on + 4 * DAY}:"
                                   f"interest:{loan.pk}")  # the loan's chunk starts at it: the only loan
    assert after.actor_label == "system:eod"


def test_running_a_night_again_adds_no_second_row(accepted):
    loan = loan_disburse(application=accepted("1800.00"), actor="t")
    catch_up_inline(through=TODAY)
    catch_up_inline(through=TODAY + 2 * DAY)
    before = list(NightlyAccrual.objects.filter(loan=loan).values_list("business_date", "interest", "penalty"))
    from apps.repayments.accrual import interest_accrue_range, penalties_accrue_range

    interest_accrue_range(lo=loan.pk, hi=loan.pk + 1, through=TODAY + 2 * DAY)
    penalties_accrue_range(lo=loan.pk, hi=loan.pk + 1, through=TODAY + 2 * DAY)
    assert list(NightlyAccrual.objects.filter(loan=loan).values_list("business_date", "interest", "penalty")) == before
    assert len(before) == 2
