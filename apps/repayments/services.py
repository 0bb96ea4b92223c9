"""Posting repayments: one service for every source (sweep, portal, partner bank, back-office)."""

import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict, ReferenceReused, ValidationFailed
from apps.core.transitions import transition_apply
from apps.eod.models import EodRun, RunState
from apps.financing.application_services import pledges_release
from apps.financing.models import Pledge
from apps.ledger.locks import balance_rows_lock, lender_position_lock
from apps.ledger.models import Acct, EntryKind, JournalEntry
from apps.ledger.posting import amount_check, cr, dr, journal_reverse, post_locked
from apps.merchants.models import Merchant

from .accrual import (
    accrual_reference_prefix,
    accrued_through,
    loan_accrual_lines,
    loan_accrual_post,
    loan_accrue,
    penalties_unwind,
)
from .allocation import Owed, allocate
from .collateral import margin_call_review
from .delinquency import overdue_state_settle
from .locks import installments_locked, loan_installments_lock, loan_lock
from .models import (
    NON_ACCRUAL_STATES,
    REPAYABLE_STATES,
    CreditRefund,
    Loan,
    LoanInstallment,
    LoanState,
    PrepaymentChoice,
    Repayment,
    RepaymentAllocation,
    RepaymentMethod,
)
from .one_statement import entry_description, entry_reference, repayment_post_one_statement
from .prepayments import prepayment_choice_check, prepayment_reschedule, prepayment_revision_record
from .reopening import (
    loan_reopen,
    payoff_release_reference,
    payoff_revision_record,
    payoff_undo,
)
from .revisions import prepayments_restore, schedule_rows
from .selectors import merchant_credit_total
from .shares import lender_interest_part, lender_part

ZERO = Decimal("0.00")
# Every account a repayment's entries can move: its accrual, a reshape, the repayment, a payoff's release.
REPAYMENT_ACCOUNTS = (Acct.CASH, Acct.LOANS_PRINCIPAL, Acct.LOANS_INTEREST, Acct.LOANS_FEES, Acct.LOANS_PENALTIES,
                      Acct.MERCHANT_CREDIT, Acct.INTEREST_INCOME, Acct.FEE_INCOME, Acct.PENALTY_INCOME,
                      Acct.DUE_TO_PARTNER_BANKS, Acct.REAPPLICATION_SUSPENSE)
_LEDGER_ACCOUNT = {"penalty": Acct.LOANS_PENALTIES, "fee": Acct.LOANS_FEES, "interest": Acct.LOANS_INTEREST,
                   "credit": Acct.MERCHANT_CREDIT}


def _owed(loan: Loan, installments: list[LoanInstallment], as_of: datetime.date) -> list[Owed]:
    """What is owed as of a date: interest and fees accrued by then (a backdated or replayed payment
    must not settle interest that accrued after it arrived)."""
    owed, start = [], loan.start_date
    for i in installments:
        interest = accrued_through(due=i.interest_due, period_start=start, period_end=i.due_date, through=as_of)
        fee = accrued_through(due=i.fee_due, period_start=start, period_end=i.due_date, through=as_of)
        if loan.state in NON_ACCRUAL_STATES:
            interest, fee = min(interest, i.interest_accrued), min(fee, i.fee_accrued)
        owed.append(Owed(installment_id=i.pk, number=i.number, due_date=i.due_date, fee=max(fee - i.fee_paid, ZERO),
                         interest=max(interest - i.interest_paid, ZERO), principal=i.principal_due - i.principal_paid,
                         penalty=i.penalty_accrued - i.penalty_paid))
        start = i.due_date
    return owed


def _lender_share(loan: Loan, collected_before: Decimal, collected_now: Decimal, part=lender_part) -> Decimal:
    """The lender's part of `collected_now`, computed cumulatively so the parts never drift by a cent."""
    return part(loan, collected_before + collected_now) - part(loan, collected_before)


def repayment_post(*, loan: Loan, amount, source: str, reference: str, actor,
                   received_on: datetime.date | None = None,
                   prepayment: str = PrepaymentChoice.REDUCE_INSTALLMENT) -> Repayment:
    """Receive `amount` for the loan: accrue to the date, allocate, post to the ledger, update the sub-ledger.

    Idempotent per (loan, source, reference): the same repayment sent again returns the first one;
    the same reference with another amount is refused. Overpayment becomes the merchant's credit.
    Beyond what is due, a payment on a monthly schedule prepays principal and reshapes the rest of
    the schedule as `prepayment` says (apps/repayments/prepayments.py).

    The common repayment (received today, the lender's own loan, no reshape, payoff or credit) is made in
    one statement (apps/repayments/one_statement.py); every other one by the general path below.
    """
    amount = amount_check(amount)
    prepayment_choice_check(prepayment)
    today = business_date_today()
    asked_on, received_on = received_on, received_on or today
    received_on_check(loan=loan, received_on=received_on)
    repayment = None
    if received_on == today and not loan.partner_principal:
        repayment = repayment_post_one_statement(loan=loan, amount=amount, source=source, reference=reference, actor=actor,
                                                 received_on=received_on, today=today, prepayment=prepayment)
    if repayment is None:
        repayment = _repayment_post_general(loan=loan, amount=amount, source=source, reference=reference, actor=actor,
                                            received_on=received_on, prepayment=prepayment)
    if repayment.replayed:
        _replay_check(repayment, amount=amount, received_on=asked_on, prepayment=prepayment)
    return repayment


def _replay_check(first: Repayment, *, amount: Decimal, received_on: datetime.date | None, prepayment: str) -> None:
    """A resent reference is the same request only if it asks for the same thing, and only while its payment stands.

    (A caller that gives no date means today; on a resend it means whatever date the first one took.)
    """
    asked = {"amount": amount, "received_on": received_on or first.received_on, "prepayment": prepayment}
    differs = [name for name, value in asked.items() if getattr(first, name) != value]
    if differs:
        raise ReferenceReused(f"Reference {first.reference} was already used for {first.amount:,.2f} received on "
                              f"{first.received_on.isoformat()} ({first.get_prepayment_display().lower()}); this request "
                              f"has another {' and '.join(d.replace('_', ' ') for d in differs)}. A new payment needs "
                              "a new reference.")
    if first.reversed_at is not None:
        raise Conflict(f"Reference {first.reference} names a repayment of {first.amount:,.2f} that was reversed "
                       f"({first.reversal_reason}); nothing was posted. Send the payment again with a new reference.",
                       code="REPAYMENT_REVERSED")


def received_on_check(*, loan: Loan, received_on: datetime.date, what: str = "repayment") -> None:
    # (A date after today is refused where people and banks give one, at the API; services and their tests post ahead.)
    if loan.start_date and received_on < loan.start_date:
        raise ValidationFailed.of_field("received_on", f"Loan #{loan.pk} started on {loan.start_date.isoformat()}; a "
                                        f"{what} cannot be received before it.", code="RECEIVED_BEFORE_LOAN")


@transaction.atomic
def _repayment_post_general(*, loan: Loan, amount: Decimal, source: str, reference: str, actor, received_on: datetime.date,
                            prepayment: str) -> Repayment:
    # Written for few round trips: the locks in order with the loan and the reference look-up (one), the accrual (two),
    # the installments with the margin-call flag (one), the installments' update, the entries (one each), the rows.
    backdated = received_on < business_date_today()
    locked = loan_lock(loan=loan, source=source, reference=reference,
                       position=_lowers_net_capital(loan=loan, received_on=received_on),
                       later_than=received_on if backdated else None)
    loan, existing = locked.loan, locked.existing
    if existing is not None:  # repayment_post checks the resend is the same request
        existing.replayed = True
        return existing
    if backdated and _goes_in_date_order(loan=loan, received_on=received_on, later=locked.later):
        return _repayment_insert_in_date_order(loan=loan, amount=amount, source=source, reference=reference, actor=actor,
                                               received_on=received_on, prepayment=prepayment)
    if loan.state not in REPAYABLE_STATES:
        raise Conflict(f"Loan #{loan.pk} is {loan.get_state_display().lower()}; it takes no repayments.",
                       code="LOAN_NOT_REPAYABLE")
    accrued = loan_accrual_lines(loan=loan, through=received_on)
    installments, margin_call_open = loan_installments_lock(loan=loan)
    # The entries come only now: the balance rows every repayment of the lender moves are held from the first of them
    # to the commit. They are locked together first, in the global order, as several postings would not lock them.
    balance_rows_lock(lender=loan.merchant.lender, codes=REPAYMENT_ACCOUNTS)
    loan_accrual_post(loan=loan, through=received_on, lines=accrued, actor=actor)
    repayment = Repayment(loan=loan, source=source, reference=reference, amount=amount, received_on=received_on,
                          prepayment=prepayment)
    totals = _reshape_allocate_and_post(repayment=repayment, installments=installments, actor=actor,
                                        entry_reference=entry_reference(loan_id=loan.pk, source=source, reference=reference))
    audit_record(actor=actor, action="repayment_posted", subject=loan,
                 data={"amount": str(amount), "source": source, "reference": reference,
                       **{k: str(v) for k, v in totals.items() if v}})
    if margin_call_open:
        margin_call_review(loan=loan, as_of=received_on, actor=actor, reason="Repayment received")
    _close_if_repaid(loan=loan, installments=installments, as_of=received_on, actor=actor)
    if loan.state == LoanState.OVERDUE:  # caught up? (the one statement checks it itself: migration 0020)
        overdue_state_settle(loan=loan, actor=actor, today=business_date_today())
    return repayment


def _goes_in_date_order(*, loan: Loan, received_on: datetime.date, later: bool) -> bool:
    """Whether a payment dated before today must be put where its date belongs, not added after the rest: payments
    received after it were posted first (on an open loan, or one they paid off), or penalty ran on past its date.
    (A defaulted loan accrues again, after the rewind, up to its default date: repayments migration 0013.)
    """
    if loan.state in REPAYABLE_STATES:
        return later or (loan.penalty_accrued_through or received_on) > received_on
    return loan.state == LoanState.PAID_OFF and later


def _lowers_net_capital(*, loan: Loan, received_on: datetime.date) -> bool:
    """Whether a repayment may lower net capital, and so must hold the lender position lock exclusively.

    Collecting interest and principal only moves receivables into cash; what can lower income is the partner
    bank's share of interest (co-lent loans), a prepayment reshaping a monthly schedule (interest accrued ahead
    is taken back) and a backdated payoff (interest accrued after its date is taken back). A current repayment of
    a loan the lender funded alone, on a single-installment schedule, does none of those: it takes no position
    lock and contends only for the rows it moves (apps/ledger/locks.py). These fields never change once the loan
    is disbursed, so the caller's copy decides before any lock is taken.
    """
    return bool(loan.partner_principal) or loan.repayment_method != RepaymentMethod.BULLET or (
        received_on < business_date_today())


def _reshape_allocate_and_post(*, repayment: Repayment, installments: list[LoanInstallment], actor,
                               entry_reference: str) -> dict:
    """A prepayment first reshapes the schedule as the merchant chose; then allocate and post as always.

    Single-installment loans (pre-sale advances, the sweeps' hot path) skip straight to posting.
    """
    revision = None
    if len(installments) > 1:
        revision = prepayment_reschedule(
            loan=repayment.loan, installments=installments, amount=repayment.amount, as_of=repayment.received_on,
            owed=_owed(repayment.loan, installments, repayment.received_on), choice=repayment.prepayment, actor=actor)
    totals = _allocate_and_post(repayment=repayment, installments=installments, actor=actor,
                                entry_reference=entry_reference)
    if revision is not None:
        prepayment_revision_record(revision=revision, repayment=repayment)
    return totals


def _allocate_and_post(*, repayment: Repayment, installments: list[LoanInstallment], actor, entry_reference: str) -> dict:
    """Allocate a repayment over the (locked) installments, post it, save it with its allocations."""
    loan, amount, received_on = repayment.loan, repayment.amount, repayment.received_on
    principal_before = sum((i.principal_paid for i in installments), ZERO)
    interest_before = sum((i.interest_paid for i in installments), ZERO)
    allocations = allocate(amount=amount, owed=_owed(loan, installments, received_on), as_of=received_on,
                           strategy=loan.allocation_strategy)
    totals = {c: sum((a.amount for a in allocations if a.component == c), ZERO)
              for c in ("penalty", "fee", "interest", "principal", "credit")}
    lender_principal = _lender_share(loan, principal_before, totals["principal"])
    lines = [dr(Acct.CASH, amount)]
    lines += [cr(_LEDGER_ACCOUNT[c], totals[c]) for c in ("penalty", "fee", "interest", "credit") if totals[c]]
    if lender_principal:
        lines.append(cr(Acct.LOANS_PRINCIPAL, lender_principal, merchant=loan.merchant))
    if totals["principal"] - lender_principal:
        # The partner bank's share: no longer owed by the merchant, still owed by the lender to the bank.
        lines.append(cr(Acct.LOANS_PRINCIPAL, totals["principal"] - lender_principal))
    partner_interest = totals["interest"] - _lender_share(loan, interest_before, totals["interest"],
                                                          part=lender_interest_part)
    if partner_interest:
        # The bank earns its share of the interest collected: income no longer, owed to the bank instead.
        lines += [dr(Acct.INTEREST_INCOME, partner_interest), cr(Acct.DUE_TO_PARTNER_BANKS, partner_interest)]
    repayment.journal_entry = post_locked(
        lender=loan.merchant.lender, reference=entry_reference, lines=lines, kind=EntryKind.LOAN_REPAYMENT,
        business_date=received_on, actor=actor, description=entry_description(loan_id=loan.pk, source=repayment.source))
    repayment.created_by = repayment.created_by or repayment.journal_entry.created_by
    _installments_apply(installments, allocations, sign=1)
    repayment.save()
    RepaymentAllocation.objects.bulk_create([
        RepaymentAllocation(repayment=repayment, installment_id=a.installment_id, component=a.component, amount=a.amount)
        for a in allocations
    ])
    return totals


def _installments_apply(installments: list[LoanInstallment], allocations, *, sign: int) -> None:
    by_id = {i.pk: i for i in installments}
    touched = {}
    for a in allocations:
        if a.installment_id is not None:
            field = f"{a.component}_paid"
            setattr(by_id[a.installment_id], field, getattr(by_id[a.installment_id], field) + sign * a.amount)
            touched[a.installment_id] = by_id[a.installment_id]
    if touched:  # one statement (bulk_update's CASE per field cost more in Python than the update on the server)
        rows = list(touched.values())
        with connection.cursor() as cursor:
            cursor.execute(_INSTALLMENTS_PAID_SQL, [[i.pk for i in rows], [i.penalty_paid for i in rows],
                                                    [i.fee_paid for i in rows], [i.interest_paid for i in rows],
                                                    [i.principal_paid for i in rows]])


_INSTALLMENTS_PAID_SQL = """
UPDATE repayments_loaninstallment i SET penalty_paid = u.penalty, fee_paid = u.fee, interest_paid = u.interest,
       principal_paid = u.principal
FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[]) AS u(id, penalty, fee, interest, principal)
WHERE i.id = u.id
"""


@transaction.atomic
def repayment_reverse(*, repayment: Repayment, actor, reason: str) -> Repayment:
    """A payment bounced: reverse it and every later one, then replay the later ones in date order,
    so the loan ends exactly as if the bounced payment had never arrived. Idempotent.

    Schedule changes those payments made are undone too (prepayment reshapes, and a payoff: the
    loan reopens, apps/repayments/reopening.py); the replay makes them again where they still apply.
    """
    loan = repayment.loan
    lender = loan.merchant.lender
    lender_position_lock(lender)
    Merchant.objects.select_for_update().get(pk=loan.merchant_id)
    loan = Loan.objects.select_for_update().get(pk=loan.pk)
    repayment = Repayment.objects.select_for_update().get(pk=repayment.pk)
    if repayment.reversed_at is not None:
        repayment.replayed = True
        return repayment
    # The installments before the balance rows (the global order: end of day updates installments, then posts), then
    # the balance rows together, as the reversal and replays post several entries.
    list(LoanInstallment.objects.select_for_update().filter(loan=loan).values_list("pk", flat=True))
    balance_rows_lock(lender=lender, codes=REPAYMENT_ACCOUNTS)
    if loan.state not in (*REPAYABLE_STATES, LoanState.PAID_OFF):
        raise Conflict(f"Loan #{loan.pk} is {loan.get_state_display().lower()}; its payments cannot be reversed here.",
                       code="LOAN_CLOSED")
    accrued_to = _books_accrued_through(loan)
    reopening = loan.state == LoanState.PAID_OFF
    if reopening:  # the payoff is the last thing that happened to the loan: undo it first
        payoff_undo(loan=loan, actor=actor, reason=reason)
    installments = installments_locked(loan=loan)
    live = list(Repayment.objects.select_for_update().filter(loan=loan, reversed_at__isnull=True)
                .filter(Q(received_on__gt=repayment.received_on) | Q(received_on=repayment.received_on, id__gte=repayment.pk))
                .order_by("received_on", "id"))
    _payments_undo(loan=loan, installments=installments, payments=live, actor=actor, reason=reason, bounced=repayment)
    Repayment.objects.filter(pk=repayment.pk).update(reversed_at=timezone.now(), reversal_reason=reason)
    prepayments_restore(loan=loan, repayment_ids={r.pk for r in live}, actor=actor)
    if reopening:  # before the replay: only an open loan accrues
        loan_reopen(loan=loan, actor=actor, reason=f"A payment that had paid it off was reversed: {reason}")
    # Penalty after the bounced date was accrued on principal that was never really repaid: accrue it again.
    caught_up_to = _penalties_rewind(loan=loan, to=repayment.received_on, actor=actor,
                                     reference=f"penalty-unwind:{repayment.pk}")
    _payments_replay(loan=loan, payments=live[1:], actor=actor)
    _accrual_catch_up(loan=loan, stood=(caught_up_to, accrued_to), actor=actor)
    installments = installments_locked(loan=loan)
    audit_record(actor=actor, action="repayment_reversed", subject=loan, reason=reason,
                 data={"repayment": repayment.pk, "replayed": [r.pk for r in live[1:]]})
    last = live[-1].received_on if len(live) > 1 else repayment.received_on
    _close_if_repaid(loan=loan, installments=installments, as_of=last, actor=actor)
    overdue_state_settle(loan=loan, actor=actor, today=business_date_today(), reopened=reopening)
    credit = merchant_credit_total(merchants=[loan.merchant])
    if credit < 0:  # the payment's overpayment was refunded: the money is gone, and nothing here can claim it back
        raise Conflict(f"This payment left a credit that was refunded since; reversing it would leave the merchant "
                       f"{-credit:,.2f} in debt outside the loan.", code="CREDIT_REFUNDED")
    margin_call_review(loan=Loan.objects.get(pk=loan.pk), as_of=business_date_today(), actor=actor,
                       reason=f"A repayment was reversed: {reason}", cured_since=repayment.created_at)
    return Repayment.objects.get(pk=repayment.pk)


def _repayment_insert_in_date_order(*, loan: Loan, amount: Decimal, source: str, reference: str, actor,
                                    received_on: datetime.date, prepayment: str) -> Repayment:
    """Post a payment that arrived late (the caller holds the position, merchant and loan locks) where its date puts it.

    The payments received after it are undone, the penalty accrued after its date taken back; it is posted as of
    its date; the later payments are re-applied in date order and the books accrued back to where they stood, so
    the loan ends exactly as if the payments had arrived in date order (as a reversal does, the other way round).
    A loan a later payment paid off is reopened first (reopening.py) and closes again when the replay repays it.
    """
    accrued_to = _books_accrued_through(loan)
    installments, margin_call_open = loan_installments_lock(loan=loan)
    balance_rows_lock(lender=loan.merchant.lender, codes=REPAYMENT_ACCOUNTS)
    why = f"A payment received on {received_on.isoformat()} arrived after them"
    reopening = loan.state == LoanState.PAID_OFF
    if reopening:  # a later payment paid it off: that payoff is the last thing that happened to the loan, undone first
        payoff_undo(loan=loan, actor=actor, reason=why)
        installments = installments_locked(loan=loan)
    later = list(Repayment.objects.select_for_update().filter(loan=loan, reversed_at__isnull=True,
                                                              received_on__gt=received_on).order_by("received_on", "id"))
    _payments_undo(loan=loan, installments=installments, payments=later, actor=actor, reason=why)
    prepayments_restore(loan=loan, repayment_ids={r.pk for r in later}, actor=actor)
    if reopening:  # before the replay: only an open loan accrues
        loan_reopen(loan=loan, actor=actor, reason=f"{why}, which had paid it off")
    caught_up_to = _penalties_rewind(loan=loan, to=received_on, actor=actor,
                                     reference=f"penalty-unwind:{loan.pk}:{source}:{reference}")
    loan_accrue(loan=loan, through=received_on, actor=actor)
    installments = installments_locked(loan=loan)
    repayment = Repayment(loan=loan, source=source, reference=reference, amount=amount, received_on=received_on,
                          prepayment=prepayment)
    totals = _reshape_allocate_and_post(repayment=repayment, installments=installments, actor=actor,
                                        entry_reference=entry_reference(loan_id=loan.pk, source=source, reference=reference))
    _payments_replay(loan=loan, payments=later, actor=actor, repaid_before=(repayment, *later[:-1]))
    _accrual_catch_up(loan=loan, stood=(caught_up_to, accrued_to), actor=actor)
    audit_record(actor=actor, action="repayment_posted", subject=loan,
                 data={"amount": str(amount), "source": source, "reference": reference,
                       **{k: str(v) for k, v in totals.items() if v}, "replayed": [r.pk for r in later]})
    if margin_call_open or later:  # before the loan may close: a closed loan's call is no longer reviewed
        margin_call_review(loan=Loan.objects.get(pk=loan.pk), as_of=business_date_today(), actor=actor,
                           reason="Repayment received")
    installments = installments_locked(loan=loan)
    _close_if_repaid(loan=loan, installments=installments, as_of=later[-1].received_on if later else received_on,
                     actor=actor)
    overdue_state_settle(loan=loan, actor=actor, today=business_date_today(), reopened=reopening)
    return repayment


def _payments_undo(*, loan: Loan, installments: list[LoanInstallment], payments: list[Repayment], actor, reason: str,
                   bounced: Repayment | None = None) -> None:
    """Reverse the payments' entries and take their allocations off the (locked) installments.

    All but the bounced one are re-applied at once (_payments_replay): their reversals are dated as they were and
    give the cash to the suspense account, not back to the bank, so that undoing them never takes cash below zero on
    the way and the books as of any past date count each payment once; the replay gives it back.
    The reversal's reference names the entry it undoes, after a word that is no source: no payment's own reference
    (repayment:<loan>:<source>:<its reference>) can take it first.
    """
    for r in payments:
        held = r != bounced
        journal_reverse(entry=r.journal_entry, reference=f"repayment:{loan.pk}:reversal:{r.journal_entry_id}", actor=actor,
                        reason=reason, business_date=r.journal_entry.business_date if held else None,
                        via={Acct.CASH: Acct.REAPPLICATION_SUSPENSE} if held else None)
        _installments_apply(installments, list(r.allocations.all()), sign=-1)
        r.allocations.all().delete()  # derived rows; the journal keeps the history


def _penalties_rewind(*, loan: Loan, to: datetime.date, actor, reference: str) -> datetime.date | None:
    """Move the penalty clock back to `to`, taking back what was accrued after it; where the clock stood."""
    stood = Loan.objects.values_list("penalty_accrued_through", flat=True).get(pk=loan.pk)
    penalties_unwind(loan=loan, after=to, actor=actor, reference=reference)
    # penalties_unwind moves the clock back only when it found penalty to take back; with none (the payments had
    # kept everything current) the days after `to` must still be accrued again.
    Loan.objects.filter(pk=loan.pk, penalty_accrued_through__gt=to).update(penalty_accrued_through=to)
    return stood


def _payments_replay(*, loan: Loan, payments: list[Repayment], actor, repaid_before: tuple = ()) -> None:
    """Re-apply undone payments oldest first, accruing up to each one's date as it did; each one's cash, held in
    suspense since it was undone, goes back to the bank on its date (the bank holds it again: the replay debited cash).

    `repaid_before` pairs each with the payment posted just before it: if that one repaid the loan, the rest
    would be overpayment on a closed loan, which is not done here (409 LATE_PAYOFF; nothing is written).
    """
    for n, r in enumerate(payments):
        if n < len(repaid_before):
            _refuse_if_repaid(loan=loan, by=repaid_before[n])
        loan_accrue(loan=loan, through=r.received_on, actor=actor)
        installments = installments_locked(loan=loan)
        _reshape_allocate_and_post(repayment=r, installments=installments, actor=actor,
                                   entry_reference=f"repayment:{loan.pk}:replay:{r.journal_entry_id}")
        post_locked(lender=loan.merchant.lender, reference=f"repayment:{loan.pk}:reapplied:{r.journal_entry_id}",
                    kind=EntryKind.LOAN_REPAYMENT, actor=actor, business_date=r.received_on,
                    description=f"Cash of a re-applied payment of loan #{loan.pk} back from suspense",
                    lines=[dr(Acct.REAPPLICATION_SUSPENSE, r.amount), cr(Acct.CASH, r.amount)])


def _repaid(loan: Loan, installments: list[LoanInstallment], as_of: datetime.date) -> bool:
    """Nothing (fee, interest or principal) is owed as of the date."""
    return not any(o.fee or o.interest or o.principal for o in _owed(loan, installments, as_of))


def _refuse_if_repaid(*, loan: Loan, by: Repayment) -> None:
    if _repaid(loan, installments_locked(loan=loan), by.received_on):
        raise Conflict(f"The payment received on {by.received_on.isoformat()} repays loan #{loan.pk}, which has payments "
                       "received after it; reverse those first, then post it again.", code="LATE_PAYOFF")


def _accrual_catch_up(*, loan: Loan, stood: tuple, actor) -> None:
    """Back to where the books stood (the latest of the dates given): a replay accrues only to each payment's date."""
    to = max(filter(None, stood), default=None)
    if to:
        loan_accrue(loan=loan, through=to, actor=actor)


def _books_accrued_through(loan: Loan) -> datetime.date | None:
    """The last date the books had accrued the loan to: end of day's last run, or the loan's own latest accrual."""
    last_run = EodRun.objects.filter(state=RunState.COMPLETED).aggregate(on=Max("business_date"))["on"]
    own = JournalEntry.objects.filter(lender_id=loan.merchant.lender_id, kind=EntryKind.ACCRUAL,
                                      reference__startswith=accrual_reference_prefix(loan_id=loan.pk)).aggregate(on=Max("business_date"))["on"]
    return max(filter(None, (last_run, own)), default=None)


def _close_if_repaid(*, loan: Loan, installments: list[LoanInstallment], as_of: datetime.date, actor) -> None:
    """Close the loan once nothing is owed as of `as_of`.

    A payoff pays interest only to its date: interest and fees not yet accrued are never charged,
    and any accrued after the payoff date (a backdated payment) is reversed out of income.
    """
    if not _repaid(loan, installments, as_of):
        return
    before = schedule_rows(installments)  # kept, so a reversal can reopen the loan exactly
    excess_interest = sum((i.interest_accrued - i.interest_paid for i in installments), ZERO)
    excess_fee = sum((i.fee_accrued - i.fee_paid for i in installments), ZERO)
    lines = []
    if excess_interest:
        lines += [dr(Acct.INTEREST_INCOME, excess_interest), cr(Acct.LOANS_INTEREST, excess_interest)]
    if excess_fee:
        lines += [dr(Acct.FEE_INCOME, excess_fee), cr(Acct.LOANS_FEES, excess_fee)]
    release = None
    if lines:
        release = post_locked(lender=loan.merchant.lender, reference=payoff_release_reference(loan=loan), lines=lines,
                              kind=EntryKind.ACCRUAL, business_date=as_of, actor=actor,
                              description=f"Interest accrued after loan #{loan.pk} was paid off")
    for i in installments:
        i.interest_due = i.interest_accrued = i.interest_paid
        i.fee_due = i.fee_accrued = i.fee_paid
    LoanInstallment.objects.bulk_update(installments, ["interest_due", "interest_accrued", "fee_due", "fee_accrued"])
    transition_apply(instance=loan, transition="pay_off", actor=actor, reason="Repaid in full")
    pledge_ids = list(Pledge.objects.filter(application=loan.application_id, released_at__isnull=True)
                      .values_list("pk", flat=True))
    pledges_release(application=loan.application, actor=actor, reason=f"Loan #{loan.pk} repaid")
    payoff_revision_record(loan=loan, before=before, installments=installments, release_entry=release,
                           pledge_ids=pledge_ids, actor=actor)


@transaction.atomic
def merchant_credit_refund(*, merchant: Merchant, amount, reference: str, actor) -> CreditRefund:
    """Pay a merchant back from its credit balance: Dr merchant credit balances / Cr cash."""
    amount = amount_check(amount)
    lender = merchant.lender
    lender_position_lock(lender)
    Merchant.objects.select_for_update().get(pk=merchant.pk)
    existing = CreditRefund.objects.filter(merchant=merchant, reference=reference).first()
    if existing is not None:
        if existing.amount != amount:
            raise ReferenceReused(f"Reference {reference} was already used.")
        existing.replayed = True
        return existing
    balance = merchant_credit_total(merchants=[merchant])
    if amount > balance:
        raise Conflict(f"{merchant} has {balance:,.2f} of credit; {amount:,.2f} cannot be refunded.",
                       code="CREDIT_INSUFFICIENT")
    entry = post_locked(lender=lender, reference=f"credit-refund:{merchant.pk}:{reference}", kind=EntryKind.MANUAL, actor=actor,
                        description=f"Credit balance refunded to {merchant}",
                        lines=[dr(Acct.MERCHANT_CREDIT, amount), cr(Acct.CASH, amount)])
    refund = CreditRefund.objects.create(merchant=merchant, amount=amount, reference=reference, journal_entry=entry,
                                         created_by=entry.created_by)
    audit_record(actor=actor, action="credit_refunded", subject=merchant, data={"amount": str(amount)})
    return refund
