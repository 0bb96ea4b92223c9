"""A member defaults: claims, frozen limits, grade reviews, refused applications — and all of it once."""

import datetime
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.collections.models import DunningEvent
from apps.core.errors import Conflict, Forbidden, ValidationFailed
from apps.core.models import AuditEvent
from apps.financing.application_services import application_submit
from apps.financing.models import ApplicationState
from apps.groups.eod import claims_settle, contagion_apply, grades_review, guarantee_claims_open
from apps.groups.models import ClaimBasis, ClaimState, GroupDefault, GuaranteeClaim
from apps.merchants.models import CreditAssessment, Merchant
from apps.merchants.services import merchant_limit_unfreeze
from apps.notifications.models import Notice
from apps.repayments.models import LoanState
from tests.conftest import TODAY

from .conftest import chunk_on, overdue, sales_history

D = Decimal


@pytest.fixture
def defaulted(group_of, loan_for):
    """A group of three; the first member's loan defaults (90 DPD) on `day`; the others sell steadily (grade A)."""
    group, (a, b, c) = group_of(3)
    loan = loan_for(a.merchant)
    day = overdue(loan, dpd=90, state=LoanState.DEFAULTED)
    for user in (a, b, c):
        sales_history(user.merchant, through=day)
    return group, (a, b, c), loan, day


def _counts():
    return (GroupDefault.objects.count(), GuaranteeClaim.objects.count(), Notice.objects.count(), AuditEvent.objects.count(),
            CreditAssessment.objects.count())


def test_a_default_freezes_the_group_opens_claims_audits_and_tells_the_members(defaulted):
    group, (a, b, c), loan, day = defaulted
    rows = contagion_apply(chunk_on(day))
    assert GroupDefault.objects.get().loan == loan
    for user in (a, b, c):
        m = Merchant.objects.get(pk=user.merchant_id)
        assert m.limit_frozen_at is not None and m.grade_review_due
    assert Merchant.objects.get(pk=b.merchant_id).limit_frozen_reason == (
        f"Loan #{loan.pk} of M0 Ltd, a member of your guarantee group Harbour Circle, defaulted on {day}.")
    assert Merchant.objects.get(pk=a.merchant_id).limit_frozen_reason == f"Your loan #{loan.pk} defaulted on {day}."
    claims = GuaranteeClaim.objects.order_by("guarantor_id")
    i = loan.installments.get()
    owed = i.principal_due + i.interest_due + i.fee_due  # nothing accrued or paid in this test; no penalty posted
    assert [(cl.guarantor_id, cl.basis, cl.amount, cl.due_date, cl.opened_on) for cl in claims] == [
        (u.merchant_id, ClaimBasis.DEFAULT, owed, loan.maturity_date, day) for u in sorted([b, c], key=lambda u: u.merchant_id)]
    assert rows == 1 + 3 + 2 + 3  # default recorded, members flagged, claims, notices
    notice = Notice.objects.get(merchant=b.merchant, kind="group-default")
    assert "your credit limit is frozen" in notice.title
    assert f"a claim of {owed:,.2f} is open against you" in notice.body
    assert "is in default" in Notice.objects.get(merchant=a.merchant, kind="group-default").title
    actions = sorted(AuditEvent.objects.filter(actor_label="system:eod").values_list("action", flat=True))
    assert actions == ["guarantee_claim_opened"] * 2 + ["limit_frozen"] * 3 + ["member_defaulted"]


def test_contagion_and_grade_reviews_are_idempotent(defaulted):
    group, users, loan, day = defaulted
    assert contagion_apply(chunk_on(day)) > 0
    assert grades_review(chunk_on(day)) == 3
    after = _counts()
    assert contagion_apply(chunk_on(day)) == 0
    assert grades_review(chunk_on(day)) == 0
    assert claims_settle(chunk_on(day)) == 0  # a defaulted loan's claims stay open
    assert _counts() == after


def test_contagion_waits_for_the_default_date_and_the_chunk(defaulted):
    group, users, loan, day = defaulted
    assert contagion_apply(chunk_on(day - datetime.timedelta(days=1))) == 0
    assert contagion_apply(chunk_on(day).__class__(run_id=0, business_date=day, lo=0, hi=loan.pk)) == 0
    assert not Merchant.objects.filter(limit_frozen_at__isnull=False).exists()


def test_a_guarantor_with_an_open_claim_is_not_claimed_twice(defaulted, guarantor_step):
    group, (a, b, c), loan, day = defaulted
    called_on = day - datetime.timedelta(days=75)
    DunningEvent.objects.create(loan=loan, step=guarantor_step, due_date=loan.maturity_date, business_date=called_on,
                                dpd=15, amount=D("100.00"))
    guarantee_claims_open(chunk_on(called_on), guarantor_step)
    GuaranteeClaim.objects.filter(guarantor=c.merchant).update(state=ClaimState.CLOSED)  # as if settled meanwhile
    contagion_apply(chunk_on(day))
    assert list(GuaranteeClaim.objects.filter(guarantor=b.merchant).values_list("basis", flat=True)) == [ClaimBasis.DUNNING]
    assert sorted(GuaranteeClaim.objects.filter(guarantor=c.merchant).values_list("basis", flat=True)) == [
        ClaimBasis.DEFAULT, ClaimBasis.DUNNING]


def test_grade_review_downgrades_while_the_group_has_a_defaulted_member(defaulted):
    group, (a, b, c), loan, day = defaulted
    contagion_apply(chunk_on(day))
    assert grades_review(chunk_on(day)) == 3
    assessment = CreditAssessment.objects.filter(merchant=b.merchant).first()
    assert assessment.as_of == day and assessment.score >= 80  # grade A on the numbers...
    assert assessment.grade == "B"  # ...one notch down for contagion
    downgrade = next(r for r in assessment.reasons if r["factor"] == "downgrade")
    assert downgrade["explanation"] == (f"Contagion: M0 Ltd's loan #{loan.pk} in your guarantee group is defaulted. "
                                        "Grade lowered 1 notch: A → B.")
    merchant = Merchant.objects.get(pk=b.merchant_id)
    assert (merchant.risk_grade, merchant.grade_review_due) == ("B", False)
    # 40,000 a day → 1,200,000 a month × 1.2 (grade B) = 1,440,000.00
    assert merchant.credit_limit == D("1440000.00")


def test_a_frozen_member_is_refused_new_financing_with_the_reason(defaulted, open_orders):
    group, (a, b, c), loan, day = defaulted
    contagion_apply(chunk_on(day))
    orders = open_orders(b.merchant, 8)
    application = application_submit(merchant=b.merchant, order_ids=[orders[0].pk, orders[1].pk], amount="1000.00",
                                      actor=b, as_of=TODAY)
    assert application.state == ApplicationState.REJECTED
    verdict = application.decision_results.get(rule="limit_frozen")
    assert verdict.outcome == "decline"
    assert verdict.reason.startswith("The credit limit is frozen since ")
    assert f"Loan #{loan.pk} of M0 Ltd, a member of your guarantee group Harbour Circle, defaulted" in verdict.reason
    assert "frozen" in application.decision_note


def test_a_lender_admin_lifts_a_freeze_with_a_reason(defaulted, staff):
    group, (a, b, c), loan, day = defaulted
    contagion_apply(chunk_on(day))
    with pytest.raises(Forbidden):
        merchant_limit_unfreeze(merchant=b.merchant, actor=staff[Role.CREDIT_OFFICER], reason="ok")
    with pytest.raises(ValidationFailed, match="A reason is required"):
        merchant_limit_unfreeze(merchant=b.merchant, actor=staff[Role.LENDER_ADMIN], reason="  ")
    merchant_limit_unfreeze(merchant=b.merchant, actor=staff[Role.LENDER_ADMIN], reason="Guarantee claim paid in full")
    merchant = Merchant.objects.get(pk=b.merchant_id)
    assert merchant.limit_frozen_at is None and merchant.limit_frozen_reason == ""
    event = AuditEvent.objects.get(action="limit_unfrozen")
    assert (event.actor, event.reason, event.subject_id) == (staff[Role.LENDER_ADMIN], "Guarantee claim paid in full",
                                                            str(b.merchant_id))
    assert event.data["frozen_because"].startswith(f"Loan #{loan.pk}")
    with pytest.raises(Conflict, match="is not frozen"):
        merchant_limit_unfreeze(merchant=b.merchant, actor=staff[Role.LENDER_ADMIN], reason="again")
    assert contagion_apply(chunk_on(day)) == 0  # the same default does not freeze it again


def test_a_second_default_in_the_group_flags_reviews_again_without_refreezing(defaulted, loan_for):
    group, (a, b, c), loan, day = defaulted
    contagion_apply(chunk_on(day))
    grades_review(chunk_on(day))
    frozen_at = Merchant.objects.get(pk=c.merchant_id).limit_frozen_at
    Merchant.objects.filter(pk=b.merchant_id).update(limit_frozen_at=None)  # lifted, so b may borrow again
    second = loan_for(b.merchant)
    later = overdue(second, dpd=90, state=LoanState.DEFAULTED)
    contagion_apply(chunk_on(later))
    merchant = Merchant.objects.get(pk=c.merchant_id)
    assert merchant.limit_frozen_at == frozen_at and merchant.grade_review_due
    assert AuditEvent.objects.filter(action="grade_review_flagged", subject_id=str(c.merchant_id)).count() == 1
