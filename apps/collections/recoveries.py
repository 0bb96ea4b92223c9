"""Recoveries: money that still comes in on a loan after it was written off.

A written-off loan takes no repayments (repayments.services.repayment_post refuses it); what
it collects is income again: Dr cash at bank / Cr recovery income. On a co-lent loan the
partner bank bore its share of the loss, so it gets its share of what is recovered (in
proportion to the principal it funded, computed cumulatively so it never drifts by a cent):
that part is owed to the bank instead (Cr due to partner banks). Recoveries never exceed what
the merchant still owed when the loan was written off.
"""

import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Min, Sum

from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict, ReferenceReused, ValidationFailed
from apps.ledger.locks import lender_position_lock
from apps.ledger.models import Acct, EntryKind, JournalEntry
from apps.ledger.posting import amount_check, cr, dr, post_locked
from apps.merchants.models import Merchant
from apps.repayments.models import Loan, LoanState, RepaymentSource
from apps.repayments.services import received_on_check
from apps.repayments.shares import lender_part

from .models import Recovery, WriteOffRequest, WriteOffState

ZERO = Decimal("0.00")


@transaction.atomic
def recovery_post(*, loan: Loan, amount: Decimal, source: str, reference: str, actor,
                  received_on: datetime.date | None = None) -> Recovery:
    """Receive `amount` on a written-off loan. Idempotent per (loan, source, reference): the same recovery
    sent again returns the first one; the same reference with another amount is refused."""
    amount = amount_check(amount)
    if source not in RepaymentSource.values:
        raise ValidationFailed(f"Unknown source {source!r}.", code="INVALID_SOURCE")
    reference = reference.strip()
    if not reference or len(reference) > 100:
        raise ValidationFailed("A reference of 1–100 characters is required.", code="INVALID_REFERENCE")
    asked_on, received_on = received_on, received_on or business_date_today()
    lender = loan.merchant.lender
    lender_position_lock(lender)
    Merchant.objects.select_for_update().get(pk=loan.merchant_id)
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    existing = Recovery.objects.filter(loan=loan, source=source, reference=reference).first()
    if existing is not None:
        if existing.amount != amount or asked_on not in (None, existing.received_on):
            raise ReferenceReused(f"Reference {reference} was already used for {existing.amount:,.2f} received on "
                                  f"{existing.received_on.isoformat()}.")
        existing.replayed = True
        return existing
    if loan.state != LoanState.WRITTEN_OFF:
        raise Conflict(f"Loan #{loan.pk} is {loan.get_state_display().lower()}, not written off; record a repayment.",
                       code="LOAN_NOT_WRITTEN_OFF")
    write_off = WriteOffRequest.objects.filter(loan=loan, state=WriteOffState.APPROVED).first()
    _received_on_check(loan=loan, received_on=received_on)
    recovered = Recovery.objects.filter(loan=loan).aggregate(t=Sum("amount"))["t"] or ZERO
    if write_off is not None and recovered + amount > write_off.claim:
        raise Conflict(f"Loan #{loan.pk} was written off owing {write_off.claim:,.2f}; {recovered:,.2f} is recovered, so "
                       f"at most {write_off.claim - recovered:,.2f} more can be, not {amount:,.2f}.",
                       code="RECOVERY_EXCEEDS_CLAIM")
    partner = ZERO
    if loan.partner_principal:
        partner = (recovered + amount - lender_part(loan, recovered + amount)) - (recovered - lender_part(loan, recovered))
    lines = [dr(Acct.CASH, amount)]
    if amount - partner:
        lines.append(cr(Acct.RECOVERY_INCOME, amount - partner))
    if partner:
        lines.append(cr(Acct.DUE_TO_PARTNER_BANKS, partner))
    entry = post_locked(lender=lender, reference=f"recovery:{loan.pk}:{source}:{reference}", kind=EntryKind.LOAN_REPAYMENT,
                        lines=lines, business_date=received_on, actor=actor,
                        description=f"Recovery on written-off loan #{loan.pk} ({source})")
    recovery = Recovery.objects.create(loan=loan, source=source, reference=reference, amount=amount, partner_amount=partner,
                                       received_on=received_on, journal_entry=entry, created_by=entry.created_by)
    audit_record(actor=actor, action="recovery_posted", subject=loan,
                 data={"amount": str(amount), "partner_share": str(partner), "source": source, "reference": reference})
    return recovery


def _received_on_check(*, loan: Loan, received_on: datetime.date) -> None:
    """A recovery is money received after the write-off; before it, it was a repayment of the live loan."""
    today = business_date_today()
    if received_on > today:
        raise ValidationFailed.of_field("received_on", f"A recovery cannot be received after today ({today.isoformat()}).",
                                        code="FUTURE_DATED")
    # The day the books wrote it off: the write-off's entries are dated it (services.write_off_approve).
    written_off_on = JournalEntry.objects.filter(lender_id=loan.merchant.lender_id,
                                                 reference__startswith=f"write-off:{loan.pk}:").aggregate(
        on=Min("business_date"))["on"]
    if written_off_on and received_on < written_off_on:
        raise ValidationFailed.of_field("received_on", f"Loan #{loan.pk} was written off on {written_off_on.isoformat()}; "
                                        f"money received on {received_on.isoformat()}, before that, is not a recovery.",
                                        code="RECEIVED_BEFORE_WRITE_OFF")
    received_on_check(loan=loan, received_on=received_on, what="recovery")
