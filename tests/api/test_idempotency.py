"""Idempotency-Key on POST: a retried request is answered from the first one, never done twice."""

import json
import threading

import psycopg
import pytest
from django.db import connection
from psycopg.conninfo import make_conninfo

from apps.api.models import IdempotencyRecord
from apps.core.models import AuditEvent
from apps.merchants.models import CreditAssessment, DailySales
from apps.partners.models import ApiClientKind
from tests.api.conftest import api_as, days_ago, logged_in_api, problem, registered_client, sales_row, token_request


def _imports() -> int:
    return AuditEvent.objects.filter(action="sales_imported").count()


def _post(api, url, rows, key):
    return api.post(url, {"rows": rows}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(marketplace_api, sales_url):
    rows = [sales_row(days_ago(1)), sales_row(days_ago(2))]
    first = _post(marketplace_api, sales_url, rows, "import-0001")
    again = _post(marketplace_api, sales_url, rows, "import-0001")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert _imports() == 1 and CreditAssessment.objects.count() == 1


def test_a_retry_that_writes_the_same_json_differently_is_the_same_request(marketplace_api, sales_url):
    rows = [sales_row(days_ago(1))]
    first = _post(marketplace_api, sales_url, rows, "import-0009")
    reordered = json.dumps({"rows": [dict(reversed(list(row.items()))) for row in rows]}, indent=2)
    again = marketplace_api.post(sales_url, reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="import-0009")
    assert again.status_code == first.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert _imports() == 1


def test_without_a_key_each_post_does_the_work(marketplace_api, sales_url):
    rows = [sales_row(days_ago(1))]
    for _ in range(2):
        assert "Idempotent-Replayed" not in marketplace_api.post(sales_url, {"rows": rows}, format="json")
    assert _imports() == 2


def test_the_same_key_with_a_different_body_is_422_and_writes_nothing(marketplace_api, sales_url):
    _post(marketplace_api, sales_url, [sales_row(days_ago(1))], "import-0002")
    response = _post(marketplace_api, sales_url, [sales_row(days_ago(2))], "import-0002")
    assert response.status_code == 422 and problem(response)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert not DailySales.objects.filter(date=days_ago(2)).exists()
    assert _imports() == 1 and CreditAssessment.objects.count() == 1


def test_the_same_key_on_another_merchant_is_422(marketplace_api, sales_url, other_merchant_user):
    rows = [sales_row(days_ago(1))]
    _post(marketplace_api, sales_url, rows, "import-0003")
    response = _post(marketplace_api, f"/api/v1/merchants/{other_merchant_user.merchant.pk}/sales/", rows,
                     "import-0003")
    assert response.status_code == 422 and problem(response)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert not DailySales.objects.filter(merchant=other_merchant_user.merchant).exists()


def test_a_failed_request_stores_nothing_so_a_corrected_retry_with_the_same_key_succeeds(marketplace_api, sales_url):
    bad = _post(marketplace_api, sales_url, [sales_row(days_ago(1), gross="-1")], "import-0004")
    assert bad.status_code == 400 and problem(bad)["code"] == "SALES_ROWS_INVALID"
    assert not IdempotencyRecord.objects.exists()
    fixed = _post(marketplace_api, sales_url, [sales_row(days_ago(1))], "import-0004")
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed
    assert _imports() == 1


def test_a_too_long_key_is_refused_before_any_work(marketplace_api, sales_url):
    response = _post(marketplace_api, sales_url, [sales_row(days_ago(1))], "k" * 256)
    assert response.status_code == 400 and problem(response)["code"] == "IDEMPOTENCY_KEY_INVALID"
    assert not DailySales.objects.exists() and not IdempotencyRecord.objects.exists()


def test_keys_are_scoped_per_client(marketplace_api, sales_url, lender, admin):
    other, secret = registered_client(lender=lender, actor=admin, kind=ApiClientKind.MARKETPLACE,
                                      client_id="second-marketplace")
    first = _post(marketplace_api, sales_url, [sales_row(days_ago(1))], "shared-key")
    second = _post(logged_in_api(other, secret), sales_url, [sales_row(days_ago(2))], "shared-key")
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert _imports() == 2 and DailySales.objects.count() == 2


def test_a_replay_needs_a_valid_token(marketplace_api, sales_url):
    rows = [sales_row(days_ago(1))]
    _post(marketplace_api, sales_url, rows, "import-0005")
    response = _post(api_as("stolen-key-but-no-token"), sales_url, rows, "import-0005")
    assert response.status_code == 401 and problem(response)["code"] == "UNAUTHENTICATED"


def _other_connection() -> psycopg.Connection:
    """A second, real connection to the test database (as a concurrent request would have)."""
    settings = connection.settings_dict
    params = {"dbname": settings["NAME"], "user": settings["USER"], "password": settings["PASSWORD"],
              "host": settings["HOST"], "port": settings["PORT"]}
    return psycopg.connect(make_conninfo(**{k: str(v) for k, v in params.items() if v}))


@pytest.mark.django_db(transaction=True)
def test_a_key_still_in_flight_is_409_then_succeeds_once_the_first_request_ends(marketplace_api, marketplace_client,
                                                                                 sales_url):
    rows = [sales_row(days_ago(1))]
    with _other_connection() as other:
        other.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                      [f"api:{marketplace_client.application.client_id}|import-0006"])
        busy = _post(marketplace_api, sales_url, rows, "import-0006")
        assert busy.status_code == 409 and problem(busy)["code"] == "IDEMPOTENCY_KEY_IN_FLIGHT"
        assert not DailySales.objects.exists() and not IdempotencyRecord.objects.exists()
        other.rollback()  # the first request ends (here: without having stored a result)
        done = _post(marketplace_api, sales_url, rows, "import-0006")
    assert done.status_code == 201 and "Idempotent-Replayed" not in done
    assert _imports() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_do_the_work_once(marketplace, sales_url):
    client, secret = marketplace
    access_token = token_request(client.application.client_id, secret).json()["access_token"]
    rows = [sales_row(days_ago(n)) for n in range(1, 31)]
    start, results = threading.Barrier(8), []

    def send():
        try:
            api = api_as(access_token)
            start.wait()
            response = _post(api, sales_url, rows, "import-burst")
            results.append((response.status_code, response.get("Idempotent-Replayed"), response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    executed = [body for status, replayed, body in results if status == 201 and not replayed]
    replayed = [body for status, replayed, body in results if status == 201 and replayed == "true"]
    in_flight = [body for status, _, body in results if status == 409]
    assert len(executed) == 1 and len(executed) + len(replayed) + len(in_flight) == 8
    assert all(body == executed[0] for body in replayed)
    assert all(body["code"] == "IDEMPOTENCY_KEY_IN_FLIGHT" for body in in_flight)
    assert _imports() == 1 and CreditAssessment.objects.count() == 1 and DailySales.objects.count() == 30
    assert IdempotencyRecord.objects.count() == 1
    retry = _post(api_as(access_token), sales_url, rows, "import-burst")
    assert (retry.status_code, retry["Idempotent-Replayed"], retry.json()) == (201, "true", executed[0])
