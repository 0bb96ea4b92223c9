"""Working collection cases: assign, log contacts, record promises, close, and write a loan off
with two people (a maker asks, a different checker decides).

Every state change goes through core.transitions.transition_apply (row locked, checked,
audited); the other actions write their own audit row, so a case's audit trail is its whole
history. Staff act only on their own lender's cases: another lender's case is "not found".
Locks follow the global order: lender position → merchant → loan → installments → case → the
case's promise or write-off request.
"""

import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from apps.core.transitions import transition_apply
from apps.ledger.locks import balance_rows_lock, lender_position_lock
from apps.ledger.models import Acct, EntryKind
from apps.ledger.posting import amount_check, cr, dr, post_locked
from apps.ledger.services import loan_write_off_post, provision_post
from apps.merchants.models import Merchant
from apps.repayments.models import Loan, LoanInstallment, LoanState

from .models import (
    LIVE_CASE_STATES,
    CaseState,
    CollectionCase,
    ContactChannel,
    ContactLog,
    ContactOutcome,
    PromiseState,
    PromiseToPay,
    WriteOffRequest,
    WriteOffState,
)
from .selectors import collections_policy_in_force, loan_balances_get, loan_received_total

ZERO = Decimal("0.00")
# What a write-off's entries move: allowance and impairment, principal (the lender's and the partner's), accruals.
_WRITE_OFF_ACCOUNTS = (Acct.LOAN_LOSS_ALLOWANCE, Acct.IMPAIRMENT_EXPENSE, Acct.LOANS_PRINCIPAL, Acct.DUE_TO_PARTNER_BANKS,
                       Acct.INTEREST_INCOME, Acct.LOANS_INTEREST, Acct.FEE_INCOME, Acct.LOANS_FEES, Acct.PENALTY_INCOME,
                       Acct.LOANS_PENALTIES)


def _staff_case(case: CollectionCase, actor: User, *, lock: bool = True) -> CollectionCase:
    """The case, locked, if it belongs to the actor's lender; otherwise NotFound (never another tenant's)."""
    queryset = CollectionCase.objects.select_for_update(of=("self",)) if lock else CollectionCase.objects
    found = queryset.select_related("loan").filter(pk=case.pk, lender_id=actor.lender_id).first()
    if found is None or not actor.is_lender_staff:
        raise NotFound(f"No collection case #{case.pk}.", code="UNKNOWN_CASE")
    return found


def _require_worker(actor: User, what: str) -> None:
    if not actor.has_role(Role.COLLECTOR):
        raise Forbidden(f"Only collectors and lender admins may {what}.", code="NOT_A_COLLECTOR")


def _require_live(case: CollectionCase, what: str) -> None:
    if case.state not in LIVE_CASE_STATES:
        raise Conflict(f"Case #{case.pk} is {case.get_state_display().lower()}; you cannot {what}.", code="CASE_NOT_LIVE")


@transaction.atomic
def case_assign(*, case: CollectionCase, collector: User | None, actor: User) -> CollectionCase:
    """Give the case to a collector of the same lender (None: back to the unassigned queue).

    A lender admin assigns anyone; a collector may take an unassigned case for themselves or hand back
    their own.
    """
    _require_worker(actor, "assign cases")
    case = _staff_case(case, actor)
    _require_live(case, "assign it")
    if collector is not None and (collector.lender_id != case.lender_id or collector.role != Role.COLLECTOR
                                  or not collector.is_active):
        raise ValidationFailed("Cases go to an active collector of this lender.", code="NOT_A_COLLECTOR")
    if not actor.has_role(Role.LENDER_ADMIN):
        taking = collector is not None and collector.pk == actor.pk and case.assigned_to_id is None
        handing_back = collector is None and case.assigned_to_id == actor.pk
        if not (taking or handing_back):
            raise Forbidden("A collector may take an unassigned case or hand back their own; ask an admin to reassign.",
                            code="ASSIGNMENT_FORBIDDEN")
    before = case.assigned_to_id
    if before == getattr(collector, "pk", None):
        return case
    case.assigned_to = collector
    case.assigned_at = timezone.now() if collector else None
    case.save(update_fields=["assigned_to", "assigned_at"])
    audit_record(actor=actor, action="case_assigned", subject=case,
                 reason=f"Assigned to {collector.get_username()}" if collector else "Back to the unassigned queue",
                 data={"from": before, "to": getattr(collector, "pk", None)})
    return case


@transaction.atomic
def contact_log(*, case: CollectionCase, actor: User, channel: str, outcome: str, note: str = "",
                at: datetime.datetime | None = None) -> ContactLog:
    """Record an attempt to reach the merchant; the first one starts work on an open case."""
    _require_worker(actor, "log contacts")
    case = _staff_case(case, actor)
    _require_live(case, "log a contact on it")
    if channel not in ContactChannel.values:
        raise ValidationFailed(f"Unknown channel {channel!r}.", code="INVALID_CHANNEL")
    if outcome not in ContactOutcome.values:
        raise ValidationFailed(f"Unknown outcome {outcome!r}.", code="INVALID_OUTCOME")
    at = at or timezone.now()
    if at > timezone.now() + datetime.timedelta(minutes=5):
        raise ValidationFailed("A contact cannot be logged in the future.", code="CONTACT_IN_FUTURE")
    contact = ContactLog.objects.create(case=case, by=actor, channel=channel, outcome=outcome, note=note.strip(), at=at)
    if case.state == CaseState.OPEN:
        transition_apply(instance=case, transition="start", actor=actor, reason="First contact logged")
    summary = f"{ContactChannel(channel).label}: {ContactOutcome(outcome).label}"
    audit_record(actor=actor, action="contact_logged", subject=case,
                 reason=f"{summary} — {contact.note}" if contact.note else summary,
                 data={"channel": channel, "outcome": outcome, "contact": contact.pk})
    return contact


@transaction.atomic
def promise_record(*, case: CollectionCase, actor: User, amount: Decimal, promised_date: datetime.date,
                   today: datetime.date | None = None) -> PromiseToPay:
    """The merchant promises to pay `amount` by `promised_date` (today at the earliest, within the policy's
    horizon). End of day after that date judges it by the money received in the meantime."""
    _require_worker(actor, "record promises")
    today = today or business_date_today()
    amount = amount_check(amount, what="promised amount")
    case = _staff_case(case, actor, lock=False)
    loan = Loan.objects.select_for_update().get(pk=case.loan_id)  # lock order: loan, then case
    case = _staff_case(case, actor)
    _require_live(case, "record a promise on it")
    if case.state == CaseState.PROMISE_TO_PAY:
        open_promise = case.promises.filter(state=PromiseState.OPEN).first()
        raise Conflict(f"Case #{case.pk} already has an open promise"
                       + (f" of {open_promise.amount:,.2f} by {open_promise.promised_date}" if open_promise else "")
                       + "; end of day judges it after its date.", code="PROMISE_OPEN")
    policy = collections_policy_in_force(lender=loan.merchant.lender, on=today)
    horizon = today + datetime.timedelta(days=policy.promise_max_days)
    if not isinstance(promised_date, datetime.date) or isinstance(promised_date, datetime.datetime):
        raise ValidationFailed("The promised date must be a date.", code="INVALID_PROMISE_DATE")
    if promised_date < today:
        raise ValidationFailed(f"The promised date {promised_date} is in the past (today is {today}).",
                               code="PROMISE_DATE_PAST")
    if promised_date > horizon:
        raise ValidationFailed(f"The promised date {promised_date} is more than {policy.promise_max_days} days ahead "
                               f"(latest {horizon}).", code="PROMISE_TOO_FAR")
    owed = loan_balances_get(loan=loan, on=today).payable
    if amount > owed:
        raise ValidationFailed(f"The promise of {amount:,.2f} is more than the {owed:,.2f} owed on loan #{loan.pk}.",
                               code="PROMISE_EXCEEDS_OWED")
    if case.state == CaseState.OPEN:
        transition_apply(instance=case, transition="start", actor=actor, reason="Promise to pay taken")
    promise = PromiseToPay.objects.create(case=case, amount=amount, promised_date=promised_date, created_by=actor,
                                          paid_before=loan_received_total(loan=loan))
    transition_apply(instance=case, transition="promise", actor=actor,
                     reason=f"Promised {amount:,.2f} by {promised_date.isoformat()}")
    return promise


@transaction.atomic
def case_close(*, case: CollectionCase, actor: User, reason: str, today: datetime.date | None = None) -> CollectionCase:
    """Close a live case by hand (handed to an agency, disputed in court, …); a reason is required.

    End of day does not reopen a closed case's loan for the same spell of delinquency.
    """
    _require_worker(actor, "close cases")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("Say why the case is closed.", code="REASON_REQUIRED")
    case = _staff_case(case, actor)
    _require_live(case, "close it")
    return transition_apply(instance=case, transition="close", actor=actor, reason=reason,
                            method_kwargs={"on": today or business_date_today()}, update_fields=("closed_on",))


# --- write-offs: maker and checker ------------------------------------------------------------

@transaction.atomic
def write_off_request(*, case: CollectionCase, actor: User, reason: str,
                      today: datetime.date | None = None) -> WriteOffRequest:
    """The maker asks to write the case's defaulted loan off, for its outstanding principal."""
    _require_worker(actor, "ask for a write-off")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("Say why the loan should be written off.", code="REASON_REQUIRED")
    case = _staff_case(case, actor, lock=False)
    loan = Loan.objects.select_for_update().get(pk=case.loan_id)
    case = _staff_case(case, actor)
    if case.state not in (*LIVE_CASE_STATES, CaseState.CLOSED):
        raise Conflict(f"Case #{case.pk} is {case.get_state_display().lower()}.", code="CASE_NOT_LIVE")
    if loan.state != LoanState.DEFAULTED:
        raise Conflict(f"Only a defaulted loan can be written off; loan #{loan.pk} is {loan.get_state_display().lower()}.",
                       code="LOAN_NOT_DEFAULTED")
    pending = WriteOffRequest.objects.filter(loan=loan, state=WriteOffState.PENDING).first()
    if pending:
        raise Conflict(f"A write-off of loan #{loan.pk} for {pending.amount:,.2f} already awaits a checker.",
                       code="WRITE_OFF_PENDING")
    principal = loan_balances_get(loan=loan, on=today or business_date_today()).principal
    if principal <= 0:
        raise Conflict(f"Loan #{loan.pk} has no principal outstanding.", code="NOTHING_TO_WRITE_OFF")
    try:
        with transaction.atomic():
            request = WriteOffRequest.objects.create(lender_id=case.lender_id, loan=loan, case=case, amount=principal,
                                                     reason=reason, maker=actor)
    except IntegrityError as exc:  # a concurrent maker got there first
        raise Conflict(f"A write-off of loan #{loan.pk} already awaits a checker.", code="WRITE_OFF_PENDING") from exc
    audit_record(actor=actor, action="write_off_requested", subject=case, reason=reason,
                 data={"request": request.pk, "amount": str(principal)})
    return request


def _checker_check(request: WriteOffRequest, actor: User, what: str) -> None:
    if not actor.has_role(Role.CREDIT_OFFICER):
        raise Forbidden(f"Only a credit officer or lender admin may {what} a write-off.", code="NOT_A_CHECKER")
    if request.maker_id == actor.pk:
        raise Forbidden(f"You asked for this write-off; another person must {what} it.", code="MAKER_IS_CHECKER")
    if request.state != WriteOffState.PENDING:
        raise Conflict(f"This write-off was already {request.get_state_display().lower()}.", code="WRITE_OFF_DECIDED")


def _request_for(request: WriteOffRequest, actor: User, *, lock: bool) -> WriteOffRequest:
    queryset = WriteOffRequest.objects.select_for_update(of=("self",)) if lock else WriteOffRequest.objects
    found = queryset.select_related("loan__merchant__lender").filter(pk=request.pk, lender_id=actor.lender_id).first()
    if found is None or not actor.is_lender_staff:
        raise NotFound(f"No write-off request #{request.pk}.", code="UNKNOWN_WRITE_OFF")
    return found


@transaction.atomic
def write_off_approve(*, request: WriteOffRequest, actor: User, note: str = "",
                      today: datetime.date | None = None) -> WriteOffRequest:
    """The checker (never the maker) approves: the loan is written off in the books and in its lifecycle.

    Postings, all dated today:
    - the loan's allowance is brought to exactly the lender's share of the outstanding principal (a
      top-up provision, or a release), so the write-off consumes this loan's allowance and no other's;
    - loans receivable − the lender's share: Dr loan-loss allowance / Cr loans receivable
      (ledger.services.loan_write_off_post); Loan.provision becomes 0;
    - a co-lent loan's partner share is borne by the bank: Dr due to partner banks / Cr loans receivable;
    - interest, fees and penalties accrued but unpaid are reversed out of income.
    Then the loan goes defaulted → written off and the case → written off. Whatever a written-off
    loan collects later posts as recovery income (recoveries.recovery_post).
    """
    today = today or business_date_today()
    request = _request_for(request, actor, lock=False)
    _checker_check(request, actor, "approve")
    loan = request.loan
    lender = loan.merchant.lender
    lender_position_lock(lender)
    Merchant.objects.select_for_update().get(pk=loan.merchant_id)
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    installments = list(LoanInstallment.objects.select_for_update().filter(loan=loan).order_by("number"))
    case = CollectionCase.objects.select_for_update().get(pk=request.case_id)
    balance_rows_lock(lender=lender, codes=_WRITE_OFF_ACCOUNTS)  # several entries below: their rows locked in order first
    request = _request_for(request, actor, lock=True)
    _checker_check(request, actor, "approve")
    if loan.state != LoanState.DEFAULTED:
        raise Conflict(f"Loan #{loan.pk} is {loan.get_state_display().lower()}, no longer defaulted; reject this request.",
                       code="LOAN_NOT_DEFAULTED")
    owed = loan_balances_get(loan=loan, on=today, installments=installments)
    if owed.principal != request.amount:
        raise Conflict(f"Loan #{loan.pk} now has {owed.principal:,.2f} of principal outstanding, not the "
                       f"{request.amount:,.2f} asked for; reject this request and ask again.", code="WRITE_OFF_AMOUNT_CHANGED")
    reference = f"write-off:{loan.pk}"
    delta = owed.lender_principal - loan.provision
    if delta > 0:
        provision_post(lender=lender, amount=delta, reference=f"{reference}:provision", actor=actor, business_date=today,
                       description=f"Allowance of loan #{loan.pk} brought to its outstanding principal before write-off")
    elif delta < 0:
        post_locked(lender=lender, reference=f"{reference}:provision", kind=EntryKind.PROVISION, actor=actor,
                    business_date=today, lines=[dr(Acct.LOAN_LOSS_ALLOWANCE, -delta), cr(Acct.IMPAIRMENT_EXPENSE, -delta)],
                    description=f"Allowance of loan #{loan.pk} above its outstanding principal released before write-off")
    if owed.lender_principal > 0:
        loan_write_off_post(lender=lender, merchant=loan.merchant, amount=owed.lender_principal, actor=actor,
                            reference=f"{reference}:principal", business_date=today)
    if owed.partner_principal > 0:
        partner = owed.partner_principal
        post_locked(lender=lender, reference=f"{reference}:partner", kind=EntryKind.WRITE_OFF, actor=actor,
                    business_date=today, description=f"Partner bank's share of loan #{loan.pk} written off",
                    lines=[dr(Acct.DUE_TO_PARTNER_BANKS, partner), cr(Acct.LOANS_PRINCIPAL, partner)])
    accrual_lines = []
    for amount, income, receivable in ((owed.interest, Acct.INTEREST_INCOME, Acct.LOANS_INTEREST),
                                       (owed.fee, Acct.FEE_INCOME, Acct.LOANS_FEES),
                                       (owed.penalty, Acct.PENALTY_INCOME, Acct.LOANS_PENALTIES)):
        if amount > 0:
            accrual_lines += [dr(income, amount), cr(receivable, amount)]
    if accrual_lines:
        post_locked(lender=lender, reference=f"{reference}:accruals", kind=EntryKind.WRITE_OFF, actor=actor,
                    business_date=today, lines=accrual_lines,
                    description=f"Unpaid interest, fees and penalties of loan #{loan.pk} reversed on write-off")
    Loan.objects.filter(pk=loan.pk).update(provision=ZERO)
    transition_apply(instance=loan, transition="write_off", actor=actor, reason=request.reason)
    transition_apply(instance=case, transition="write_off", actor=actor, reason=request.reason,
                     method_kwargs={"on": today}, update_fields=("closed_on",))
    request.state = WriteOffState.APPROVED
    request.checker = actor
    request.decided_at = timezone.now()
    request.decision_note = note.strip()
    request.partner_amount = owed.partner_principal
    request.accruals_reversed = owed.accruals
    request.save(update_fields=["state", "checker", "decided_at", "decision_note", "partner_amount", "accruals_reversed"])
    audit_record(actor=actor, action="write_off_approved", subject=case, reason=request.decision_note,
                 data={"request": request.pk, "maker": request.maker_id, "principal": str(owed.principal),
                       "lender_share": str(owed.lender_principal), "partner_share": str(owed.partner_principal),
                       "accruals_reversed": str(owed.accruals), "provision_adjusted": str(delta)})
    return request


@transaction.atomic
def write_off_reject(*, request: WriteOffRequest, actor: User, note: str) -> WriteOffRequest:
    """The checker (never the maker) turns the request down, saying why; nothing is posted."""
    request = _request_for(request, actor, lock=False)
    _checker_check(request, actor, "reject")
    note = note.strip()
    if not note:
        raise ValidationFailed("Say why the write-off is rejected.", code="REASON_REQUIRED")
    CollectionCase.objects.select_for_update().get(pk=request.case_id)
    request = _request_for(request, actor, lock=True)
    _checker_check(request, actor, "reject")
    request.state = WriteOffState.REJECTED
    request.checker = actor
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["state", "checker", "decided_at", "decision_note"])
    audit_record(actor=actor, action="write_off_rejected", subject=request.case, reason=note,
                 data={"request": request.pk, "maker": request.maker_id, "amount": str(request.amount)})
    return request
