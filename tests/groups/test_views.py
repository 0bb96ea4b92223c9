"""The portal and back-office faces of guarantee groups: journeys, tenant scoping, bad input, no N+1."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Role
from apps.collections.models import DunningEvent
from apps.core.models import AuditEvent
from apps.groups.eod import contagion_apply, guarantee_claims_open
from apps.groups.models import (
    ClaimBasis,
    ClaimState,
    GroupMembership,
    GroupState,
    GuaranteeClaim,
    LoanGuarantor,
    MembershipState,
)
from apps.merchants.models import Merchant
from apps.repayments.models import LoanState, Repayment
from tests.accounts.factories import StaffFactory
from tests.conftest import PASSWORD

from .conftest import chunk_on, overdue, overdue_amount

D = Decimal


def test_merchants_form_a_group_in_the_portal(client, shop):
    a, b, c = shop("alder"), shop("birch"), shop("cedar")
    client.force_login(a)
    assert "Found a group" in client.get("/portal/group/").content.decode()
    response = client.post("/portal/group/create/", {"name": "Harbour Circle"}, follow=True)
    assert "Group Harbour Circle created" in response.content.decode()
    for user in (b, c):
        client.force_login(a)
        response = client.post("/portal/group/invite/", {"store_handle": user.merchant.store_handle}, follow=True)
        assert f"{user.merchant.company_name} is invited" in response.content.decode()
        client.force_login(user)
        invitation = GroupMembership.objects.get(merchant=user.merchant)
        assert "Harbour Circle" in client.get("/portal/group/").content.decode()
        response = client.post(f"/portal/group/invitations/{invitation.pk}/accept/", follow=True)
        assert "You joined Harbour Circle" in response.content.decode()
    body = client.get("/portal/group/").content.decode()
    assert "Active" in body and "Alder Ltd" in body and "Birch Ltd" in body


def test_portal_bad_input_is_explained_with_400(client, shop):
    a = shop("alder")
    client.force_login(a)
    assert client.post("/portal/group/create/", {"name": ""}).status_code == 400
    client.post("/portal/group/create/", {"name": "Circle"})
    response = client.post("/portal/group/invite/", {"store_handle": "no such shop!"})
    assert response.status_code == 400 and "Enter a valid" in response.content.decode()
    response = client.post("/portal/group/invite/", {"store_handle": "nobody-here"})
    assert response.status_code == 400 and "No merchant with the store handle nobody-here" in response.content.decode()
    assert client.get("/portal/group/create/").status_code == 405


def test_tenant_scoping_in_the_portal(client, group_of, shop, loan_for, guarantor_step):
    group, (a, b, c) = group_of(3)
    loan = loan_for(a.merchant)
    day = overdue(loan, dpd=15)
    DunningEvent.objects.create(loan=loan, step=guarantor_step, due_date=loan.maturity_date, business_date=day, dpd=15,
                                amount=overdue_amount(loan))
    guarantee_claims_open(chunk_on(day), guarantor_step)
    claim_b = GuaranteeClaim.objects.get(guarantor=b.merchant)
    outsider = shop("outsider")
    pending = GroupMembership.objects.create(group=group, merchant=shop("invitee").merchant, invited_by=a.merchant)
    client.force_login(outsider)
    assert client.get(f"/portal/group/claims/{claim_b.pk}/").status_code == 404
    assert client.post(f"/portal/group/claims/{claim_b.pk}/", {"amount": "1.00", "reference": "x"}).status_code == 404
    assert client.post(f"/portal/group/invitations/{pending.pk}/accept/").status_code == 404
    body = client.get("/portal/group/").content.decode()
    assert "Harbour Circle" not in body and "M0 Ltd" not in body
    client.force_login(c)  # a fellow guarantor cannot see or pay b's claim either
    assert client.get(f"/portal/group/claims/{claim_b.pk}/").status_code == 404
    assert client.get(f"/portal/loans/{loan.pk}/").status_code == 404  # nor open the borrower's loan
    assert GroupMembership.objects.get(pk=pending.pk).state == MembershipState.INVITED


def test_a_guarantor_pays_a_claim_in_the_portal_and_both_portals_show_it(client, group_of, loan_for, guarantor_step, staff):
    group, (a, b, c) = group_of(3)
    loan = loan_for(a.merchant)
    day = overdue(loan, dpd=15)
    DunningEvent.objects.create(loan=loan, step=guarantor_step, due_date=loan.maturity_date, business_date=day, dpd=15,
                                amount=overdue_amount(loan))
    guarantee_claims_open(chunk_on(day), guarantor_step)
    claim = GuaranteeClaim.objects.get(guarantor=b.merchant)
    client.force_login(b)
    page = client.get("/portal/group/").content.decode()
    assert f'href="/portal/group/claims/{claim.pk}/"' in page and "M0 Ltd" in page
    for bad in ("-1", "abc", "0", "1.001", str(claim.amount + 1)):
        response = client.post(f"/portal/group/claims/{claim.pk}/", {"amount": bad, "reference": "ref-bad"})
        assert response.status_code == 400, bad
    assert not Repayment.objects.exists()
    response = client.post(f"/portal/group/claims/{claim.pk}/", {"amount": "300.00", "reference": "ref-1"}, follow=True)
    assert "Payment of 300.00 received" in response.content.decode()
    client.post(f"/portal/group/claims/{claim.pk}/", {"amount": "300.00", "reference": "ref-1"})  # a double submit
    assert Repayment.objects.get().amount == D("300.00")
    claim.refresh_from_db()
    assert claim.paid == D("300.00") and claim.state == ClaimState.OPEN
    body = client.get(f"/portal/group/claims/{claim.pk}/").content.decode()
    assert 'id="claim-paid">300.00' in body and f'id="claim-remaining">{claim.amount - 300:,.2f}' in body
    client.force_login(a)  # the borrower sees the guarantor's payment on the loan
    assert "Guarantor, paying a guarantee claim" in client.get(f"/portal/loans/{loan.pk}/").content.decode()
    client.force_login(staff[Role.COLLECTOR])
    assert "Guarantor, paying a guarantee claim" in client.get(f"/backoffice/loans/{loan.pk}/").content.decode()


def test_leaving_in_the_portal_is_refused_while_guaranteeing(client, group_of, loan_for):
    group, (a, b, c) = group_of(3)
    loan_for(a.merchant)
    client.force_login(b)
    response = client.post("/portal/group/leave/", follow=True)
    assert "You guarantee live loan" in response.content.decode()
    assert GroupMembership.objects.get(merchant=b.merchant).state == MembershipState.ACCEPTED


@pytest.fixture
def contagion(group_of, loan_for):
    group, (a, b, c) = group_of(3)
    loan = loan_for(a.merchant)
    day = overdue(loan, dpd=90, state=LoanState.DEFAULTED)
    contagion_apply(chunk_on(day))
    return group, (a, b, c), loan, day


def test_the_back_office_shows_the_contagion_and_an_admin_lifts_a_freeze(client, contagion, staff):
    group, (a, b, c), loan, day = contagion
    client.force_login(staff[Role.COLLECTOR])
    listing = client.get("/backoffice/groups/").content.decode()
    assert "Harbour Circle" in listing and "Defaulted member" in listing and "3 frozen" in listing
    body = client.get(f"/backoffice/groups/{group.pk}/").content.decode()
    assert f"loan #{loan.pk}</a> of M0 Ltd" in body and "3 member limits frozen" in body
    assert 'id="group-exposure">1,500.00' in body
    assert "Lift freeze" not in body  # a collector may look, not lift
    assert client.post(f"/backoffice/groups/merchants/{b.merchant_id}/unfreeze/", {"reason": "x"}).status_code == 403
    client.force_login(staff[Role.LENDER_ADMIN])
    assert "Lift freeze" in client.get(f"/backoffice/groups/{group.pk}/").content.decode()
    response = client.post(f"/backoffice/groups/merchants/{b.merchant_id}/unfreeze/", {"reason": ""}, follow=True)
    assert "A reason is required" in response.content.decode()
    response = client.post(f"/backoffice/groups/merchants/{b.merchant_id}/unfreeze/", {"reason": "Claim settled"},
                           follow=True)
    assert "is no longer frozen" in response.content.decode()
    assert Merchant.objects.get(pk=b.merchant_id).limit_frozen_at is None
    assert AuditEvent.objects.filter(action="limit_unfrozen", actor=staff[Role.LENDER_ADMIN]).exists()
    merchant_page = client.get(f"/backoffice/merchants/{c.merchant_id}/").content.decode()
    assert 'id="limit-frozen"' in merchant_page
    client.force_login(c)
    assert 'id="limit-frozen"' in client.get("/portal/").content.decode()


def test_another_lenders_staff_see_none_of_it(client, contagion, other_lender):
    group, (a, b, c), loan, day = contagion
    foreign = StaffFactory(lender=other_lender, role=Role.LENDER_ADMIN, username="foreign-admin", password=PASSWORD)
    client.force_login(foreign)
    assert "Harbour Circle" not in client.get("/backoffice/groups/").content.decode()
    assert client.get(f"/backoffice/groups/{group.pk}/").status_code == 404
    assert client.post(f"/backoffice/groups/merchants/{b.merchant_id}/unfreeze/", {"reason": "x"}).status_code == 404
    assert Merchant.objects.get(pk=b.merchant_id).limit_frozen_at is not None


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _claims_for_every_guarantee(group, *, but=()):
    for g in LoanGuarantor.objects.filter(group=group).exclude(loan_id__in=but).select_related("loan"):
        GuaranteeClaim.objects.create(loan=g.loan, guarantor=g.guarantor, group=group, basis=ClaimBasis.DEFAULT,
                                      due_date=g.loan.maturity_date, amount=D("10.00"), opened_on=g.loan.start_date)


def test_group_pages_do_not_query_per_row(client, group_of, loan_for, staff, shop):
    group, users = group_of(3)
    loan_for(users[0].merchant)
    loan_for(users[1].merchant)
    _claims_for_every_guarantee(group)
    client.force_login(staff[Role.LENDER_ADMIN])
    few = (_queries(client, "/backoffice/groups/"), _queries(client, f"/backoffice/groups/{group.pk}/"))
    client.force_login(users[1])
    few_portal = _queries(client, "/portal/group/")
    # More members, more loans, more claims, more groups.
    for user in (users[0], users[2], users[2]):
        loan_for(user.merchant)
    group_of(4, name="Second Circle", prefix="s")
    _claims_for_every_guarantee(group, but=list(GuaranteeClaim.objects.values_list("loan_id", flat=True)))
    Merchant.objects.filter(pk__in=[u.merchant_id for u in users]).update(limit_frozen_reason="x")
    client.force_login(staff[Role.LENDER_ADMIN])
    many = (_queries(client, "/backoffice/groups/"), _queries(client, f"/backoffice/groups/{group.pk}/"))
    client.force_login(users[1])
    assert many == few and _queries(client, "/portal/group/") == few_portal
    assert GroupState.ACTIVE == group.state

