import datetime

from .models import Loan, LoanInstallment


def loans_for_merchant(*, merchant):
    return Loan.objects.filter(merchant=merchant).order_by("-created_at", "-id")


def loans_for_lender(*, lender):
    return Loan.objects.filter(merchant__lender=lender).select_related("merchant", "partner_bank")


def loans_for_partner_bank(*, partner_bank):
    return Loan.objects.filter(partner_bank=partner_bank).select_related("merchant")


def installment_status(installment: LoanInstallment, today: datetime.date) -> str:
    if installment.principal_paid == installment.principal_due and installment.interest_paid >= installment.interest_due \
            and installment.fee_paid >= installment.fee_due:
        return "paid"
    return "overdue" if installment.due_date < today else "due"


def loan_outstanding(loan: Loan) -> dict:
    """What the merchant owes now: principal, and interest and fees accrued so far."""
    rows = list(loan.installments.all())
    return {
        "principal": sum(i.principal_due - i.principal_paid for i in rows),
        "interest": sum(i.interest_accrued - i.interest_paid for i in rows),
        "fee": sum(i.fee_accrued - i.fee_paid for i in rows),
    }
