from apps.financing.models import ApplicationState, FinancingApplication, Pledge


def test_merchant_applies_sees_the_offer_and_accepts(client, merchant_user, verified, graded, open_orders):
    merchant = graded(verified, "A")
    orders = open_orders(merchant, 4)
    client.force_login(merchant_user)
    response = client.post("/portal/apply/", {"order": [orders[0].pk, orders[1].pk], "amount": "1500.00"})
    application = FinancingApplication.objects.get()
    assert response.url == f"/portal/applications/{application.pk}/"
    page = client.get(response.url).content.decode()
    assert "Your offer" in page and "nothing is deducted upfront" in page and "APR" in page
    accepted = client.post(response.url, follow=True).content.decode()
    assert "Offer accepted and 1,500.00 disbursed in full" in accepted and "Your loan" in accepted
    assert FinancingApplication.objects.get().state == ApplicationState.DISBURSED
    assert Pledge.objects.count() == 2
    assert "Disbursed" in client.get("/portal/applications/").content.decode()


def test_an_amount_above_the_base_is_explained_on_the_orders_page(client, merchant_user, verified, graded,
                                                                   open_orders):
    merchant = graded(verified, "A")
    orders = open_orders(merchant, 4)
    client.force_login(merchant_user)
    response = client.post("/portal/apply/", {"order": [orders[0].pk], "amount": "99999.00"}, follow=True)
    assert "support at most 900.00" in response.content.decode()
    assert not FinancingApplication.objects.exists()


def test_another_merchants_application_is_not_found(client, merchant_user, other_merchant_user, verified, graded,
                                                     open_orders):
    from apps.financing.application_services import application_submit

    merchant = graded(verified, "A")
    application = application_submit(merchant=merchant, order_ids=[o.pk for o in open_orders(merchant, 4)[:1]],
                                     amount="100.00", actor="x")
    client.force_login(other_merchant_user)
    assert client.get(f"/portal/applications/{application.pk}/").status_code == 404
    assert client.post(f"/portal/applications/{application.pk}/").status_code == 404
