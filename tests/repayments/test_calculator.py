import pytest

from apps.accounts.models import Role

QUERY = {"method": "equal_installment", "principal": "100000.00", "annual_rate": "0.1200", "term_months": "12",
         "start": "2026-01-15"}


@pytest.mark.parametrize("face", ["portal", "backoffice"])
def test_the_calculator_shows_the_schedule_and_apr(client, merchant_user, staff, face):
    client.force_login(merchant_user if face == "portal" else staff[Role.COLLECTOR])
    body = client.get(f"/{face}/calculator/", QUERY).content.decode()
    assert "8,884.88" in body and "6,618.53" in body and 'id="calc-apr">12.74%<' in body  # amounts and rates as people read them


def test_bad_input_is_explained(client, merchant_user):
    client.force_login(merchant_user)
    response = client.get("/portal/calculator/", {**QUERY, "principal": "-1", "term_months": "0"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "greater than or equal to 0.01" in body and "greater than or equal to 1" in body


@pytest.mark.parametrize("method", ["equal_installment", "equal_principal", "interest_only", "bullet"])
def test_a_start_too_near_the_end_of_the_calendar_is_refused_not_a_500(client, merchant_user, method):
    client.force_login(merchant_user)
    query = {**QUERY, "method": method, "day_count": "ACT/360"}
    response = client.get("/portal/calculator/", {**query, "start": "9999-06-01"})
    assert response.status_code == 400 and "31 December 9999" in response.content.decode()
    assert client.get("/portal/calculator/", {**query, "start": "9998-01-15"}).status_code == 200
