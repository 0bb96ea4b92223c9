"""A guarantor is called for a fellow member's overdue loan, pays part of it in the portal, and staff see it."""

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Role
from apps.collections.models import DunningEvent
from apps.groups.eod import guarantee_claims_open
from apps.groups.models import GuaranteeClaim
from tests.conftest import PASSWORD
from tests.groups.conftest import chunk_on, overdue, overdue_amount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in(page, face: str, username: str) -> None:
    page.goto(f"/{face}/login/")
    page.fill("[name=username]", username)
    page.fill("[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")


def test_a_guarantor_pays_a_claim_and_the_back_office_sees_it(new_page, group_of, loan_for, guarantor_step, staff):
    group, (borrower, guarantor, _) = group_of(3)
    loan = loan_for(borrower.merchant)
    day = overdue(loan, dpd=15)
    DunningEvent.objects.create(loan=loan, step=guarantor_step, due_date=loan.maturity_date, business_date=day, dpd=15,
                                amount=overdue_amount(loan))
    guarantee_claims_open(chunk_on(day), guarantor_step)
    claim = GuaranteeClaim.objects.get(guarantor=guarantor.merchant)

    page = new_page()
    _sign_in(page, "portal", guarantor.username)
    page.click("text=Guarantee group")
    expect(page.locator("#claims")).to_contain_text("M0 Ltd")
    page.click(f"#claims a:has-text('#{claim.pk}')")
    page.fill("[name=amount]", "200.00")
    page.click("button:has-text('Pay')")
    expect(page.locator(".msg.success")).to_contain_text(f"Payment of 200.00 received on loan #{loan.pk}")
    expect(page.locator("#claim-paid")).to_have_text("200.00")
    expect(page.locator("#claim-payments")).to_contain_text("200.00")

    staff_page = new_page()
    _sign_in(staff_page, "backoffice", staff[Role.COLLECTOR].username)
    staff_page.click("nav >> text=Groups")
    staff_page.click("text=Harbour Circle")
    expect(staff_page.locator("#claims")).to_contain_text("200.00")
    expect(staff_page.locator("#guarantees")).to_contain_text("M1 Ltd")
