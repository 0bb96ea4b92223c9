import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.collections.models import Recovery, WriteOffRequest, WriteOffState
from apps.core.audit import audit_trail_for
from apps.core.money import quantize
from apps.eod.posting import eod_entry_reference
from apps.ledger.models import Acct, JournalEntry
from apps.ledger.selectors import balances_by_code_get
from apps.merchants.models import Merchant

from .accrual import accrual_reference_prefix, accrued_through
from .models import NON_ACCRUAL_STATES, REPAYABLE_STATES, CreditRefund, Loan, LoanInstallment, LoanState, RepaymentAllocation

ZERO = Decimal("0.00")


def loans_for_merchant(*, merchant):
    return Loan.objects.filter(merchant=merchant).order_by("-created_at", "-id")


def loans_for_lender(*, lender):
    return Loan.objects.filter(merchant__lender=lender).select_related("merchant", "partner_bank")


def loan_book_counts(*, lender) -> dict[str, int]:
    """How many of the lender's loans are outstanding (active, overdue or defaulted), overdue and defaulted: one query."""
    return Loan.objects.filter(merchant__lender=lender, state__in=REPAYABLE_STATES).aggregate(
        outstanding=Count("id"), overdue=Count("id", filter=Q(state=LoanState.OVERDUE)),
        defaulted=Count("id", filter=Q(state=LoanState.DEFAULTED)))


def principal_outstanding_attach(loans) -> None:
    """Set `outstanding`, the principal still owed, on each of these loans (a page of a list): one query by loan key."""
    loans = list(loans)
    left = dict(LoanInstallment.objects.filter(loan_id__in=[loan.pk for loan in loans]).values("loan_id")
                .annotate(left=Sum(F("principal_due") - F("principal_paid"))).values_list("loan_id", "left"))
    for loan in loans:
        loan.outstanding = left.get(loan.pk)


def loans_for_partner_bank(*, partner_bank):
    return Loan.objects.filter(partner_bank=partner_bank).select_related("merchant")


def installment_left(installment: LoanInstallment, *, non_accrual: bool = False) -> Decimal:
    """What is left to pay on an installment as scheduled: principal, interest and fees, and the penalty accrued.
    On a non-accrual (defaulted) loan only the interest and fees accrued are owed, as payoff_quote says.
    (Nothing is ever paid past what is due: the installment's CHECK constraints.)"""
    i = installment
    interest, fee = i.interest_due, i.fee_due
    if non_accrual:
        interest, fee = min(interest, i.interest_accrued), min(fee, i.fee_accrued)
    return (i.principal_due - i.principal_paid + interest - i.interest_paid + fee - i.fee_paid
            + i.penalty_accrued - i.penalty_paid)


def installment_status(installment: LoanInstallment, today: datetime.date, *, non_accrual: bool = False) -> str:
    if not installment_left(installment, non_accrual=non_accrual):
        return "paid"
    return "overdue" if installment.due_date < today else "due"


def installment_rows(loan: Loan, today: datetime.date) -> list[tuple[LoanInstallment, str]]:
    """A loan's schedule as its pages show it: each installment with its status today."""
    non_accrual = loan.state in NON_ACCRUAL_STATES
    return [(i, installment_status(i, today, non_accrual=non_accrual)) for i in loan.installments.all()]


@dataclass(frozen=True)
class MerchantLoansSummary:
    open_loans: int
    principal: Decimal  # outstanding on the open loans
    overdue: Decimal  # left to pay on installments past their due date
    next_due: LoanInstallment | None  # the first installment due today or later with something left to pay
    next_due_left: Decimal  # what is left to pay on it
    credit: Decimal  # held for the merchant (overpayments, sweep remainders), refundable


def merchant_loans_summary(*, merchant, today: datetime.date) -> MerchantLoansSummary:
    """The merchant's open loans at a glance (portal overview): the installments, then the credit held."""
    rows = list(LoanInstallment.objects.filter(loan__merchant=merchant, loan__state__in=REPAYABLE_STATES)
                .annotate(loan_state=F("loan__state")).order_by("due_date", "loan_id", "number"))

    def left(i):
        return installment_left(i, non_accrual=i.loan_state in NON_ACCRUAL_STATES)

    unpaid = [i for i in rows if left(i)]
    next_due = next((i for i in unpaid if i.due_date >= today), None)
    return MerchantLoansSummary(
        open_loans=len({i.loan_id for i in rows}),
        principal=sum((i.principal_due - i.principal_paid for i in rows), ZERO),
        overdue=sum((left(i) for i in unpaid if i.due_date < today), ZERO),
        next_due=next_due, next_due_left=left(next_due) if next_due else ZERO,
        credit=merchant_credit_total(merchants=[merchant]))


def loan_outstanding(loan: Loan) -> dict:
    """What the merchant owes now: principal, and interest and fees accrued so far."""
    rows = list(loan.installments.all())
    owed = {
        "principal": sum(i.principal_due - i.principal_paid for i in rows),
        "interest": sum(i.interest_accrued - i.interest_paid for i in rows),
        "fee": sum(i.fee_accrued - i.fee_paid for i in rows),
        "penalty": sum(i.penalty_accrued - i.penalty_paid for i in rows),
    }
    # Summed here: the templates' |add filter adds whole numbers and would drop the cents.
    return {**owed, "accrued": owed["interest"] + owed["fee"] + owed["penalty"]}


def payoff_quote(*, loan: Loan, on: datetime.date) -> dict:
    """What closes the loan on `on`: unpaid principal plus interest, fees and penalty accrued to that date."""
    start, principal, interest, fee = loan.start_date, ZERO, ZERO, ZERO
    installments = list(loan.installments.all())  # by number (Meta ordering); a prefetched set as it is
    for i in installments:
        principal += i.principal_due - i.principal_paid
        due_interest = accrued_through(due=i.interest_due, period_start=start, period_end=i.due_date, through=on)
        due_fee = accrued_through(due=i.fee_due, period_start=start, period_end=i.due_date, through=on)
        if loan.state in NON_ACCRUAL_STATES:  # only what is on the books
            due_interest, due_fee = min(due_interest, i.interest_accrued), min(due_fee, i.fee_accrued)
        interest += max(due_interest - i.interest_paid, ZERO)
        fee += max(due_fee - i.fee_paid, ZERO)
        start = i.due_date
    penalty = sum((i.penalty_accrued - i.penalty_paid for i in installments), ZERO) + _penalty_to_come(loan, installments, on)
    return {"on": on, "principal": principal, "interest": interest, "fee": fee, "penalty": penalty,
            "total": principal + interest + fee + penalty}


def _penalty_to_come(loan: Loan, installments: list[LoanInstallment], on: datetime.date) -> Decimal:
    """The penalty the accrual will add by `on` (accrual._PENALTY_SQL's rule, which a payment on `on` runs first):
    each past-due installment's unpaid principal × rate ÷ basis, rounded to the cent, per day since the loan's
    penalty clock or the due date, whichever is later."""
    state, through = Loan.objects.values_list("state", "penalty_accrued_through").get(pk=loan.pk)  # as its installments
    since = through or loan.start_date
    if state not in (LoanState.ACTIVE, LoanState.OVERDUE) or not loan.penalty_annual_rate or since >= on:
        return ZERO
    basis = 365 if loan.day_count == "ACT/365" else 360
    return sum((quantize((i.principal_due - i.principal_paid) * loan.penalty_annual_rate / basis)
                * (on - max(since, i.due_date)).days
                for i in installments if i.due_date < on and i.principal_paid < i.principal_due), ZERO)


@dataclass(frozen=True)
class ReconciliationRow:
    control: str
    account: str
    subledger: Decimal
    ledger: Decimal

    @property
    def difference(self) -> Decimal:
        return self.ledger - self.subledger


def reconciliation_get(*, lender) -> list[ReconciliationRow]:
    """Each loan sub-ledger total against its GL control account (GL shown on its normal side).

    A written-off loan left the receivables when it was written off (its installments keep what the
    merchant still owes, off the books); the partner bank bore its share of that principal, and is owed
    its share of any recovery since (apps.collections).
    """
    loans = Loan.objects.filter(merchant__lender=lender)
    on_books = loans.exclude(state=LoanState.WRITTEN_OFF)
    sums = LoanInstallment.objects.filter(loan__in=on_books).aggregate(
        principal=Sum("principal_due") - Sum("principal_paid"),
        interest=Sum("interest_accrued") - Sum("interest_paid"),
        fee=Sum("fee_accrued") - Sum("fee_paid"),
        penalty=Sum("penalty_accrued") - Sum("penalty_paid"),
    )
    credit = merchant_credit_total(merchants=Merchant.objects.filter(lender=lender))
    partner = loans.filter(~Q(partner_principal=0)).aggregate(total=Sum("partner_principal"))["total"] or ZERO
    partner += _partner_interest_collected(lender)
    partner -= WriteOffRequest.objects.filter(lender=lender, state=WriteOffState.APPROVED).aggregate(
        total=Sum("partner_amount"))["total"] or ZERO
    partner += Recovery.objects.filter(loan__in=loans).aggregate(total=Sum("partner_amount"))["total"] or ZERO
    balances = balances_by_code_get(lender=lender)
    rows = [
        ("Loans receivable — principal", Acct.LOANS_PRINCIPAL, sums["principal"], 1),
        ("Loans receivable — interest", Acct.LOANS_INTEREST, sums["interest"], 1),
        ("Loans receivable — fees", Acct.LOANS_FEES, sums["fee"], 1),
        ("Loans receivable — penalties", Acct.LOANS_PENALTIES, sums["penalty"], 1),
        ("Merchant credit balances", Acct.MERCHANT_CREDIT, credit, -1),
        ("Due to partner banks", Acct.DUE_TO_PARTNER_BANKS, partner, -1),
    ]
    return [ReconciliationRow(control=name, account=code, subledger=sub or ZERO,
                              ledger=(sign * balances.get(code, ZERO)) or ZERO)  # `or`: no "-0.00"
            for name, code, sub, sign in rows]


def merchant_credit_total(*, merchants) -> Decimal:
    """Credit balances held for these merchants: overpayments and sweep remainders less refunds."""
    received = RepaymentAllocation.objects.filter(repayment__loan__merchant__in=merchants, component="credit").aggregate(
        total=Sum("amount"))["total"] or ZERO
    refunded = CreditRefund.objects.filter(merchant__in=merchants).aggregate(total=Sum("amount"))["total"] or ZERO
    return received - refunded


def _partner_interest_collected(lender) -> Decimal:
    """The partner banks' share of interest collected (shares.lender_interest_part, set-based).

    The quotient is taken to 24 places, as Python's 28-digit Decimal takes it: PostgreSQL's default (about 16 significant
    digits) can round a value just under a half cent up to it, a cent away from the posting.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT COALESCE(SUM(t.paid - ROUND((t.paid * (w.whole - LEAST(l.partner_principal * l.partner_annual_rate, w.whole)))
                                               ::numeric(60, 24) / w.whole, 2)), 0)
            FROM repayments_loan l
            JOIN merchants_merchant m ON m.id = l.merchant_id
            JOIN (SELECT loan_id, SUM(interest_paid) AS paid FROM repayments_loaninstallment GROUP BY loan_id) t
              ON t.loan_id = l.id
            CROSS JOIN LATERAL (SELECT l.principal * l.annual_rate AS whole) w
            WHERE m.lender_id = %s AND l.partner_principal <> 0 AND w.whole <> 0
            """,
            [lender.pk],
        )
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime.datetime
    actor_label: str
    action: str
    reason: str = ""
    from_state: str = ""
    to_state: str = ""


@dataclass(frozen=True)
class NightlyAccruals:
    """End of day's accruals on a loan over one or more nights in a row, with none of its other events between."""

    at: datetime.datetime  # when the last night's entry was posted
    first: datetime.date
    last: datetime.date
    nights: int
    interest: Decimal
    fee: Decimal
    penalty: Decimal
    chunk_reference: str  # the last night's GL entry, which carries this loan with the rest of its chunk
    actor_label: str = "system:eod"
    action: str = "end_of_day_accrual"
    from_state: str = ""
    to_state: str = ""

    @property
    def reason(self) -> str:
        when, entry = ((f"for {self.first.isoformat()}", "entry") if self.nights == 1 else
                       (f"over {self.nights} nights, {self.first.isoformat()} to {self.last.isoformat()}", "last entry"))
        amounts = ", ".join(f"{name} {value:,.2f}" for name, value in
                            (("interest", self.interest), ("fees", self.fee), ("penalty", self.penalty)) if value)
        return f"End of day accrued {amounts} {when} ({entry} {self.chunk_reference}, with the rest of its chunk of loans)"

    def __add__(self, later: "NightlyAccruals") -> "NightlyAccruals":
        return NightlyAccruals(at=later.at, first=self.first, last=later.last, nights=self.nights + later.nights,
                               interest=self.interest + later.interest, fee=self.fee + later.fee,
                               penalty=self.penalty + later.penalty, chunk_reference=later.chunk_reference)


def _nightly_accruals(loan: Loan) -> list[NightlyAccruals]:
    """One per night end of day accrued on the loan, dated by its chunk's GL entry (eod.posting's reference)."""
    nights = list(loan.nightly_accruals.order_by("business_date"))
    references = {night.business_date: [eod_entry_reference(business_date=night.business_date, step=step,
                                                            first_loan=night.chunk_start)
                                        for step, amount in (("interest", night.interest + night.fee),
                                                             ("penalty", night.penalty)) if amount]
                  for night in nights}
    posted = dict(JournalEntry.objects.filter(lender_id=loan.merchant.lender_id,
                                              reference__in=[r for refs in references.values() for r in refs])
                  .values_list("reference", "posted_at"))
    day_end = datetime.time.max.replace(tzinfo=timezone.get_default_timezone())  # if an entry could not be found
    return [NightlyAccruals(at=max((posted[r] for r in references[night.business_date] if r in posted),
                                   default=datetime.datetime.combine(night.business_date, day_end)),
                            first=night.business_date,
                            last=night.business_date, nights=1, interest=night.interest, fee=night.fee,
                            penalty=night.penalty, chunk_reference=references[night.business_date][-1])
            for night in nights]


def loan_timeline(*, loan: Loan) -> list:
    """Every event of a loan, oldest first: audited state changes and decisions, each journal entry it caused
    (disbursement, accruals, repayments, reversals, replays, schedule recomputations), and end of day's accruals
    (nights in a row with nothing else between shown as one)."""
    prefixes = [f"disbursement:{loan.application_id}:", accrual_reference_prefix(loan_id=loan.pk), f"repayment:{loan.pk}:",
                f"payoff-accrual-release:{loan.pk}:", f"write-off:{loan.pk}:", f"recovery:{loan.pk}:",
                f"schedule:{loan.pk}:"]
    query = Q(reference=f"payoff-accrual-release:{loan.pk}")  # the first payoff's; later ones are numbered after a colon
    # Penalty taken back after a bounced payment is named by that payment; after a late one, by the loan.
    query |= Q(reference__in=[f"penalty-unwind:{pk}" for pk in loan.repayments.values_list("pk", flat=True)])
    for prefix in [*prefixes, f"penalty-unwind:{loan.pk}:"]:
        query |= Q(reference__startswith=prefix)
    # An entry's amount is the cash it moved (a payment, a disbursement, a bounce), or what it moved through the suspense
    # of payments being re-applied; without either, its debits. Not its debits always: a co-lent repayment, or its
    # undoing, also moves the bank's share of interest between two other accounts.
    moved = F("lines__debit") + F("lines__credit")
    entries = JournalEntry.objects.filter(query, lender_id=loan.merchant.lender_id).annotate(
        amount=Coalesce(Sum(moved, filter=Q(lines__account__code=Acct.CASH)),
                        Sum(moved, filter=Q(lines__account__code=Acct.REAPPLICATION_SUSPENSE)),
                        Sum("lines__debit"))).order_by("posted_at", "id")
    events = [TimelineEvent(at=e.posted_at, actor_label=e.created_by, action=e.get_kind_display(),
                            reason=f"{e.description} — {e.amount:,.2f} (entry {e.reference}, {e.business_date})")
              for e in entries]
    events += list(audit_trail_for(loan)) + list(audit_trail_for(loan.application)) + _nightly_accruals(loan)
    merged = []
    for event in sorted(events, key=lambda e: e.at):
        if isinstance(event, NightlyAccruals) and merged and isinstance(merged[-1], NightlyAccruals):
            merged[-1] += event
        else:
            merged.append(event)
    return merged
