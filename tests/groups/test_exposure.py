"""Group exposure: the single-borrower limit counts a borrower together with its guarantee group."""

from decimal import Decimal

from apps.financing.application_services import application_submit
from apps.financing.models import ApplicationState
from apps.groups.models import GroupMembership
from apps.groups.selectors import group_exposure_get
from apps.groups.services import member_invite
from apps.ledger.services import loan_funding_post
from tests.conftest import TODAY

D = Decimal


def test_group_exposure_is_the_members_outstanding_principal(group_of, loan_for, shop, lender):
    group, (a, b, c) = group_of(3)
    loner = shop("loner")
    assert group_exposure_get(a.merchant) == D("0.00")
    loan_for(a.merchant, "1500.00")
    loan_for(b.merchant, "1000.00")
    loan_for(loner.merchant, "700.00")
    assert group_exposure_get(c.merchant) == D("2500.00")  # counted for every member, lending or not
    assert group_exposure_get(a.merchant) == D("2500.00")
    assert group_exposure_get(loner.merchant) == D("700.00")  # outside any group: its own exposure
    # An open invitation is not membership.
    member_invite(group=group, inviter=a.merchant, store_handle="loner", actor=a)
    assert group_exposure_get(a.merchant) == D("2500.00")


def test_a_member_who_left_no_longer_counts(group_of, loan_for, shop):
    group, (a, b, c, d) = group_of(4)
    loan_for(d.merchant, "1000.00")
    assert group_exposure_get(a.merchant) == D("1000.00")
    GroupMembership.objects.filter(merchant=d.merchant).update(state="left")  # as if repaid and left (no live guarantees)
    assert group_exposure_get(a.merchant) == D("0.00")
    assert group_exposure_get(d.merchant) == D("1000.00")


def test_the_decision_declines_when_the_group_would_pass_the_single_borrower_limit(group_of, open_orders, lender):
    group, (a, b, c) = group_of(3)
    # 10,000,000 of capital → a 500,000.00 single-borrower limit; another member owes 499,500.00.
    loan_funding_post(lender=lender, merchant=b.merchant, amount=D("499500.00"), reference="earlier-loan", actor="test")
    orders = open_orders(a.merchant, 8)
    application = application_submit(merchant=a.merchant, order_ids=[orders[0].pk, orders[1].pk], amount="1000.00",
                                     actor=a, as_of=TODAY)
    assert application.state == ApplicationState.REJECTED
    assert application.decision_results.get(rule="single_borrower").reason == (
        "Over the single-borrower limit: exposure with guarantee group Harbour Circle 499,500.00 + requested 1,000.00 "
        "= 500,500.00; single-borrower limit 500,000.00.")
