"""Posting repayments: one service for every source (sweep, portal, partner bank, back-office)."""

import datetime
from decimal import Decimal

from django.db import transaction

from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict
from apps.core.money import quantize
from apps.core.transitions import transition_apply
from apps.financing.application_services import pledges_release
from apps.ledger.locks import lender_position_lock
from apps.ledger.models import Acct, EntryKind
from apps.ledger.posting import amount_check, cr, dr, post_locked
from apps.merchants.models import Merchant

from .accrual import loan_accrue
from .allocation import Owed, allocate
from .models import CreditRefund, Loan, LoanInstallment, LoanState, Repayment, RepaymentAllocation
from .selectors import merchant_credit_total

ZERO = Decimal("0.00")
_LEDGER_ACCOUNT = {"fee": Acct.LOANS_FEES, "interest": Acct.LOANS_INTEREST, "credit": Acct.MERCHANT_CREDIT}


def _owed(installments: list[LoanInstallment]) -> list[Owed]:
    return [Owed(installment_id=i.pk, number=i.number, due_date=i.due_date, fee=i.fee_accrued - i.fee_paid,
                 interest=i.interest_accrued - i.interest_paid, principal=i.principal_due - i.principal_paid)
            for i in installments]


def _lender_share(loan: Loan, principal_repaid_before: Decimal, principal_now: Decimal) -> Decimal:
    """The lender's part of `principal_now`, cumulative so its parts end exactly at its own principal."""
    def lender_part(total):
        return quantize(total * loan.lender_principal / loan.principal)

    return lender_part(principal_repaid_before + principal_now) - lender_part(principal_repaid_before)


@transaction.atomic
def repayment_post(*, loan: Loan, amount, source: str, reference: str, actor,
                   received_on: datetime.date | None = None) -> Repayment:
    """Receive `amount` for the loan: accrue to the date, allocate, post to the ledger, update the sub-ledger.

    Idempotent per (loan, source, reference): the same repayment sent again returns the first one;
    the same reference with another amount is refused. Overpayment becomes the merchant's credit.
    """
    amount = amount_check(amount)
    received_on = received_on or business_date_today()
    lender = loan.merchant.lender
    lender_position_lock(lender)
    Merchant.objects.select_for_update().get(pk=loan.merchant_id)
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    existing = Repayment.objects.filter(loan=loan, source=source, reference=reference).first()
    if existing is not None:
        if existing.amount != amount:
            raise Conflict(f"Reference {reference} was already used for {existing.amount:,.2f}.", code="DUPLICATE_REFERENCE")
        return existing
    if loan.state not in (LoanState.ACTIVE, LoanState.OVERDUE):
        raise Conflict(f"Loan #{loan.pk} is {loan.get_state_display().lower()}; it takes no repayments.",
                       code="LOAN_NOT_REPAYABLE")
    loan_accrue(loan=loan, through=received_on, actor=actor)
    installments = list(LoanInstallment.objects.select_for_update().filter(loan=loan).order_by("number"))
    principal_before = sum((i.principal_paid for i in installments), ZERO)
    allocations = allocate(amount=amount, owed=_owed(installments), as_of=received_on)

    totals = {c: sum((a.amount for a in allocations if a.component == c), ZERO)
              for c in ("fee", "interest", "principal", "credit")}
    lender_principal = _lender_share(loan, principal_before, totals["principal"])
    lines = [dr(Acct.CASH, amount)]
    lines += [cr(_LEDGER_ACCOUNT[c], totals[c]) for c in ("fee", "interest", "credit") if totals[c]]
    if lender_principal:
        lines.append(cr(Acct.LOANS_PRINCIPAL, lender_principal, merchant=loan.merchant))
    if totals["principal"] - lender_principal:
        # The partner bank's share: no longer owed by the merchant, still owed by the lender to the bank.
        lines.append(cr(Acct.LOANS_PRINCIPAL, totals["principal"] - lender_principal))
    entry = post_locked(lender=lender, reference=f"repayment:{loan.pk}:{source}:{reference}", lines=lines,
                        kind=EntryKind.LOAN_REPAYMENT, business_date=received_on, actor=actor,
                        description=f"Repayment of loan #{loan.pk} ({source})")

    by_id = {i.pk: i for i in installments}
    for a in allocations:
        if a.installment_id is not None:
            field = f"{a.component}_paid"
            setattr(by_id[a.installment_id], field, getattr(by_id[a.installment_id], field) + a.amount)
    LoanInstallment.objects.bulk_update(installments, ["fee_paid", "interest_paid", "principal_paid"])
    repayment = Repayment.objects.create(loan=loan, source=source, reference=reference, amount=amount,
                                         received_on=received_on, journal_entry=entry, created_by=entry.created_by)
    RepaymentAllocation.objects.bulk_create([
        RepaymentAllocation(repayment=repayment, installment_id=a.installment_id, component=a.component, amount=a.amount)
        for a in allocations
    ])
    audit_record(actor=actor, action="repayment_posted", subject=loan,
                 data={"amount": str(amount), "source": source, "reference": reference,
                       **{k: str(v) for k, v in totals.items() if v}})
    if all(i.principal_paid == i.principal_due and i.interest_paid == i.interest_accrued and i.fee_paid == i.fee_accrued
           for i in installments):
        _close(loan=loan, installments=installments, actor=actor)
    return repayment


def _close(*, loan: Loan, installments: list[LoanInstallment], actor) -> None:
    """Paid off: interest and fees not yet accrued are never charged (a payoff pays interest to its date)."""
    for i in installments:
        i.interest_due, i.fee_due = i.interest_accrued, i.fee_accrued
    LoanInstallment.objects.bulk_update(installments, ["interest_due", "fee_due"])
    transition_apply(instance=loan, transition="pay_off", actor=actor, reason="Repaid in full")
    pledges_release(application=loan.application, actor=actor, reason=f"Loan #{loan.pk} repaid")


@transaction.atomic
def merchant_credit_refund(*, merchant: Merchant, amount, reference: str, actor) -> CreditRefund:
    """Pay a merchant back from its credit balance: Dr merchant credit balances / Cr cash."""
    amount = amount_check(amount)
    lender = merchant.lender
    lender_position_lock(lender)
    Merchant.objects.select_for_update().get(pk=merchant.pk)
    existing = CreditRefund.objects.filter(reference=reference).first()
    if existing is not None:
        if existing.amount != amount or existing.merchant_id != merchant.pk:
            raise Conflict(f"Reference {reference} was already used.", code="DUPLICATE_REFERENCE")
        return existing
    balance = merchant_credit_total(merchants=[merchant])
    if amount > balance:
        raise Conflict(f"{merchant} has {balance:,.2f} of credit; {amount:,.2f} cannot be refunded.",
                       code="CREDIT_INSUFFICIENT")
    entry = post_locked(lender=lender, reference=f"credit-refund:{reference}", kind=EntryKind.MANUAL, actor=actor,
                        description=f"Credit balance refunded to {merchant}",
                        lines=[dr(Acct.MERCHANT_CREDIT, amount), cr(Acct.CASH, amount)])
    refund = CreditRefund.objects.create(merchant=merchant, amount=amount, reference=reference, journal_entry=entry,
                                         created_by=entry.created_by)
    audit_record(actor=actor, action="credit_refunded", subject=merchant, data={"amount": str(amount)})
    return refund
