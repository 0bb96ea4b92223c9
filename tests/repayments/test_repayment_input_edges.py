"""The edges of a repayment's input: the longest references offered, references that look like a reversal's,
dates before the loan, odd order ids and closed loans in a pledge, and whose entries a timeline shows."""

import datetime
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test import Client

from apps.accounts.models import Role
from apps.financing.disbursement import loan_disburse
from apps.financing.models import Pledge, PresaleOrder
from apps.ledger.models import JournalEntry
from apps.repayments.collateral import pledges_add
from apps.repayments.models import Loan, LoanState, Repayment
from apps.repayments.selectors import loan_timeline
from apps.repayments.services import repayment_post
from tests.conftest import TODAY


def _loan_ids_from(n: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('repayments_loan', 'id'), %s, false)", [n])


def _signed_in(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def loan(accepted):
    return loan_disburse(application=accepted("1500.00"), actor="treasurer")


@pytest.mark.parametrize("amount", ["10.00", "5000.00"])  # the one-statement path; a payoff, the general one
def test_a_100_character_reference_posts_on_a_loan_with_a_long_id(accepted, amount):
    _loan_ids_from(10_000_000)
    loan = loan_disburse(application=accepted("1500.00"), actor="treasurer")
    repayment = repayment_post(loan=loan, amount=D(amount), source="backoffice", reference="y" * 100, actor="t")
    assert repayment.reference == "y" * 100
    assert len(repayment.journal_entry.reference) > 120


def test_the_portal_and_the_bank_api_take_the_longest_reference_they_offer(merchant_user, bank_api, colent_loan, loan):
    page = _signed_in(merchant_user).post(f"/portal/loans/{loan.pk}/", {"amount": "10.00", "reference": "x" * 100})
    assert page.status_code == 302 and Repayment.objects.filter(loan=loan, reference="x" * 100).exists()
    body = {"amount": "200.00", "currency": "CNY", "reference": "R" * 100, "received_on": str(TODAY)}
    assert bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", body, format="json").status_code == 201


def test_no_payment_reference_can_take_the_reference_of_a_later_reversal(merchant_user, staff, loan):
    merchant = _signed_in(merchant_user)
    merchant.post(f"/portal/loans/{loan.pk}/", {"amount": "100.00", "reference": "abc"})
    bounced = Repayment.objects.get(loan=loan, reference="abc")
    for forged in ("abc:reversed", f"abc:reversal:{bounced.journal_entry_id}", f"reversal:{bounced.journal_entry_id}"):
        merchant.post(f"/portal/loans/{loan.pk}/", {"amount": "1.00", "reference": forged})
    assert Repayment.objects.filter(loan=loan).count() == 4
    _signed_in(staff[Role.TREASURER]).post(f"/backoffice/loans/{loan.pk}/repayments/{bounced.pk}/reverse/",
                                           {"reason": "Bounced"})
    assert Repayment.objects.get(pk=bounced.pk).reversed_at is not None
    assert Repayment.objects.filter(loan=loan, reversed_at__isnull=True).count() == 3  # the later ones, replayed


@pytest.mark.parametrize("received_on", ["0001-01-01", "start-1"])
def test_the_bank_cannot_date_a_repayment_before_the_loan(bank_api, colent_loan, received_on):
    if received_on == "start-1":
        received_on = str(colent_loan.start_date - datetime.timedelta(days=1))
    body = {"amount": "200.00", "currency": "CNY", "reference": "HB-OLD", "received_on": received_on}
    response = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "RECEIVED_BEFORE_LOAN"
    assert [(e["field"], e["code"], "started on" in e["message"]) for e in response.json()["errors"]] == [
        ("received_on", "RECEIVED_BEFORE_LOAN", True)]
    assert not Repayment.objects.exists() and not JournalEntry.objects.filter(reference__contains="HB-OLD").exists()


def test_a_non_ascii_digit_is_not_an_order_id(merchant_user, loan):
    response = _signed_in(merchant_user).post(f"/portal/loans/{loan.pk}/", {"pledge": "1", "order": "\u00b2"}, follow=True)
    assert response.status_code == 200
    assert "Select at least one order" in response.content.decode()


def test_a_paid_off_loan_takes_no_pledges(merchant, loan):
    repayment_post(loan=loan, amount=D("5000.00"), source="portal", reference="all", actor="m", received_on=TODAY)
    assert Loan.objects.get(pk=loan.pk).state == LoanState.PAID_OFF
    free = PresaleOrder.objects.filter(merchant=merchant).exclude(
        pk__in=Pledge.objects.filter(released_at__isnull=True).values("order_id")).first()
    before = Pledge.objects.filter(released_at__isnull=True).count()
    with pytest.raises(Exception, match="takes no more pledges"):
        pledges_add(loan=loan, order_ids=[free.pk], actor="m", as_of=TODAY)
    assert Pledge.objects.filter(released_at__isnull=True).count() == before


def test_a_timeline_shows_no_other_loans_payoff_release(accepted):
    first = loan_disburse(application=accepted("1000.00", slice(0, 2)), actor="treasurer")
    _loan_ids_from(first.pk * 10)
    second = loan_disburse(application=accepted("1000.00", slice(2, 4)), actor="treasurer")
    from apps.repayments.accrual import loan_accrue

    loan_accrue(loan=second, through=TODAY + datetime.timedelta(days=5), actor="eod")
    repayment_post(loan=second, amount=D("5000.00"), source="backoffice", reference="X", actor="t")
    release = JournalEntry.objects.filter(reference__startswith=f"payoff-accrual-release:{second.pk}").first()
    assert release is not None
    assert not [e for e in loan_timeline(loan=first) if release.reference in e.reason]
    assert [e for e in loan_timeline(loan=second) if release.reference in e.reason]


def test_one_answer_names_every_field_the_bank_got_wrong(bank_api, colent_loan):
    body = {"amount": "1e2", "currency": "USD", "reference": "HB-ALL",
            "received_on": str(colent_loan.start_date - datetime.timedelta(days=1))}
    response = bank_api.post(f"/api/v1/loans/{colent_loan.pk}/repayments/", body, format="json")
    assert response.status_code == 400
    assert sorted(e["field"] for e in response.json()["errors"]) == ["amount", "currency", "received_on"]
    assert not Repayment.objects.exists()
