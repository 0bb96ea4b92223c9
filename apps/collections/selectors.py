"""Reads of the collections context: the collector queue, a case's picture, write-offs awaiting a checker."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from apps.accounts.models import Role, User
from apps.core.audit import audit_trail_for
from apps.repayments.models import NON_ACCRUAL_STATES, Loan, LoanInstallment, Repayment
from apps.repayments.selectors import installment_left
from apps.repayments.shares import lender_part

from .models import LIVE_CASE_STATES, CollectionCase, CollectionsPolicy, Recovery, WriteOffRequest, WriteOffState

ZERO = Decimal("0.00")


def cases_for_lender(*, lender):
    """Every case of the lender (staff never see another lender's)."""
    return CollectionCase.objects.filter(lender=lender).select_related("loan__merchant", "assigned_to")


QUEUE_WHO = (("all", "Everyone's"), ("mine", "Mine"), ("unassigned", "Unassigned"))


def case_queue_list(*, lender, user, who: str = "all", state: str = ""):
    """The collector queue: live cases (or those of one state), highest priority first."""
    queryset = cases_for_lender(lender=lender)
    queryset = queryset.filter(state=state) if state else queryset.filter(state__in=LIVE_CASE_STATES)
    if who == "mine":
        queryset = queryset.filter(assigned_to=user)
    elif who == "unassigned":
        queryset = queryset.filter(assigned_to__isnull=True)
    return queryset.order_by("-priority", "id")


def collectors_for_lender(*, lender):
    return User.objects.filter(lender=lender, role=Role.COLLECTOR, is_active=True).order_by("username", "id")


def collections_policy_in_force(*, lender, on: datetime.date) -> CollectionsPolicy:
    """The lender's policy in force on a date (the model's defaults, unsaved, when it has none)."""
    policy = CollectionsPolicy.objects.filter(lender=lender, effective_from__lte=on).order_by(
        "-effective_from", "-version").first()
    return policy or CollectionsPolicy(lender=lender, version=0, effective_from=on)


def loan_received_total(*, loan: Loan) -> Decimal:
    """Every repayment on the loan that still stands (bounced ones excluded)."""
    return Repayment.objects.filter(loan=loan, reversed_at__isnull=True).aggregate(t=Sum("amount"))["t"] or ZERO


@dataclass(frozen=True)
class LoanBalances:
    principal: Decimal  # outstanding principal, lender and partner shares together
    lender_principal: Decimal  # the lender's share of it (what its loans-receivable exposure holds)
    interest: Decimal  # accrued, unpaid
    fee: Decimal
    penalty: Decimal
    overdue: Decimal  # everything due before the date and unpaid
    payable: Decimal  # what settles the loan: past-due installments in full, later ones as accrued so far
    dpd: int

    @property
    def partner_principal(self) -> Decimal:
        return self.principal - self.lender_principal

    @property
    def accruals(self) -> Decimal:
        return self.interest + self.fee + self.penalty


def loan_balances_get(*, loan: Loan, on: datetime.date, installments=None) -> LoanBalances:
    """What the merchant owes on `on`, from the (possibly locked) installment rows."""
    rows = list(installments if installments is not None else LoanInstallment.objects.filter(loan=loan))
    principal = sum((i.principal_due - i.principal_paid for i in rows), ZERO)
    paid = loan.principal - principal
    non_accrual = loan.state in NON_ACCRUAL_STATES  # a defaulted loan owes only the interest and fees accrued
    overdue = sum((installment_left(i, non_accrual=non_accrual) for i in rows if i.due_date < on), ZERO)
    not_yet_due = sum(((i.principal_due - i.principal_paid) + max(i.interest_accrued - i.interest_paid, ZERO)
                       + max(i.fee_accrued - i.fee_paid, ZERO) + (i.penalty_accrued - i.penalty_paid)
                       for i in rows if i.due_date >= on), ZERO)
    dpd = max((on - loan.overdue_since).days + 1, 0) if loan.overdue_since else 0
    return LoanBalances(
        principal=principal, lender_principal=loan.lender_principal - lender_part(loan, paid),
        interest=sum((i.interest_accrued - i.interest_paid for i in rows), ZERO),
        fee=sum((i.fee_accrued - i.fee_paid for i in rows), ZERO),
        penalty=sum((i.penalty_accrued - i.penalty_paid for i in rows), ZERO), overdue=overdue,
        payable=overdue + not_yet_due, dpd=dpd)


def write_offs_pending_list(*, lender):
    return (WriteOffRequest.objects.filter(lender=lender, state=WriteOffState.PENDING)
            .select_related("loan__merchant", "case", "maker").order_by("created_at", "id"))


def write_off_approved_get(*, loan: Loan) -> WriteOffRequest | None:
    return WriteOffRequest.objects.filter(loan=loan, state=WriteOffState.APPROVED).first()


def loan_recovered_total(*, loan: Loan) -> Decimal:
    return Recovery.objects.filter(loan=loan).aggregate(t=Sum("amount"))["t"] or ZERO


def case_timeline(*, case: CollectionCase):
    """Everything that happened on the case, oldest first: opening, assignments, contacts, promises and
    their judgement, write-off requests and decisions (all written to the audit trail)."""
    return audit_trail_for(case)
