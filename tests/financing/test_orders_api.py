"""The marketplace pushes pre-sale orders and their status changes through /api/v1/."""

import pytest

from apps.financing.models import OrderState, PresaleOrder
from tests.financing.test_orders import ORDER
from tests.merchants.factories import MerchantFactory


@pytest.fixture
def orders_url(merchant):
    return f"/api/v1/merchants/{merchant.pk}/orders/"


def test_orders_are_ingested_and_a_resend_changes_nothing(marketplace_api, orders_url):
    body = {"orders": [ORDER, {**ORDER, "external_id": "A-2"}]}
    first = marketplace_api.post(orders_url, body, format="json")
    assert (first.status_code, first.json()) == (201, {"created": 2, "unchanged": 0})
    again = marketplace_api.post(orders_url, body, format="json")
    assert again.json() == {"created": 0, "unchanged": 2}
    listed = marketplace_api.get(orders_url).json()
    assert listed["count"] == 2 and listed["results"][0]["paid_amount"] == "200.00"


def test_a_bad_row_rejects_the_batch_with_row_messages(marketplace_api, orders_url):
    response = marketplace_api.post(orders_url, {"orders": [ORDER, {**ORDER, "external_id": "B", "currency": "USD"}]},
                                    format="json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "ORDER_ROWS_INVALID"
    assert response.json()["errors"] == [{"row": 2, "field": "currency",
                                          "message": "USD is not accepted; orders must be in CNY", "code": None}]
    assert not PresaleOrder.objects.exists()


def test_status_events_drive_the_lifecycle_and_impossible_ones_are_409(marketplace_api, orders_url):
    marketplace_api.post(orders_url, {"orders": [ORDER]}, format="json")
    events = f"{orders_url}A-1/events/"
    assert marketplace_api.post(events, {"event": "shipped"}, format="json").json()["state"] == "shipped"
    refused = marketplace_api.post(events, {"event": "shipped"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "INVALID_TRANSITION"
    assert "that is shipped" in refused.json()["detail"]
    unknown = marketplace_api.post(events, {"event": "teleported"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "VALIDATION_ERROR"
    assert PresaleOrder.objects.get().state == OrderState.SHIPPED


def test_another_lenders_merchant_and_unknown_orders_are_404(marketplace_api, other_lender, orders_url):
    foreign = MerchantFactory(lender=other_lender)
    response = marketplace_api.post(f"/api/v1/merchants/{foreign.pk}/orders/", {"orders": [ORDER]}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    assert marketplace_api.post(f"{orders_url}NOPE/events/", {"event": "shipped"}, format="json").status_code == 404
    assert not PresaleOrder.objects.exists()


def test_orders_filter_by_state(marketplace_api, orders_url):
    marketplace_api.post(orders_url, {"orders": [ORDER, {**ORDER, "external_id": "A-2"}]}, format="json")
    marketplace_api.post(f"{orders_url}A-2/events/", {"event": "cancelled"}, format="json")
    assert [o["external_id"] for o in marketplace_api.get(f"{orders_url}?state=cancelled").json()["results"]] == ["A-2"]
    assert marketplace_api.get(f"{orders_url}?state=bogus").status_code == 400


def test_a_partner_bank_cannot_push_orders(bank_api, orders_url):
    assert bank_api.post(orders_url, {"orders": [ORDER]}, format="json").status_code == 403


def test_an_order_id_with_a_slash_takes_events(marketplace_api, orders_url):
    marketplace_api.post(orders_url, {"orders": [{**ORDER, "external_id": "shop/7"}]}, format="json")
    response = marketplace_api.post(f"{orders_url}shop/7/events/", {"event": "shipped"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "shipped"


@pytest.mark.parametrize("amount,field", [(5999.5, "settled_amount"), ("-1", "settled_amount"), ("NaN", "settled_amount")])
def test_a_settled_amount_is_a_decimal_string_refused_field_by_field(marketplace_api, orders_url, amount, field):
    marketplace_api.post(orders_url, {"orders": [ORDER]}, format="json")
    events = f"{orders_url}A-1/events/"
    for event in ("shipped", "delivered"):
        marketplace_api.post(events, {"event": event}, format="json")
    response = marketplace_api.post(events, {"event": "settled", "settled_amount": amount}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == field
    assert PresaleOrder.objects.get().state == OrderState.DELIVERED
