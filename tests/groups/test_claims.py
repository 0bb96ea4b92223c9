"""Guarantors listed at disbursement, claims opened by the ladder's guarantor step, guarantors paying them."""

import datetime
from decimal import Decimal

import pytest

from apps.collections.models import DunningEvent
from apps.core.audit import audit_trail_for
from apps.core.errors import Conflict, NotFound, ReferenceReused, ValidationFailed
from apps.groups.eod import claims_settle, guarantee_claims_open
from apps.groups.models import ClaimBasis, ClaimState, GuaranteeClaim, LoanGuarantor
from apps.groups.services import claim_pay, group_create
from apps.ledger.selectors import trial_balance_all_currencies_zero
from apps.notifications.models import Notice, OutboxMessage
from apps.repayments.accrual import loan_accrue
from apps.repayments.models import Loan, LoanInstallment, LoanState, Repayment, RepaymentSource
from apps.repayments.selectors import payoff_quote
from apps.repayments.services import repayment_post, repayment_reverse

from .conftest import chunk_on, overdue, overdue_amount

D = Decimal


def test_a_members_loan_is_guaranteed_by_the_other_members(group_of, loan_for):
    group, (a, b, c) = group_of(3)
    loan = loan_for(a.merchant)
    assert set(LoanGuarantor.objects.filter(loan=loan).values_list("guarantor_id", flat=True)) == {
        b.merchant_id, c.merchant_id}
    assert LoanGuarantor.objects.filter(loan=loan, group=group).count() == 2
    listed = [e for e in audit_trail_for(loan) if e.action == "guarantors_listed"]
    assert listed and sorted(listed[0].data["guarantors"]) == sorted([b.merchant_id, c.merchant_id])


def test_no_guarantors_outside_an_active_group(shop, loan_for):
    a, b = shop("alder"), shop("birch")
    assert not LoanGuarantor.objects.filter(loan=loan_for(a.merchant)).exists()  # in no group
    group_create(merchant=b.merchant, name="Two of us", actor=b)  # forming: one member
    assert not LoanGuarantor.objects.filter(loan=loan_for(b.merchant)).exists()


@pytest.fixture
def called(group_of, loan_for, guarantor_step):
    """A member's loan 15 days overdue and the ladder's guarantor step fired for it."""
    group, users = group_of(3)
    loan = loan_for(users[0].merchant)
    day = overdue(loan, dpd=15)
    event = DunningEvent.objects.create(loan=loan, step=guarantor_step, due_date=loan.maturity_date, business_date=day,
                                        dpd=15, amount=overdue_amount(loan))
    return group, users, loan, day, event


def test_the_guarantor_step_opens_a_claim_per_guarantor_and_tells_them(called, guarantor_step):
    group, (a, b, c), loan, day, event = called
    rows = guarantee_claims_open(chunk_on(day), guarantor_step)
    assert rows == 4  # two claims, two notices
    claims = GuaranteeClaim.objects.filter(loan=loan).order_by("guarantor_id")
    assert [(cl.guarantor_id, cl.amount, cl.paid, cl.state, cl.basis, cl.due_date, cl.opened_on, cl.dunning_event_id)
            for cl in claims] == [
        (m.merchant_id, event.amount, D("0.00"), ClaimState.OPEN, ClaimBasis.DUNNING, loan.maturity_date, day, event.pk)
        for m in sorted([b, c], key=lambda u: u.merchant_id)]
    notice = Notice.objects.get(merchant=b.merchant, kind="guarantors")
    assert notice.loan_id == loan.pk and notice.due_date == loan.maturity_date and notice.channels == "email,sms"
    assert notice.title == f"Guarantee called: loan #{loan.pk} of M0 Ltd"
    assert notice.body == (f"M0 Ltd is 15 days overdue on loan #{loan.pk}, which you guarantee. You are now liable for "
                           f"{event.amount:,.2f}; you can pay it in the portal.")
    assert not Notice.objects.filter(merchant=a.merchant, kind="guarantors").exists()  # the borrower is not its own guarantor
    assert OutboxMessage.objects.filter(notice__merchant=b.merchant, channel="sms",
                                        recipient=b.merchant.contact_phone).count() == 1
    assert [e.action for e in audit_trail_for(claims[0])] == ["guarantee_claim_opened"]
    # Idempotent: the same date again opens and tells nothing.
    assert guarantee_claims_open(chunk_on(day), guarantor_step) == 0
    assert GuaranteeClaim.objects.count() == 2 and Notice.objects.filter(kind="guarantors").count() == 2


def test_only_the_steps_events_of_the_date_in_the_chunk_count(called, guarantor_step):
    group, users, loan, day, event = called
    assert guarantee_claims_open(chunk_on(day + datetime.timedelta(days=1)), guarantor_step) == 0
    outside = chunk_on(day).__class__(run_id=0, business_date=day, lo=loan.pk + 1, hi=10**12)
    assert guarantee_claims_open(outside, guarantor_step) == 0
    assert not GuaranteeClaim.objects.exists()


def test_a_guarantor_pays_part_of_a_claim_into_the_defaulters_loan(called, guarantor_step, lender):
    group, (a, b, c), loan, day, event = called
    guarantee_claims_open(chunk_on(day), guarantor_step)
    claim = GuaranteeClaim.objects.get(guarantor=b.merchant)
    payment = claim_pay(claim=claim, guarantor=b.merchant, amount=D("500.00"), reference="pay-1", actor=b, received_on=day)
    repayment = payment.repayment
    assert (repayment.loan_id, repayment.source, repayment.amount) == (loan.pk, RepaymentSource.GUARANTOR, D("500.00"))
    assert repayment.created_by == b.username
    assert sum(x.amount for x in repayment.allocations.all()) == D("500.00")
    assert repayment.allocations.first().component == "penalty"  # the loan's allocation order, penalty first
    claim.refresh_from_db()
    assert (claim.paid, claim.state) == (D("500.00"), ClaimState.OPEN)
    sibling = GuaranteeClaim.objects.get(guarantor=c.merchant)
    assert sibling.state == ClaimState.OPEN  # still liable for what is left of the round
    # Idempotent by reference: the same payment again is the same payment.
    again = claim_pay(claim=claim, guarantor=b.merchant, amount=D("500.00"), reference="pay-1", actor=b, received_on=day)
    assert again.pk == payment.pk and Repayment.objects.filter(loan=loan).count() == 1
    with pytest.raises(ReferenceReused, match="already used for 500.00"):
        claim_pay(claim=claim, guarantor=b.merchant, amount=D("400.00"), reference="pay-1", actor=b, received_on=day)
    assert GuaranteeClaim.objects.get(pk=claim.pk).paid == D("500.00")
    assert trial_balance_all_currencies_zero(lender=lender)


def test_paying_the_rest_of_the_round_settles_it_and_closes_the_other_claims(called, guarantor_step):
    group, (a, b, c), loan, day, event = called
    guarantee_claims_open(chunk_on(day), guarantor_step)
    claim_b, claim_c = (GuaranteeClaim.objects.get(guarantor=u.merchant) for u in (b, c))
    claim_pay(claim=claim_b, guarantor=b.merchant, amount=D("500.00"), reference="b-1", actor=b, received_on=day)
    with pytest.raises(ValidationFailed, match=f"At most {event.amount - 500:,.2f} is left"):
        claim_pay(claim=claim_c, guarantor=c.merchant, amount=event.amount, reference="c-1", actor=c, received_on=day)
    claim_pay(claim=claim_c, guarantor=c.merchant, amount=event.amount - D("500.00"), reference="c-1", actor=c,
              received_on=day)
    claim_b.refresh_from_db()
    claim_c.refresh_from_db()
    assert (claim_b.state, claim_c.state) == (ClaimState.PAID, ClaimState.PAID)  # both paid towards it
    assert claim_b.paid + claim_c.paid == event.amount
    with pytest.raises(Conflict, match="This claim is paid"):
        claim_pay(claim=claim_c, guarantor=c.merchant, amount=D("1.00"), reference="c-2", actor=c, received_on=day)


def test_one_guarantor_paying_everything_closes_the_others_claim(called, guarantor_step):
    group, (a, b, c), loan, day, event = called
    guarantee_claims_open(chunk_on(day), guarantor_step)
    claim_pay(claim=GuaranteeClaim.objects.get(guarantor=b.merchant), guarantor=b.merchant, amount=event.amount,
              reference="all", actor=b, received_on=day)
    other = GuaranteeClaim.objects.get(guarantor=c.merchant)
    assert (other.state, other.close_reason) == (ClaimState.CLOSED, "Paid by another guarantor")
    assert GuaranteeClaim.objects.get(guarantor=b.merchant).state == ClaimState.PAID


def test_bad_claim_payments_are_refused_and_write_nothing(called, guarantor_step):
    group, (a, b, c), loan, day, event = called
    guarantee_claims_open(chunk_on(day), guarantor_step)
    claim = GuaranteeClaim.objects.get(guarantor=b.merchant)
    for amount, message in [(D("-5.00"), "must be positive"), (D("0"), "must be positive"), (D("1.005"), "fractions of a cent"),
                            ("12", "decimal amount"), (D("1e15"), "larger than")]:
        with pytest.raises(ValidationFailed, match=message):
            claim_pay(claim=claim, guarantor=b.merchant, amount=amount, reference="x", actor=b, received_on=day)
    with pytest.raises(ValidationFailed, match="reference of 1–64"):
        claim_pay(claim=claim, guarantor=b.merchant, amount=D("1.00"), reference=" ", actor=b, received_on=day)
    with pytest.raises(NotFound):  # someone else's claim
        claim_pay(claim=claim, guarantor=c.merchant, amount=D("1.00"), reference="x", actor=c, received_on=day)
    assert not Repayment.objects.exists() and GuaranteeClaim.objects.get(pk=claim.pk).paid == 0


def test_claims_close_when_the_borrower_repays(called, guarantor_step):
    group, (a, b, c), loan, day, event = called
    guarantee_claims_open(chunk_on(day), guarantor_step)
    owed = D("0")
    for i in LoanInstallment.objects.filter(loan=loan):
        owed += i.principal_due + i.interest_due + i.fee_due
    repayment_post(loan=loan, amount=owed + D("100.00"), source="backoffice", reference="borrower", actor="t", received_on=day)
    assert Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF
    assert claims_settle(chunk_on(day)) == 2
    assert set(GuaranteeClaim.objects.values_list("state", "close_reason")) == {(ClaimState.CLOSED, "The loan is paid off")}
    assert claims_settle(chunk_on(day)) == 0


def test_claims_close_when_the_loan_is_cured(called, guarantor_step):
    group, users, loan, day, event = called
    guarantee_claims_open(chunk_on(day), guarantor_step)
    Loan.objects.filter(pk=loan.pk).update(state=LoanState.ACTIVE, overdue_since=None)  # as delinquency would after a payment
    assert claims_settle(chunk_on(day)) == 2
    assert set(GuaranteeClaim.objects.values_list("state", flat=True)) == {ClaimState.CLOSED}


def test_a_bounced_guarantor_payment_reopens_the_claim(called, guarantor_step):
    group, (a, b, c), loan, day, event = called
    guarantee_claims_open(chunk_on(day), guarantor_step)
    claim = GuaranteeClaim.objects.get(guarantor=b.merchant)
    payment = claim_pay(claim=claim, guarantor=b.merchant, amount=event.amount, reference="all", actor=b, received_on=day)
    assert GuaranteeClaim.objects.get(pk=claim.pk).state == ClaimState.PAID
    repayment_reverse(repayment=payment.repayment, actor="treasurer", reason="Bounced")
    assert claims_settle(chunk_on(day)) == 1
    claim.refresh_from_db()
    assert (claim.state, claim.paid) == (ClaimState.OPEN, D("0.00"))
    assert claims_settle(chunk_on(day)) == 0


def test_a_defaulted_loan_takes_a_guarantors_payment_up_to_what_is_on_its_books(group_of, loan_for, lender):
    group, (a, b, c) = group_of(3)
    loan = loan_for(a.merchant)
    day = overdue(loan, dpd=90)
    loan_accrue(loan=loan, through=day, actor="eod")  # what end of day booked up to the default
    Loan.objects.filter(pk=loan.pk).update(state=LoanState.DEFAULTED, defaulted_on=day)
    loan.refresh_from_db()
    i = loan.installments.get()
    booked = i.principal_due + i.interest_accrued + i.fee_accrued + i.penalty_accrued
    assert i.penalty_accrued > 0 and payoff_quote(loan=loan, on=day)["total"] == booked
    claim = GuaranteeClaim.objects.create(loan=loan, guarantor=b.merchant, group=group, basis=ClaimBasis.DEFAULT,
                                          due_date=loan.maturity_date, amount=booked + D("5.00"), opened_on=day)
    with pytest.raises(ValidationFailed, match=f"owes {booked:,.2f} in all"):
        claim_pay(claim=claim, guarantor=b.merchant, amount=booked + D("5.00"), reference="r", actor=b, received_on=day)
    claim_pay(claim=claim, guarantor=b.merchant, amount=booked, reference="r", actor=b, received_on=day)
    assert Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF  # a defaulted loan repaid in full closes
    assert GuaranteeClaim.objects.get(pk=claim.pk).state == ClaimState.CLOSED  # the loan is repaid: nothing left
    assert trial_balance_all_currencies_zero(lender=lender)


def test_a_defaulted_loan_is_non_accrual_so_only_what_is_booked_is_quoted(group_of, loan_for):
    group, (a, b, c) = group_of(3)
    loan = loan_for(a.merchant)
    day = overdue(loan, dpd=90, state=LoanState.DEFAULTED)  # nothing accrued on the books
    quote = payoff_quote(loan=Loan.objects.get(pk=loan.pk), on=day)
    assert (quote["principal"], quote["interest"], quote["fee"], quote["penalty"]) == (loan.principal, 0, 0, 0)
