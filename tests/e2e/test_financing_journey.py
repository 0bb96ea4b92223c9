"""A verified merchant picks orders, applies, reads the offer, accepts it and is paid."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_merchant_borrows_against_presale_orders(new_page, merchant_user, verified, graded, open_orders):
    merchant = graded(verified, "A")
    orders = open_orders(merchant, 4)

    page = new_page()
    page.goto("/portal/login/")
    page.fill("[name=username]", merchant_user.username)
    page.fill("[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.click("text=Orders & borrowing base")
    expect(page.locator("#borrowing-base")).to_have_text("3,600.00")

    page.check(f"[name=order][value='{orders[0].pk}']")
    page.check(f"[name=order][value='{orders[1].pk}']")
    page.fill("[name=amount]", "1500.00")
    page.click("button:has-text('Apply for financing')")
    expect(page.locator("h1")).to_contain_text("Approved")
    expect(page.locator(".terms")).to_contain_text("1,500.00")
    expect(page.locator("#offer-apr")).not_to_be_empty()

    page.click("button:has-text('Accept offer')")
    expect(page.locator(".msg.success")).to_contain_text("1,500.00 disbursed in full")
    expect(page.locator("h1")).to_contain_text("Disbursed")
    page.click("text=Orders & borrowing base")
    expect(page.locator("#borrowing-base")).to_have_text("2,100.00")
