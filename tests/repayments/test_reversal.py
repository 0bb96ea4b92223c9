import datetime
from decimal import Decimal

from apps.financing.disbursement import loan_disburse
from apps.ledger.selectors import trial_balance_all_currencies_zero
from apps.repayments.models import LoanState, Repayment
from apps.repayments.selectors import merchant_credit_total, reconciliation_get
from apps.repayments.services import repayment_post, repayment_reverse

D = Decimal


def _state(loan):
    return [(i.principal_paid, i.interest_paid, i.fee_paid) for i in loan.installments.order_by("number")]


def _pay(loan, amount, ref, days):
    return repayment_post(loan=loan, amount=D(amount), source="portal", reference=ref, actor="m",
                          received_on=loan.start_date + datetime.timedelta(days=days))


def test_reversing_a_bounced_payment_replays_later_ones_as_if_it_never_happened(accepted, lender):
    bounced_loan = loan_disburse(application=accepted("1500.00", slice(0, 2)), actor="t")
    clean_loan = loan_disburse(application=accepted("1500.00", slice(2, 4)), actor="t")
    bounced = _pay(bounced_loan, "700.00", "a", 5)
    _pay(bounced_loan, "300.00", "b", 12)
    _pay(bounced_loan, "200.00", "c", 20)
    _pay(clean_loan, "300.00", "b", 12)
    _pay(clean_loan, "200.00", "c", 20)

    repayment_reverse(repayment=bounced, actor="treasurer", reason="Cheque bounced")

    assert _state(bounced_loan) == _state(clean_loan)
    replayed = Repayment.objects.filter(loan=bounced_loan, reversed_at__isnull=True).order_by("received_on")
    clean = Repayment.objects.filter(loan=clean_loan).order_by("received_on")
    assert [[(a.component, a.amount) for a in r.allocations.all()] for r in replayed] == \
           [[(a.component, a.amount) for a in r.allocations.all()] for r in clean]
    assert Repayment.objects.get(pk=bounced.pk).reversed_at is not None
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
    assert trial_balance_all_currencies_zero(lender=lender)


def test_reversal_is_idempotent(accepted):
    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    bounced = _pay(loan, "100.00", "a", 3)
    repayment_reverse(repayment=bounced, actor="t", reason="bounced")
    repayment_reverse(repayment=bounced, actor="t", reason="bounced")
    assert _state(loan) == [(D("0.00"), D("0.00"), D("0.00"))]


def test_a_reversal_that_removes_an_overpayment_takes_back_the_credit(accepted):
    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    first = _pay(loan, "100.00", "a", 3)
    _pay(loan, "1400.00", "b", 4)  # with the first payment this would overpay; without it, it falls short
    credit_before = merchant_credit_total(merchants=[loan.merchant])
    repayment_reverse(repayment=first, actor="t", reason="bounced")
    assert merchant_credit_total(merchants=[loan.merchant]) <= credit_before
    assert loan.__class__.objects.get(pk=loan.pk).state == LoanState.ACTIVE


def test_treasurer_reverses_from_the_loan_page(client, staff, accepted):
    from apps.accounts.models import Role

    loan = loan_disburse(application=accepted("1500.00"), actor="t")
    payment = _pay(loan, "100.00", "a", 3)
    client.force_login(staff[Role.TREASURER])
    page = client.post(f"/backoffice/loans/{loan.pk}/repayments/{payment.pk}/reverse/", {"reason": "Bounced"}, follow=True)
    assert "Repayment reversed" in page.content.decode() and "Reversed" in page.content.decode()
    client.force_login(staff[Role.COLLECTOR])
    assert client.post(f"/backoffice/loans/{loan.pk}/repayments/{payment.pk}/reverse/").status_code == 403


def test_penalty_the_bounced_payment_had_prevented_is_accrued_after_the_reversal(accepted, lender):
    from apps.repayments.selectors import payoff_quote

    bounced_loan = loan_disburse(application=accepted("1500.00", slice(0, 2)), actor="t")
    clean_loan = loan_disburse(application=accepted("1500.00", slice(2, 4)), actor="t")
    due = bounced_loan.installments.get().due_date
    early = bounced_loan.start_date + datetime.timedelta(days=10)
    # Ten days in, all but 17.00 of what closes the loan: 17.00 overdue later earns less than half a cent a day,
    # so no penalty ever accrues in the bounced world.
    bounced = repayment_post(loan=bounced_loan, amount=payoff_quote(loan=bounced_loan, on=early)["total"] - D("17.00"),
                             source="portal", reference="a", actor="m", received_on=early)
    for loan in (bounced_loan, clean_loan):
        repayment_post(loan=loan, amount=D("10.00"), source="portal", reference="b", actor="m",
                       received_on=due + datetime.timedelta(days=23))

    repayment_reverse(repayment=bounced, actor="treasurer", reason="Bounced")

    # Without the bounced payment the whole 1,500.00 was overdue for 23 days: 0.42 a day (1500 × 10% ÷ 360).
    assert [(i.penalty_accrued, i.penalty_paid) for i in bounced_loan.installments.all()] == [(D("9.66"), D("9.66"))]
    assert _state(bounced_loan) == _state(clean_loan)
    assert all(row.difference == 0 for row in reconciliation_get(lender=lender))
