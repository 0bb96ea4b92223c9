"""Partial prepayment: the merchant chooses fewer months or lower installments; the rest is recomputed exactly.

Every expected figure below was worked out outside the app with exact fractions and explicit half-up
rounding (r = 6% ÷ 12 = 0.005 a month; interest = balance × r to the cent; the last month absorbs the rest).
"""

import datetime
from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.core.audit import audit_trail_for
from apps.core.errors import Conflict, ValidationFailed
from apps.ledger.models import JournalEntry
from apps.ledger.selectors import trial_balance_all_currencies_zero
from apps.partners.models import CoLendingAgreement
from apps.repayments.accrual import accrued_through, loan_accrue
from apps.repayments.models import Repayment, ScheduleRevision
from apps.repayments.selectors import reconciliation_get
from apps.repayments.services import repayment_post, repayment_reverse
from tests.conftest import TODAY
from tests.term_loans import schedule_state

D = Decimal
LEVEL = D("1032.80")  # 12,000.00, 12 months, 6%: 12000 × 0.005 / (1 − 1.005^−12) → 1,032.80


def _rows(loan, first=1):
    return [(str(i.principal_due), str(i.interest_due)) for i in loan.installments.filter(number__gte=first)]


def _pay(loan, amount, reference, on, choice="reduce_installment"):
    return repayment_post(loan=loan, amount=D(amount), source="portal", reference=reference, actor="m", received_on=on,
                          prepayment=choice)


def _books_reconcile(lender):
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    assert trial_balance_all_currencies_zero(lender=lender)


def _two_months_paid(loan):
    rows = list(loan.installments.all())
    _pay(loan, LEVEL, "m1", rows[0].due_date)
    _pay(loan, LEVEL, "m2", rows[1].due_date)
    return rows


# On installment 3's due date the merchant pays it (1,032.80) and 3,000.00 more. The balance after installment 3
# is 9,066.99; after the prepayment 6,066.99 is left for installments 4–12.
REDUCE_TERM_ROWS = [("1002.47", "30.33"), ("1007.48", "25.32"), ("1012.51", "20.29"), ("1017.58", "15.22"),
                    ("1022.67", "10.13"), ("1004.28", "5.02")]  # the level 1,032.80 kept; 6 months instead of 9
REDUCE_INSTALLMENT_ROWS = [("660.74", "30.33"), ("664.04", "27.03"), ("667.36", "23.71"), ("670.70", "20.37"),
                           ("674.05", "17.02"), ("677.42", "13.65"), ("680.81", "10.26"), ("684.21", "6.86"),
                           ("687.66", "3.44")]  # 9 months at 6066.99 × 0.005 / (1 − 1.005^−9) → 691.07


@pytest.mark.parametrize("choice, expected", [("reduce_term", REDUCE_TERM_ROWS),
                                              ("reduce_installment", REDUCE_INSTALLMENT_ROWS)])
def test_a_prepayment_on_a_due_date_recomputes_the_months_after_it(term_loan, lender, choice, expected):
    loan = term_loan()
    rows = _two_months_paid(loan)
    repayment = _pay(loan, LEVEL + 3000, "m3", rows[2].due_date, choice)

    assert [(a.component, a.amount) for a in repayment.allocations.all()] == [("interest", D("50.25")),
                                                                               ("principal", D("3982.55"))]
    third = loan.installments.get(number=3)
    assert (third.principal_due, third.principal_paid, third.interest_due) == (D("3982.55"), D("3982.55"), D("50.25"))
    assert _rows(loan, first=4) == expected
    assert sum(i.principal_due for i in loan.installments.all()) == D("12000.00")
    loan.refresh_from_db()
    assert loan.maturity_date == rows[3 + len(expected) - 1].due_date  # the original due dates are kept
    revision = ScheduleRevision.objects.get(loan=loan)
    assert (revision.repayment_id, revision.choice, revision.prepaid) == (repayment.pk, choice, D("3000.00"))
    event = audit_trail_for(loan).get(action="schedule_recomputed")
    assert event.actor_label == "m" and event.data["prepaid"] == "3000.00" and event.data["months_after"] == len(expected)
    _books_reconcile(lender)


# On the start date nothing has accrued: 5,000.00 pays installment 1's principal (972.80) and prepays 4,027.20,
# leaving 7,000.00 for installments 2–12. Installment 1's interest (60.00) stays: its month has begun.
@pytest.mark.parametrize("choice, expected", [
    ("reduce_installment", [("620.61", "35.00"), ("623.71", "31.90"), ("626.83", "28.78"), ("629.97", "25.64"),
                            ("633.12", "22.49"), ("636.28", "19.33"), ("639.46", "16.15"), ("642.66", "12.95"),
                            ("645.87", "9.74"), ("649.10", "6.51"), ("652.39", "3.26")]),  # level 655.61
    ("reduce_term", [("997.80", "35.00"), ("1002.79", "30.01"), ("1007.80", "25.00"), ("1012.84", "19.96"),
                     ("1017.91", "14.89"), ("1023.00", "9.80"), ("937.86", "4.69")]),
])
def test_a_prepayment_early_in_a_month_keeps_that_months_interest(term_loan, lender, choice, expected):
    loan = term_loan()
    _pay(loan, "5000.00", "early", TODAY, choice)
    first = loan.installments.get(number=1)
    assert (first.principal_due, first.principal_paid, first.interest_due, first.interest_paid) == (
        D("5000.00"), D("5000.00"), D("60.00"), D("0.00"))
    assert _rows(loan, first=2) == expected
    _books_reconcile(lender)


@pytest.mark.parametrize("choice, expected", [
    # 等额本金 12,000.00: 1,000.00 a month. Months 1–3 paid (3,000.00) and 2,500.00 more on month 3's due date:
    # 6,500.00 is left for months 4–12.
    ("reduce_term", [("1000.00", "32.50"), ("1000.00", "27.50"), ("1000.00", "22.50"), ("1000.00", "17.50"),
                     ("1000.00", "12.50"), ("1000.00", "7.50"), ("500.00", "2.50")]),
    ("reduce_installment", [("722.22", "32.50"), ("722.22", "28.89"), ("722.22", "25.28"), ("722.22", "21.67"),
                            ("722.22", "18.06"), ("722.22", "14.44"), ("722.22", "10.83"), ("722.22", "7.22"),
                            ("722.24", "3.61")]),  # 6,500.00 ÷ 9 → 722.22; the last month takes 722.24
])
def test_equal_principal_prepayments(term_loan, lender, choice, expected):
    loan = term_loan(product="term_equal_principal")
    rows = list(loan.installments.all())
    _pay(loan, "1060.00", "m1", rows[0].due_date)
    _pay(loan, "1055.00", "m2", rows[1].due_date)
    _pay(loan, "3550.00", "m3", rows[2].due_date, choice)  # 1,050.00 due + 2,500.00
    assert _rows(loan, first=4) == expected
    assert sum(i.principal_due for i in loan.installments.all()) == D("12000.00")
    _books_reconcile(lender)


def test_an_interest_only_loan_cannot_be_shortened_and_nothing_is_written(term_loan):
    loan = term_loan(product="term_interest_only", months=6)
    entries = JournalEntry.objects.count()
    with pytest.raises(ValidationFailed) as exc:
        _pay(loan, "5000.00", "x", TODAY, "reduce_term")
    assert exc.value.code == "PREPAYMENT_CHOICE_UNSUPPORTED" and exc.value.status == 400
    assert not Repayment.objects.exists() and JournalEntry.objects.count() == entries
    _pay(loan, "5000.00", "y", TODAY, "reduce_installment")
    # 5,000.00 prepaid: months 2–6 earn interest on 7,000.00 (35.00), the balloon is 7,000.00.
    assert _rows(loan) == [("5000.00", "60.00"), ("0.00", "35.00"), ("0.00", "35.00"), ("0.00", "35.00"),
                           ("0.00", "35.00"), ("7000.00", "35.00")]


def test_an_unknown_choice_is_refused(term_loan):
    loan = term_loan()
    with pytest.raises(ValidationFailed) as exc:
        _pay(loan, "5000.00", "x", TODAY, "reduce_everything")
    assert exc.value.code == "PREPAYMENT_CHOICE_INVALID" and not Repayment.objects.exists()


def test_a_bullet_advance_ignores_the_choice(accepted):
    from apps.financing.disbursement import loan_disburse

    loan = loan_disburse(application=accepted("1000.00"), actor="t")
    _pay(loan, "400.00", "p", TODAY, "reduce_term")
    assert loan.installments.count() == 1 and not ScheduleRevision.objects.exists()


def test_paying_everything_is_a_payoff_not_a_reshape(term_loan):
    loan = term_loan()
    _pay(loan, "12000.00", "all", TODAY, "reduce_term")
    loan.refresh_from_db()
    assert loan.state == "paid_off"
    assert not ScheduleRevision.objects.filter(reason="prepayment").exists()


def test_a_backdated_prepayment_releases_interest_accrued_on_recomputed_months(term_loan, lender):
    loan = term_loan()
    rows = list(loan.installments.all())
    loan.penalty_annual_rate = D("0")
    loan.save(update_fields=["penalty_annual_rate"])
    later = rows[1].due_date + datetime.timedelta(days=5)
    loan_accrue(loan=loan, through=later, actor="eod")  # month 2 fully accrued, month 3 five days in
    _pay(loan, "5000.00", "backdated", TODAY)  # received on the start date, posted afterwards
    _books_reconcile(lender)
    assert all(i.interest_accrued == 0 for i in loan.installments.filter(number__gt=1))
    loan_accrue(loan=loan, through=later, actor="eod")  # the next accrual catches the new amounts up
    new = list(loan.installments.all())
    assert new[1].interest_accrued == new[1].interest_due == D("35.00")
    assert new[2].interest_accrued == accrued_through(due=new[2].interest_due, period_start=new[1].due_date,
                                                      period_end=new[2].due_date, through=later)
    _books_reconcile(lender)


def test_a_backdated_prepayment_over_penalised_months_is_refused(term_loan):
    loan = term_loan()
    rows = list(loan.installments.all())
    loan_accrue(loan=loan, through=rows[1].due_date + datetime.timedelta(days=5), actor="eod")  # month 2 overdue
    with pytest.raises(Conflict) as exc:
        _pay(loan, "5000.00", "backdated", TODAY)
    assert exc.value.code == "PREPAYMENT_NOT_POSSIBLE" and "installment #2" in exc.value.message
    assert not Repayment.objects.exists()


def test_reversing_a_prepayment_restores_the_schedule_and_replays_the_rest(term_loan, lender):
    bounced_loan, clean_loan = term_loan(), term_loan()
    rows = list(bounced_loan.installments.all())
    for loan in (bounced_loan, clean_loan):
        _pay(loan, LEVEL, "m1", rows[0].due_date)
    before = schedule_state(bounced_loan)
    bounced = _pay(bounced_loan, "4000.00", "big", rows[0].due_date + datetime.timedelta(days=3), "reduce_term")
    for loan in (bounced_loan, clean_loan):
        _pay(loan, "2500.00", "later", rows[1].due_date, "reduce_installment")
    assert schedule_state(bounced_loan) != schedule_state(clean_loan)

    repayment_reverse(repayment=bounced, actor="treasurer", reason="Bounced")

    for loan in (bounced_loan, clean_loan):
        loan_accrue(loan=loan, through=rows[1].due_date, actor="eod")
    assert schedule_state(bounced_loan) == schedule_state(clean_loan)
    assert schedule_state(bounced_loan) != before
    assert ScheduleRevision.objects.filter(loan=bounced_loan, reverted_at__isnull=False).count() == 2
    assert audit_trail_for(bounced_loan).filter(action="schedule_restored").exists()
    _books_reconcile(lender)


def test_the_merchant_chooses_in_the_portal(client, merchant_user, term_loan):
    loan = term_loan()
    client.force_login(merchant_user)
    page = client.get(f"/portal/loans/{loan.pk}/").content.decode()
    assert 'name="prepayment"' in page and "recomputed as you choose" in page
    response = client.post(f"/portal/loans/{loan.pk}/", {"amount": "5000.00", "reference": "web-1",
                                                        "prepayment": "reduce_term"}, follow=True)
    assert "Payment of 5,000.00 received." in response.content.decode()
    assert loan.installments.count() == 8 and Repayment.objects.get().prepayment == "reduce_term"
    bad = client.post(f"/portal/loans/{loan.pk}/", {"amount": "100.00", "reference": "web-2", "prepayment": "both"})
    assert bad.status_code == 400 and "Select a valid choice" in bad.content.decode()
    assert Repayment.objects.count() == 1


def test_the_treasurer_records_a_prepayment_with_the_merchants_choice(client, staff, term_loan):
    loan = term_loan()
    client.force_login(staff[Role.TREASURER])
    page = client.get(f"/backoffice/loans/{loan.pk}/").content.decode()
    assert "Same installment, fewer months" in page
    response = client.post(f"/backoffice/loans/{loan.pk}/", {"amount": "5000.00", "reference": "bo-1",
                                                            "prepayment": "reduce_term"}, follow=True)
    assert "Repayment recorded." in response.content.decode() and loan.installments.count() == 8
    bad = client.post(f"/backoffice/loans/{loan.pk}/", {"amount": "0", "reference": "bo-2"}, follow=True)
    assert "Amount: Ensure this value is greater than or equal to 0.01." in bad.content.decode()
    assert Repayment.objects.count() == 1


@pytest.fixture
def colent_term_loan(term_loan, lender, bank_client):
    CoLendingAgreement.objects.create(lender=lender, partner_bank=bank_client.partner_bank, share=D("0.5000"),
                                      annual_rate=D("0.05"), exposure_limit=D("100000.00"), auto_accept=True,
                                      effective_from=TODAY)
    return term_loan()


def test_a_partner_bank_posts_a_prepayment_with_a_choice(bank_api, colent_term_loan, lender):
    loan = colent_term_loan
    assert loan.partner_principal == D("6000.00")
    url = f"/api/v1/loans/{loan.pk}/repayments/"
    body = {"amount": "5000.00", "currency": "CNY", "reference": "HB-1", "received_on": str(TODAY)}
    bad = bank_api.post(url, {**body, "prepayment": "shorter"}, format="json")
    assert bad.status_code == 400 and "prepayment" in bad.json()["errors"][0]["field"]
    assert not Repayment.objects.exists()
    response = bank_api.post(url, {**body, "prepayment": "reduce_term"}, format="json")
    assert response.status_code == 201 and response.json()["prepayment"] == "reduce_term"
    assert loan.installments.count() == 8
    default = bank_api.post(url, {**body, "amount": "3000.00", "reference": "HB-2"}, format="json")
    assert default.status_code == 201 and default.json()["prepayment"] == "reduce_installment"
    assert loan.installments.count() == 8
    _books_reconcile(lender)
