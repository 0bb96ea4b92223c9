"""The database's CHECKs on installments and allocations (migration repayments 0018): each clause refuses on its own."""

from decimal import Decimal as D

import pytest
from django.db import IntegrityError, transaction

from apps.financing.disbursement import loan_disburse
from apps.repayments.models import LoanInstallment, RepaymentAllocation
from apps.repayments.services import repayment_post


@pytest.fixture
def installment(accepted):
    loan = loan_disburse(application=accepted("1500.00"), actor="treasurer")
    return loan.installments.get()


# A value, or "<field>+": a cent more than that field holds.
@pytest.mark.parametrize("change", [
    {"principal_paid": D("-0.01")}, {"interest_paid": D("-0.01")}, {"fee_paid": D("-0.01")},
    {"interest_accrued": D("-0.01")}, {"fee_accrued": D("-0.01")}, {"penalty_paid": D("-0.01")},
    {"principal_paid": "principal_due+"}, {"interest_paid": "interest_due+"}, {"fee_paid": "fee_due+"},
    {"interest_accrued": "interest_due+"}, {"fee_accrued": "fee_due+"}, {"penalty_paid": "penalty_accrued+"},
    {"principal_due": D("-0.01")}, {"interest_due": D("-0.01")}, {"fee_due": D("-0.01")},
    {"penalty_accrued": D("-0.01")},
], ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()))
def test_an_installment_never_goes_negative_nor_past_what_is_due(installment, change):
    values = {field: getattr(installment, value[:-1]) + D("0.01") if isinstance(value, str) else value
              for field, value in change.items()}
    with pytest.raises(IntegrityError, match="installment_amounts_in_range"), transaction.atomic():
        LoanInstallment.objects.filter(pk=installment.pk).update(**values)


def test_an_installment_may_be_paid_and_accrued_up_to_what_is_due(installment):
    due = {"principal_paid": installment.principal_due, "interest_paid": installment.interest_due,
           "interest_accrued": installment.interest_due, "fee_paid": installment.fee_due,
           "fee_accrued": installment.fee_due, "penalty_accrued": D("1.00"), "penalty_paid": D("1.00")}
    assert LoanInstallment.objects.filter(pk=installment.pk).update(**due) == 1


@pytest.mark.parametrize("component, with_installment, amount", [
    ("interest", False, D("1.00")), ("credit", True, D("1.00")), ("interest", True, D("0.00")),
    ("credit", False, D("-1.00")),
])
def test_an_allocation_is_positive_and_has_an_installment_unless_it_is_a_credit(installment, component, with_installment,
                                                                                amount):
    repayment = repayment_post(loan=installment.loan, amount=D("1.00"), source="backoffice", reference="R1",
                               actor="treasurer")
    with pytest.raises(IntegrityError, match="allocation_positive_credit_has_no_installment"), transaction.atomic():
        RepaymentAllocation.objects.create(repayment=repayment, installment=installment if with_installment else None,
                                           component=component, amount=amount)
    RepaymentAllocation.objects.create(repayment=repayment, installment=None, component="credit", amount=D("1.00"))
    RepaymentAllocation.objects.create(repayment=repayment, installment=installment, component="fee", amount=D("1.00"))
