"""A collector works a case from the queue: a contact, a promise — and end of day finds the promise broken."""

import datetime

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Role
from apps.collections.cases_eod import cases_update, promises_review
from apps.collections.models import CollectionCase
from apps.financing.disbursement import loan_disburse
from tests.collections.conftest import chunk, make_delinquent
from tests.conftest import PASSWORD, TODAY

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_broken_promise_sends_the_case_back_to_the_queue(new_page, accepted, staff):
    loan = make_delinquent(loan_disburse(application=accepted("1000.00"), actor="treasurer"), on=TODAY, dpd=10)
    cases_update(chunk(TODAY))  # the end of day that opened the case
    case = CollectionCase.objects.get(loan=loan)
    promised = TODAY + datetime.timedelta(days=3)

    page = new_page()
    page.goto("/backoffice/login/")
    page.fill("[name=username]", staff[Role.COLLECTOR].username)
    page.fill("[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.click("nav >> text=Collections")
    row = page.locator(f"#case-queue tr[data-case='{case.pk}']")
    expect(row).to_contain_text("Open")
    row.locator(f"text=Case #{case.pk}").click()
    expect(page.locator("h1")).to_contain_text(f"Case #{case.pk}")
    expect(page.locator("#dpd")).to_have_text("10")

    page.click("button:has-text('Take this case')")
    expect(page.locator("#collector")).to_have_text(staff[Role.COLLECTOR].username)
    page.select_option("#contact-form [name=channel]", "phone")
    page.select_option("#contact-form [name=outcome]", "reached")
    page.fill("#contact-form [name=note]", "Owner says the marketplace paid out late")
    page.click("button:has-text('Log contact')")
    expect(page.locator(".msg.success")).to_contain_text("Contact logged.")
    expect(page.locator("#case-state")).to_have_text("In progress")
    expect(page.locator("#contacts")).to_contain_text("Owner says the marketplace paid out late")

    page.fill("#promise-form [name=amount]", "300.00")
    page.fill("#promise-form [name=promised_date]", promised.isoformat())
    page.click("button:has-text('Record promise')")
    expect(page.locator(".msg.success")).to_contain_text(f"Promise of 300.00 by {promised.isoformat()} recorded.")
    expect(page.locator("#case-state")).to_have_text("Promise to pay")

    # The day after the promised date, end of day finds no money came in.
    assert promises_review(chunk(promised + datetime.timedelta(days=1))) == 2

    page.click("nav >> text=Collections")
    row = page.locator(f"#case-queue tr[data-case='{case.pk}']")
    expect(row).to_contain_text("In progress")
    expect(row.locator(".broken")).to_have_text("1 broken promise")
    row.locator(f"text=Case #{case.pk}").click()
    expect(page.locator("#promises")).to_contain_text("Broken")
    expect(page.locator("#broken-promises")).to_have_text("1 broken promise")
    expect(page.locator(".timeline")).to_contain_text("Promise broken")
