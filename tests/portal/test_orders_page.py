from apps.financing.models import PresaleOrder
from tests.financing.test_orders import ORDER

HEADER = ",".join(ORDER)


def _csv(*lines):
    from tests.helpers import sales_csv

    return sales_csv(list(lines), header=HEADER)


def test_merchant_uploads_orders_and_sees_their_eligibility(client, merchant_user):
    client.force_login(merchant_user)
    response = client.post("/portal/orders/", {"file": _csv(",".join(ORDER.values()))})
    assert response.status_code == 302
    page = client.get("/portal/orders/").content.decode()
    assert "A-1" in page and "Financing needs verified KYC; yours is draft." in page


def test_a_bad_orders_csv_imports_nothing_and_lists_the_line(client, merchant_user):
    client.force_login(merchant_user)
    bad = ",".join(ORDER.values()).replace("A-1", "A-2").replace("CNY", "EUR")
    response = client.post("/portal/orders/", {"file": _csv(",".join(ORDER.values()), bad)})
    assert response.status_code == 400
    assert "EUR is not accepted" in response.content.decode()
    assert not PresaleOrder.objects.exists()


def test_merchants_see_only_their_own_orders(client, merchant_user, other_merchant_user):
    from tests.financing.factories import PresaleOrderFactory

    PresaleOrderFactory(merchant=other_merchant_user.merchant, external_id="THEIRS-1")
    client.force_login(merchant_user)
    assert "THEIRS-1" not in client.get("/portal/orders/").content.decode()
