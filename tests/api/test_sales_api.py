"""POST/GET /api/v1/merchants/{id}/sales/: the marketplace pushes daily sales, all rows or none."""

from decimal import Decimal

import pytest

from apps.core.models import AuditEvent
from apps.merchants.models import CreditAssessment, DailySales
from tests.api.conftest import days_ago, problem, sales_row
from tests.merchants.factories import MerchantFactory


def _nothing_imported():
    return not DailySales.objects.exists() and not CreditAssessment.objects.exists() and not AuditEvent.objects.filter(
        action="sales_imported").exists()


def test_importing_sales_stores_every_day_and_regrades_the_merchant(marketplace_api, sales_url, merchant):
    rows = [sales_row(days_ago(n), gross="10000.00", orders=40, refunds="120.50") for n in range(1, 41)]
    response = marketplace_api.post(sales_url, {"rows": rows}, format="json")
    assert response.status_code == 201
    body = response.json()
    merchant.refresh_from_db()
    assert body == {"merchant_id": merchant.pk, "imported": 40, "risk_grade": merchant.risk_grade,
                    "score": CreditAssessment.objects.get(merchant=merchant).score,
                    "credit_limit": f"{merchant.credit_limit:.2f}"}
    assert (body["risk_grade"], body["credit_limit"]) == ("C", "106000.00")  # 40 days of 10k: volume, no trend yet
    assert DailySales.objects.filter(merchant=merchant, source="api").count() == 40
    day = DailySales.objects.get(merchant=merchant, date=days_ago(1))
    assert (day.gross_sales, day.order_count, day.refunds, day.currency) == (Decimal("10000.00"), 40,
                                                                              Decimal("120.50"), "CNY")


def test_the_import_is_audited_under_the_api_client(marketplace_api, marketplace_client, sales_url, merchant):
    marketplace_api.post(sales_url, {"rows": [sales_row(days_ago(2)), sales_row(days_ago(1))]}, format="json")
    event = AuditEvent.objects.get(action="sales_imported")
    assert event.actor_label == f"api:{marketplace_client.application.client_id}"
    assert event.data == {"rows": 2, "source": "api", "from": str(days_ago(2)), "to": str(days_ago(1))}


def test_one_bad_row_rejects_the_whole_batch_with_its_row_number(marketplace_api, sales_url):
    rows = [sales_row(days_ago(3)), sales_row(days_ago(2), gross="lots"), sales_row(days_ago(1))]
    response = marketplace_api.post(sales_url, {"rows": rows}, format="json")
    assert response.status_code == 400
    body = problem(response)
    assert body["code"] == "SALES_ROWS_INVALID"
    assert body["detail"] == "1 row(s) have problems; nothing was imported."
    assert body["errors"] == [{"row": 2, "field": "gross_sales", "message": "'lots' is not an amount", "code": None}]
    assert _nothing_imported()


@pytest.mark.parametrize("changes,field,message", [
    ({"gross_sales": "-5.00"}, "gross_sales", "-5.00 is negative"),
    ({"refunds": "-0.01"}, "refunds", "-0.01 is negative"),
    ({"gross_sales": "1e20"}, "gross_sales", "is larger than any plausible amount"),
    ({"chargebacks": "99999999999999999"}, "chargebacks", "is larger than any plausible amount"),
    ({"gross_sales": "10.001"}, "gross_sales", "10.001 has more than 2 decimal places"),
    ({"gross_sales": "NaN"}, "gross_sales", "is not an amount"),
    ({"order_count": -1}, "order_count", "-1 is negative"),
    ({"order_count": "ten"}, "order_count", "'ten' is not a whole number"),
    ({"order_count": "²"}, "order_count", "'²' is not a whole number"),  # a digit to str.isdigit, not to int()
    ({"date": "2026-02-30"}, "date", "is not a date (YYYY-MM-DD)"),
    ({"date": days_ago(-1).isoformat()}, "date", "is in the future"),
    ({"gross_sales": "100.00", "refunds": "60.00", "chargebacks": "50.00"}, "refunds", "exceed gross sales"),
    ({"order_count": None}, "order_count", "is required"),
    ({"date": ""}, "date", "is required"),
])
def test_a_bad_value_is_reported_on_its_row_and_field(marketplace_api, sales_url, changes, field, message):
    rows = [sales_row(days_ago(2)), {**sales_row(days_ago(1)), **changes}]
    response = marketplace_api.post(sales_url, {"rows": rows}, format="json")
    assert response.status_code == 400 and problem(response)["code"] == "SALES_ROWS_INVALID"
    [error] = response.json()["errors"]
    assert (error["row"], error["field"]) == (2, field) and message in error["message"]
    assert _nothing_imported()


def test_an_absurd_order_count_is_a_row_error_not_a_server_error(marketplace_api, sales_url):
    response = marketplace_api.post(sales_url, {"rows": [sales_row(days_ago(1), orders=10**12)]}, format="json")
    assert response.status_code == 400
    assert problem(response)["errors"][0]["field"] == "order_count"


def test_a_day_sent_twice_in_one_batch_is_refused(marketplace_api, sales_url):
    day = days_ago(1)
    response = marketplace_api.post(sales_url, {"rows": [sales_row(day), sales_row(days_ago(2)), sales_row(day)]},
                                    format="json")
    assert response.status_code == 400
    assert problem(response)["errors"] == [{"row": 3, "field": "date", "message": f"{day} already appears on row 1",
                                            "code": None}]
    assert _nothing_imported()


def test_every_bad_row_is_reported_at_once(marketplace_api, sales_url):
    rows = [sales_row(days_ago(1), gross="-1"), sales_row(days_ago(2)), sales_row(days_ago(3), orders="x",
                                                                                 refunds="0.001")]
    errors = problem(marketplace_api.post(sales_url, {"rows": rows}, format="json"))["errors"]
    assert {(e["row"], e["field"]) for e in errors} == {(1, "gross_sales"), (3, "order_count"), (3, "refunds")}


def test_malformed_json_is_400_malformed_request(marketplace_api, sales_url):
    response = marketplace_api.post(sales_url, '{"rows": [', content_type="application/json")
    assert response.status_code == 400 and problem(response)["code"] == "MALFORMED_REQUEST"
    assert _nothing_imported()


@pytest.mark.parametrize("payload", [{}, {"row": []}, {"rows": []}, {"rows": "2026-01-01,1,1,0,0"}, {"rows": ["x"]}])
def test_a_payload_without_a_list_of_row_objects_is_a_validation_error(marketplace_api, sales_url, payload):
    response = marketplace_api.post(sales_url, payload, format="json")
    assert response.status_code == 400
    body = problem(response)
    assert body["code"] == "VALIDATION_ERROR" and body["errors"][0]["field"].startswith("rows")
    assert _nothing_imported()


def test_a_non_json_body_is_415(marketplace_api, sales_url):
    response = marketplace_api.post(sales_url, "date,gross_sales\n", content_type="text/csv")
    assert response.status_code == 415 and problem(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_another_lenders_merchant_is_404_and_nothing_is_written(marketplace_api, other_lender):
    foreign = MerchantFactory(lender=other_lender)
    url = f"/api/v1/merchants/{foreign.pk}/sales/"
    response = marketplace_api.post(url, {"rows": [sales_row(days_ago(1))]}, format="json")
    assert response.status_code == 404 and problem(response)["code"] == "NOT_FOUND"
    assert marketplace_api.get(url).status_code == 404
    assert _nothing_imported()
    foreign.refresh_from_db()
    assert foreign.risk_grade == ""


def test_an_unknown_merchant_is_404(marketplace_api, merchant):
    url = f"/api/v1/merchants/{merchant.pk + 1000}/sales/"
    response = marketplace_api.post(url, {"rows": [sales_row(days_ago(1))]}, format="json")
    assert response.status_code == 404 and problem(response)["code"] == "NOT_FOUND"
    assert problem(marketplace_api.get(url))["code"] == "NOT_FOUND"


def test_resending_a_day_replaces_its_figures(marketplace_api, sales_url, merchant):
    day = days_ago(1)
    marketplace_api.post(sales_url, {"rows": [sales_row(day, gross="1000.00", orders=10)]}, format="json")
    again = marketplace_api.post(sales_url, {"rows": [sales_row(day, gross="2500.00", orders=25, refunds="5.00")]},
                                 format="json")
    assert again.status_code == 201 and again.json()["imported"] == 1
    stored = DailySales.objects.get(merchant=merchant)
    assert (stored.date, stored.gross_sales, stored.order_count, stored.refunds) == (
        day, Decimal("2500.00"), 25, Decimal("5.00"))
    listed = marketplace_api.get(sales_url).json()["results"]
    assert [(r["date"], r["gross_sales"]) for r in listed] == [(str(day), "2500.00")]


def test_sales_are_listed_newest_first_and_paginated(marketplace_api, sales_url):
    marketplace_api.post(sales_url, {"rows": [sales_row(days_ago(n), gross=f"{n}00.00") for n in (3, 1, 5, 2, 4)]},
                         format="json")
    first = marketplace_api.get(sales_url, {"page_size": 2}).json()
    assert first["count"] == 5 and first["previous"] is None
    assert [r["date"] for r in first["results"]] == [str(days_ago(1)), str(days_ago(2))]
    assert first["results"][0] == {"date": str(days_ago(1)), "gross_sales": "100.00", "order_count": 10,
                                   "refunds": "0.00", "chargebacks": "0.00", "currency": "CNY"}
    second = marketplace_api.get(first["next"]).json()
    assert [r["date"] for r in second["results"]] == [str(days_ago(3)), str(days_ago(4))]
    last = marketplace_api.get(second["next"]).json()
    assert [r["date"] for r in last["results"]] == [str(days_ago(5))] and last["next"] is None


def test_listing_shows_only_this_merchants_sales(marketplace_api, sales_url, other_merchant_user):
    marketplace_api.post(sales_url, {"rows": [sales_row(days_ago(1))]}, format="json")
    other_url = f"/api/v1/merchants/{other_merchant_user.merchant.pk}/sales/"
    marketplace_api.post(other_url, {"rows": [sales_row(days_ago(2)), sales_row(days_ago(3))]}, format="json")
    assert marketplace_api.get(sales_url).json()["count"] == 1
    assert marketplace_api.get(other_url).json()["count"] == 2


def test_sales_can_be_filtered_by_date_range_inclusive(marketplace_api, sales_url):
    marketplace_api.post(sales_url, {"rows": [sales_row(days_ago(n)) for n in range(1, 8)]}, format="json")

    def dates(params):
        return [r["date"] for r in marketplace_api.get(sales_url, params).json()["results"]]

    assert dates({"date_after": str(days_ago(3))}) == [str(days_ago(n)) for n in (1, 2, 3)]
    assert dates({"date_before": str(days_ago(6))}) == [str(days_ago(6)), str(days_ago(7))]
    assert dates({"date_after": str(days_ago(5)), "date_before": str(days_ago(4))}) == [str(days_ago(4)),
                                                                                        str(days_ago(5))]


@pytest.mark.parametrize("params,field", [({"date_after": "yesterday"}, "date_after"),
                                          ({"date_before": "2026-13-01"}, "date_before")])
def test_an_invalid_filter_value_is_400(marketplace_api, sales_url, params, field):
    response = marketplace_api.get(sales_url, params)
    assert response.status_code == 400
    body = problem(response)
    assert body["code"] == "VALIDATION_ERROR" and body["errors"][0]["field"] == field
