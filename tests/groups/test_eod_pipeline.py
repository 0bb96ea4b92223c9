"""Guarantee groups through real nightly runs: the ladder calls the guarantors, the default spreads.

Needs the EOD pipeline and dunning_fire (built on main in parallel): skipped until they are merged.
Collection cases are built elsewhere too, so their step functions and actions are left out here.
"""

import datetime

import pytest

from apps.collections.models import CollectionsPolicy
from apps.groups.models import ClaimBasis, ClaimState, GroupDefault, GuaranteeClaim
from apps.groups.services import claim_pay
from apps.merchants.models import CreditAssessment, Merchant
from apps.notifications.models import Notice
from apps.repayments.models import Loan, LoanState, RepaymentSource
from tests.conftest import TODAY

from .conftest import sales_history

pipeline = pytest.importorskip("apps.eod.pipeline", reason="the EOD pipeline is not merged yet")
DAY = datetime.timedelta(days=1)


def noop(chunk, step):
    return 0


@pytest.fixture(autouse=True)
def _without_collection_cases(monkeypatch):
    import apps.collections.dunning as dunning
    from apps.eod import steps

    kept = tuple((name, tuple(f for f in functions if not f.startswith("apps.collections.cases_eod")))
                 for name, functions in steps.STEPS)
    monkeypatch.setattr(pipeline, "STEPS", kept)
    actions = {action: path if path.startswith("apps.groups.") else f"{__name__}.noop"
               for action, path in steps.STEP_ACTIONS.items()}
    monkeypatch.setattr(dunning, "STEP_ACTIONS", actions)


def test_the_ladder_calls_the_guarantors_and_the_default_spreads(group_of, loan_for, lender):
    group, (a, b, c) = group_of(3)
    loan = loan_for(a.merchant)
    CollectionsPolicy.objects.create(lender=lender, version=1, effective_from=TODAY, default_dpd=20)
    maturity = loan.maturity_date
    for user in (a, b, c):
        sales_history(user.merchant, through=maturity + 20 * DAY)

    pipeline.catch_up_inline(through=TODAY)
    pipeline.catch_up_inline(through=maturity + 15 * DAY)  # DPD 15: the guarantor step fires
    claims = GuaranteeClaim.objects.filter(loan=loan).order_by("guarantor_id")
    assert [(cl.guarantor_id, cl.basis, cl.opened_on, cl.state) for cl in claims] == [
        (u.merchant_id, ClaimBasis.DUNNING, maturity + 15 * DAY, ClaimState.OPEN)
        for u in sorted([b, c], key=lambda u: u.merchant_id)]
    assert claims[0].amount > loan.principal  # principal, interest, fee and penalty overdue
    assert Notice.objects.filter(kind="guarantors", merchant__in=[b.merchant, c.merchant]).count() == 2
    assert not Merchant.objects.filter(limit_frozen_at__isnull=False).exists()

    pipeline.catch_up_inline(through=maturity + 21 * DAY)  # DPD 20: default, contagion, grade reviews
    loan.refresh_from_db()
    assert (loan.state, loan.defaulted_on) == (LoanState.DEFAULTED, maturity + 20 * DAY)
    assert GroupDefault.objects.get().defaulted_on == maturity + 20 * DAY
    assert GuaranteeClaim.objects.filter(loan=loan).count() == 2  # the open dunning claims stand; none doubled
    for user in (a, b, c):
        merchant = Merchant.objects.get(pk=user.merchant_id)
        assert merchant.limit_frozen_at is not None and not merchant.grade_review_due
        assessment = CreditAssessment.objects.filter(merchant=merchant).first()
        assert assessment.as_of == maturity + 20 * DAY and assessment.grade == "B"  # A, one notch down

    claim = GuaranteeClaim.objects.get(guarantor=b.merchant)
    payment = claim_pay(claim=claim, guarantor=b.merchant, amount=claim.amount, reference="settle", actor=b,
                        received_on=maturity + 21 * DAY)
    assert payment.repayment.source == RepaymentSource.GUARANTOR
    assert set(GuaranteeClaim.objects.values_list("state", flat=True)) == {ClaimState.PAID, ClaimState.CLOSED}
    assert Loan.objects.get(pk=loan.pk).state in (LoanState.DEFAULTED, LoanState.PAID_OFF)
    pipeline.catch_up_inline(through=maturity + 22 * DAY)  # the next night changes none of it
    assert GuaranteeClaim.objects.filter(state=ClaimState.OPEN).count() == 0
