"""Every state change of the ledger context: setup, rule sets, lender funding, loan-side postings.

Each money service is one transaction that takes the lender position lock first, then
checks its limits against balances read under that lock, then posts through
``posting.post_locked`` — so no interleaving of concurrent requests can pass a limit, and
a refused request writes nothing. A retried request (same reference, same kind and
amount) returns the entry it posted the first time.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.core.audit import audit_record
from apps.core.calendar import business_date_today
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import quantize

from .errors import (
    CapExceeded,
    DuplicateReference,
    ExceedsOutstanding,
    FacilityLimitExceeded,
    InsufficientCash,
    LedgerError,
    LenderInBreach,
    SingleBorrowerLimitExceeded,
    TooManyLendingBanks,
)
from .locks import lender_position_lock
from .models import (
    Account,
    AccountType,
    Acct,
    BorrowingFacility,
    EntryKind,
    FacilityState,
    JournalEntry,
    LenderPosition,
    LprRate,
    NormalSide,
    RuleSet,
)
from .posting import (
    CHECK_CASH,
    CHECK_OUTSTANDING,
    CHECK_SINGLE_BORROWER,
    amount_check,
    balance_slices_create,
    cr,
    dr,
    post_locked,
    principal_post,
)
from .selectors import (
    CapitalPosition,
    PostingState,
    account_type_of,
    capital_position_from,
    position_lock_state_get,
    rules_in_force_get,
)

ZERO = Decimal("0.00")

# Accounts whose balance may never cross to the wrong side (also a CHECK on the balance rows).
NON_NEGATIVE = {Acct.CASH, Acct.LOANS_PRINCIPAL, Acct.LOANS_INTEREST, Acct.LOANS_FEES, Acct.LOANS_PENALTIES,
                Acct.LOAN_LOSS_ALLOWANCE, Acct.BANK_BORROWINGS, Acct.REAPPLICATION_SUSPENSE}
CONTRA = {Acct.LOAN_LOSS_ALLOWANCE}


# --- setup ----------------------------------------------------------------------------------

def chart_of_accounts_ensure(*, lender) -> dict[str, Account]:
    """Create any missing account of the small-loan chart (and its base-currency balance slices); idempotent."""
    accounts = []
    for code, name in Acct.choices:
        type_ = account_type_of(code)
        debit_normal = (type_ in (AccountType.ASSET, AccountType.EXPENSE)) != (code in CONTRA)
        account, _ = Account.objects.get_or_create(lender=lender, code=code, defaults={
            "name": name, "type": type_, "normal_side": NormalSide.DEBIT if debit_normal else NormalSide.CREDIT,
            "non_negative": code in NON_NEGATIVE,
        })
        accounts.append(account)
    balance_slices_create([(account, lender.base_currency) for account in accounts])
    return {a.code: a for a in accounts}


@transaction.atomic
def ledger_setup_ensure(*, lender) -> LenderPosition:
    """The lender's chart of accounts and position row; safe to call again and concurrently."""
    position, _ = LenderPosition.objects.get_or_create(lender=lender)
    LenderPosition.objects.select_for_update().get(pk=position.pk)  # serialise concurrent first-time setups
    chart_of_accounts_ensure(lender=lender)
    return position


# --- rule sets ------------------------------------------------------------------------------

RULE_FIELDS = ("borrowing_cap_ratio", "max_lending_banks", "single_borrower_ratio", "reserve_coverage_min",
               "apr_multiple_of_lpr", "min_own_share_colending", "upfront_deduction_allowed")


@transaction.atomic
def rule_set_version_create(*, lender, actor, effective_from: datetime.date, reason: str, **values) -> RuleSet:
    """Record a new version of the lender's rules (earlier versions stay, for the dates they covered).

    It takes effect today or later: the rules that were in force on a past date are history, which reports as of that
    date read back, and are not rewritten.
    """
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown rule(s): {', '.join(sorted(unknown))}.")
    if not reason.strip():
        raise ValidationFailed("Say why the rules change.", code="REASON_REQUIRED")
    today = business_date_today()
    if effective_from < today:
        raise ValidationFailed(f"New rules take effect from today ({today.isoformat()}) or later; the rules in force on "
                               f"{effective_from.isoformat()} stay as they were.", code="RULES_BACKDATED")
    lender_position_lock(lender)  # versions are numbered under the lender's lock
    current = rules_in_force_get(lender=lender, on=effective_from)
    latest = RuleSet.objects.filter(lender=lender).order_by("-version").values_list("version", flat=True).first() or 0
    rules = RuleSet(lender=lender, version=latest + 1, effective_from=effective_from, reason=reason, created_by=actor,
                    **{name: values.get(name, getattr(current, name)) for name in RULE_FIELDS})
    for name in ("borrowing_cap_ratio", "single_borrower_ratio", "min_own_share_colending"):
        if not Decimal("0") <= getattr(rules, name) <= Decimal("1"):
            raise ValidationFailed(f"{name.replace('_', ' ')} must be between 0 and 1.", code="INVALID_RULE")
    rules.save()
    audit_record(actor=actor, action="rule_set_version_created", subject=rules, reason=reason,
                 data={"version": rules.version, "effective_from": effective_from.isoformat(),
                       "from_version": current.version,
                       "changes": {name: [str(getattr(current, name)), str(getattr(rules, name))] for name in RULE_FIELDS
                                   if getattr(current, name) != getattr(rules, name)}})
    return rules


@transaction.atomic
def lpr_rate_record(*, effective_from: datetime.date, one_year_rate: Decimal, actor) -> LprRate:
    """Record a newly published one-year LPR (national, shared by every lender); audited."""
    if not isinstance(one_year_rate, Decimal) or not Decimal("0") < one_year_rate < Decimal("100"):
        raise ValidationFailed("The LPR is a percentage between 0 and 100.", code="INVALID_RATE")
    if LprRate.objects.filter(effective_from=effective_from).exists():
        raise Conflict(f"An LPR from {effective_from} is already recorded.", code="LPR_EXISTS")
    rate = LprRate.objects.create(effective_from=effective_from, one_year_rate=one_year_rate)
    audit_record(actor=actor, action="lpr_recorded", subject=rate,
                 data={"effective_from": effective_from.isoformat(), "one_year_rate": str(one_year_rate)})
    return rate


# --- helpers --------------------------------------------------------------------------------

def _same_event(*, lender, reference: str, kind: str, amount: Decimal, facility=None) -> JournalEntry:
    """The entry already posted for this reference if it is the same event; a different event → DuplicateReference.

    A facility's events (drawdowns, repayments and interest to a bank) are the same only under the same facility.
    """
    entry = JournalEntry.objects.select_related("facility").get(lender=lender, reference=reference)
    posted = sum((line.debit for line in entry.lines.all()), ZERO)
    if entry.kind != kind or posted != amount:
        raise DuplicateReference(
            f"Reference {reference} was already used for a {entry.get_kind_display().lower()} of {posted:,.2f}.", existing=entry)
    if facility is not None and entry.facility_id != facility.pk:
        bank = entry.facility.bank_name if entry.facility else "no facility"
        raise DuplicateReference(
            f"Reference {reference} was already used for a {entry.get_kind_display().lower()} of {posted:,.2f} "
            f"with {bank}.", existing=entry)
    return entry


@dataclass(frozen=True)
class _Locked:
    """What a money service decided on, read while holding the lender's position lock."""

    lender: object
    reference: str
    kind: str
    chart: dict
    state: PostingState
    position: CapitalPosition
    merchant_id: int | None

    def post(self, *, lines, business_date, actor, description, facility=None) -> JournalEntry:
        exposures = {self.merchant_id: self.state.exposure} if self.merchant_id else None
        return post_locked(lender=self.lender, reference=self.reference, kind=self.kind, lines=lines, facility=facility,
                           business_date=business_date, actor=actor, description=description, chart=self.chart,
                           balances=self.state.balances, exposures=exposures)


def _begin(*, lender, reference: str, kind: str, amount: Decimal, business_date=None, merchant=None, facility=None):
    """Lock the lender's position and read everything the decision needs: (replayed entry, None) or (None, _Locked).

    One round trip: the lock and the reads taken after it (chart, balances, reference,
    exposure, rules in force) are a single database function call.
    """
    merchant_id = getattr(merchant, "pk", None)
    today = business_date_today()
    if business_date is not None and business_date > today:
        raise ValidationFailed(f"An entry cannot be dated after today ({today.isoformat()}).", code="FUTURE_DATED")
    # The limits in force today: an entry dated earlier still moves today's position.
    state = position_lock_state_get(lender=lender, reference=reference, merchant_id=merchant_id, on=today)
    if state is None or state.chart is None:  # first use: no position row or chart yet
        ledger_setup_ensure(lender=lender)
        state = position_lock_state_get(lender=lender, reference=reference, merchant_id=merchant_id, on=today)
    if state.reference_posted:
        return _same_event(lender=lender, reference=reference, kind=kind, amount=amount, facility=facility), None
    position = capital_position_from(lender=lender, balances=state.balances, rules=state.rules)
    return None, _Locked(lender, reference, kind, state.chart, state, position, merchant_id)


def _cash_check(position, amount: Decimal, what: str) -> None:
    if position.cash < amount:
        raise InsufficientCash(f"Cash at bank is {position.cash:,.2f} {position.currency}; {what} needs {amount:,.2f}.")


def _audit_money(*, actor, action: str, subject, entry: JournalEntry, amount: Decimal, **data) -> None:
    audit_record(actor=actor, action=action, subject=subject,
                 data={"reference": entry.reference, "entry_id": entry.pk, "amount": str(amount), **data})


# --- lender funding -------------------------------------------------------------------------

def _capital_receipt(*, lender, amount, reference, actor, business_date, description, kind, credit_account, action):
    amount = amount_check(amount)
    replayed, locked = _begin(lender=lender, reference=reference, kind=kind, amount=amount, business_date=business_date)
    if replayed:
        return replayed
    entry = locked.post(business_date=business_date, actor=actor, description=description,
                        lines=[dr(Acct.CASH, amount), cr(credit_account, amount)])
    _audit_money(actor=actor, action=action, subject=entry, entry=entry, amount=amount)
    return entry


@transaction.atomic
def equity_inject(*, lender, amount: Decimal, reference: str, actor, business_date: datetime.date | None = None,
                  description: str = "Equity injection") -> JournalEntry:
    """Shareholders pay in capital: Dr cash at bank / Cr paid-in capital."""
    return _capital_receipt(lender=lender, amount=amount, reference=reference, actor=actor, business_date=business_date,
                            description=description, kind=EntryKind.EQUITY_INJECTION, credit_account=Acct.PAID_IN_CAPITAL,
                            action="equity_injected")


@transaction.atomic
def donation_record(*, lender, amount: Decimal, reference: str, actor, business_date: datetime.date | None = None,
                    description: str = "Donation") -> JournalEntry:
    """A donation: Dr cash at bank / Cr donated capital."""
    return _capital_receipt(lender=lender, amount=amount, reference=reference, actor=actor, business_date=business_date,
                            description=description, kind=EntryKind.DONATION, credit_account=Acct.DONATED_CAPITAL,
                            action="donation_recorded")


@transaction.atomic
def facility_open(*, lender, bank_name: str, limit: Decimal, annual_rate: Decimal, actor,
                  opened_on: datetime.date | None = None, reference: str = "") -> BorrowingFacility:
    """Record a credit line from a bank; refused when it would make more lending banks than the rules allow.

    With a reference, the same request sent again returns the facility it opened."""
    limit = amount_check(limit, what="facility limit")
    bank_name = " ".join(bank_name.split())
    if not bank_name:
        raise ValidationFailed("Name the lending bank.", code="BANK_NAME_REQUIRED")
    if not isinstance(annual_rate, Decimal) or not Decimal("0") <= annual_rate <= Decimal("100"):
        raise ValidationFailed("The annual rate is a percentage between 0 and 100.", code="INVALID_RATE")
    lender_position_lock(lender)
    opened = BorrowingFacility.objects.filter(lender=lender, reference=reference).first() if reference else None
    if opened is not None:
        return opened
    rules = rules_in_force_get(lender=lender, on=opened_on)
    banks = {name.casefold() for name in BorrowingFacility.objects.filter(lender=lender, state=FacilityState.ACTIVE)
             .values_list("bank_name", flat=True)}
    if bank_name.casefold() not in banks and len(banks) + 1 > rules.max_lending_banks:
        raise TooManyLendingBanks(
            f"The lender already borrows from {len(banks)} bank(s) ({', '.join(sorted(banks))}); "
            f"the rules allow at most {rules.max_lending_banks}.")
    facility = BorrowingFacility.objects.create(
        lender=lender, bank_name=bank_name, limit=limit, annual_rate=annual_rate, currency=lender.base_currency,
        opened_on=opened_on or business_date_today(), created_by=actor if getattr(actor, "pk", None) else None,
        reference=reference)
    audit_record(actor=actor, action="facility_opened", subject=facility, to_state=facility.state,
                 data={"bank": bank_name, "limit": str(limit), "annual_rate": str(annual_rate)})
    return facility


@transaction.atomic
def facility_close(*, facility: BorrowingFacility, actor, reason: str = "") -> BorrowingFacility:
    lender_position_lock(facility.lender)
    locked = BorrowingFacility.objects.select_for_update().get(pk=facility.pk)
    if locked.state != FacilityState.ACTIVE:
        raise Conflict("The facility is already closed.", code="FACILITY_CLOSED")
    if locked.drawn > 0:
        raise Conflict(f"Repay the {locked.drawn:,.2f} drawn before closing the facility.", code="FACILITY_DRAWN")
    locked.state = FacilityState.CLOSED
    locked.save(update_fields=["state"])
    audit_record(actor=actor, action="facility_closed", subject=locked, from_state=FacilityState.ACTIVE,
                 to_state=FacilityState.CLOSED, reason=reason)
    return locked


def _facility_of(lender, facility: BorrowingFacility) -> BorrowingFacility:
    return BorrowingFacility.objects.get(pk=facility.pk, lender=lender)


@transaction.atomic
def drawdown_record(*, facility: BorrowingFacility, amount: Decimal, reference: str, actor,
                    business_date: datetime.date | None = None) -> JournalEntry:
    """Borrow under a facility: Dr cash / Cr bank borrowings — only within the facility limit and the borrowing cap.

    Refused while the lender is in breach, and when borrowings + amount would exceed
    cap ratio × net capital (the message states net capital, borrowings and headroom).
    """
    lender = facility.lender
    amount = amount_check(amount)
    replayed, locked = _begin(lender=lender, reference=reference, kind=EntryKind.DRAWDOWN, amount=amount,
                              business_date=business_date, facility=facility)
    if replayed:
        return replayed
    facility = _facility_of(lender, facility)
    if facility.state != FacilityState.ACTIVE:
        raise Conflict(f"The facility with {facility.bank_name} is closed.", code="FACILITY_CLOSED")
    position = locked.position
    if position.in_breach:
        raise LenderInBreach(
            f"The lender is in breach of the borrowing cap ({position.describe()}); "
            "no drawdown until it is cured by repaying borrowings or adding capital.")
    if facility.drawn + amount > facility.limit:
        raise FacilityLimitExceeded(
            f"Drawing {amount:,.2f} would take the facility with {facility.bank_name} to {facility.drawn + amount:,.2f}, "
            f"over its limit of {facility.limit:,.2f} (undrawn {facility.undrawn:,.2f}).")
    if amount > position.headroom:
        raise CapExceeded(
            f"Drawing {amount:,.2f} would take bank borrowings to {position.borrowings + amount:,.2f}, over the cap of "
            f"{position.cap_amount:,.2f} ({position.cap_ratio:.0%} of net capital {position.net_capital:,.2f}); "
            f"borrowings are {position.borrowings:,.2f}, headroom {max(position.headroom, ZERO):,.2f}.")
    entry = locked.post(business_date=business_date, actor=actor, facility=facility,
                        description=f"Drawdown from {facility.bank_name}",
                        lines=[dr(Acct.CASH, amount), cr(Acct.BANK_BORROWINGS, amount)])
    _audit_money(actor=actor, action="drawdown_recorded", subject=facility, entry=entry, amount=amount)
    return entry


@transaction.atomic
def borrowing_repay(*, facility: BorrowingFacility, amount: Decimal, reference: str, actor,
                    business_date: datetime.date | None = None) -> JournalEntry:
    """Repay a bank: Dr bank borrowings / Cr cash (cures a breach when enough is repaid)."""
    lender = facility.lender
    amount = amount_check(amount)
    replayed, locked = _begin(lender=lender, reference=reference, kind=EntryKind.BORROWING_REPAYMENT, amount=amount,
                              business_date=business_date, facility=facility)
    if replayed:
        return replayed
    facility = _facility_of(lender, facility)
    if amount > facility.drawn:
        raise ExceedsOutstanding(f"Only {facility.drawn:,.2f} is drawn under the facility with {facility.bank_name}.")
    _cash_check(locked.position, amount, "the repayment")
    entry = locked.post(business_date=business_date, actor=actor, facility=facility,
                        description=f"Repayment to {facility.bank_name}",
                        lines=[dr(Acct.BANK_BORROWINGS, amount), cr(Acct.CASH, amount)])
    _audit_money(actor=actor, action="borrowing_repaid", subject=facility, entry=entry, amount=amount)
    return entry


@transaction.atomic
def borrowing_interest_pay(*, facility: BorrowingFacility, amount: Decimal, reference: str, actor,
                           business_date: datetime.date | None = None) -> JournalEntry:
    """Interest paid to a lending bank: Dr funding-cost expense / Cr cash (lowers net capital)."""
    lender = facility.lender
    amount = amount_check(amount)
    replayed, locked = _begin(lender=lender, reference=reference, kind=EntryKind.BORROWING_INTEREST, amount=amount,
                              business_date=business_date, facility=facility)
    if replayed:
        return replayed
    facility = _facility_of(lender, facility)
    _cash_check(locked.position, amount, "the interest payment")
    entry = locked.post(business_date=business_date, actor=actor, facility=facility,
                        description=f"Interest to {facility.bank_name}",
                        lines=[dr(Acct.FUNDING_COST_EXPENSE, amount), cr(Acct.CASH, amount)])
    _audit_money(actor=actor, action="borrowing_interest_paid", subject=facility, entry=entry, amount=amount)
    return entry


# --- loan side ------------------------------------------------------------------------------

def _merchant_check(lender, merchant) -> None:
    if merchant.lender_id != lender.pk:
        raise ValidationFailed("The merchant belongs to another lender.", code="UNKNOWN_MERCHANT")


def loan_funding_post(*, lender, merchant, amount: Decimal, reference: str, actor,
                      business_date: datetime.date | None = None) -> JournalEntry:
    """Fund a loan from the lender's own cash: Dr loans receivable — principal (tagged with the merchant) / Cr cash.

    Refused when cash is short or the merchant's exposure would pass single-borrower ratio × net capital.
    One database statement locks the position, checks both limits and posts (posting.principal_post): it is the
    whole transaction when called on its own, a savepoint of the caller's transaction otherwise.
    """
    amount = amount_check(amount)
    _merchant_check(lender, merchant)
    done = principal_post(lender=lender, merchant=merchant, amount=amount, reference=reference, kind=EntryKind.LOAN_FUNDING,
                          funding=True, business_date=business_date, actor=actor, description=f"Loan funding to {merchant}")
    if done.replayed:
        return _same_event(lender=lender, reference=reference, kind=EntryKind.LOAN_FUNDING, amount=amount)
    if done.refused == CHECK_CASH:
        _cash_check(done.position, amount, "the loan")
    if done.refused == CHECK_SINGLE_BORROWER:
        _single_borrower_check(done.position, merchant, done.exposure or ZERO, amount)
    return _posted(done)


def _single_borrower_check(position: CapitalPosition, merchant, exposure: Decimal, amount: Decimal) -> None:
    if exposure + amount > position.single_borrower_limit:
        raise SingleBorrowerLimitExceeded(
            f"{merchant} would owe {exposure + amount:,.2f}, over the single-borrower limit of "
            f"{position.single_borrower_limit:,.2f} ({position.single_borrower_ratio:.0%} of net capital "
            f"{position.net_capital:,.2f}); current exposure {exposure:,.2f}, "
            f"headroom {max(position.single_borrower_limit - exposure, ZERO):,.2f}.")


def _outstanding_check(merchant, exposure: Decimal, amount: Decimal) -> None:
    if amount > exposure:
        raise ExceedsOutstanding(f"{merchant} owes {exposure:,.2f} of principal; {amount:,.2f} is more.")


def loan_repayment_post(*, lender, merchant, amount: Decimal, reference: str, actor,
                        business_date: datetime.date | None = None) -> JournalEntry:
    """Principal comes back: Dr cash / Cr loans receivable — principal (one statement, as loan_funding_post)."""
    amount = amount_check(amount)
    _merchant_check(lender, merchant)
    done = principal_post(lender=lender, merchant=merchant, amount=amount, reference=reference,
                          kind=EntryKind.LOAN_REPAYMENT, funding=False, business_date=business_date, actor=actor,
                          description=f"Principal repaid by {merchant}")
    if done.replayed:
        return _same_event(lender=lender, reference=reference, kind=EntryKind.LOAN_REPAYMENT, amount=amount)
    if done.refused == CHECK_OUTSTANDING:
        _outstanding_check(merchant, done.exposure or ZERO, amount)
    return _posted(done)


def _posted(done) -> JournalEntry:
    if done.entry is None:  # the database refused a check the message helpers above did not: never return nothing
        raise LedgerError(f"The books refused this posting ({done.refused}).", code="REFUSED")
    return done.entry


@transaction.atomic
def provision_post(*, lender, amount: Decimal, reference: str, actor, business_date: datetime.date | None = None,
                   description: str = "Loan-loss provision") -> JournalEntry:
    """A provision: Dr impairment expense / Cr loan-loss allowance (lowers net capital; may put the lender in breach)."""
    amount = amount_check(amount)
    replayed, locked = _begin(lender=lender, reference=reference, kind=EntryKind.PROVISION, amount=amount,
                              business_date=business_date)
    if replayed:
        return replayed
    return locked.post(business_date=business_date, actor=actor, description=description,
                       lines=[dr(Acct.IMPAIRMENT_EXPENSE, amount), cr(Acct.LOAN_LOSS_ALLOWANCE, amount)])


@transaction.atomic
def loan_write_off_post(*, lender, merchant, amount: Decimal, reference: str, actor,
                        business_date: datetime.date | None = None) -> JournalEntry:
    """Write principal off: Dr loan-loss allowance (as far as it goes, the rest Dr impairment expense) / Cr loans receivable."""
    amount = amount_check(amount)
    _merchant_check(lender, merchant)
    replayed, locked = _begin(lender=lender, reference=reference, kind=EntryKind.WRITE_OFF, amount=amount,
                              business_date=business_date, merchant=merchant)
    if replayed:
        return replayed
    exposure = locked.state.exposure or ZERO
    if amount > exposure:
        raise ExceedsOutstanding(f"{merchant} owes {exposure:,.2f} of principal; cannot write off {amount:,.2f}.")
    allowance = -locked.state.balances.get(Acct.LOAN_LOSS_ALLOWANCE, ZERO)
    from_allowance = quantize(min(max(allowance, ZERO), amount))
    lines = [cr(Acct.LOANS_PRINCIPAL, amount, merchant=merchant)]
    if from_allowance > 0:
        lines.append(dr(Acct.LOAN_LOSS_ALLOWANCE, from_allowance))
    if amount - from_allowance > 0:
        lines.append(dr(Acct.IMPAIRMENT_EXPENSE, amount - from_allowance))
    return locked.post(business_date=business_date, actor=actor, description=f"Write-off of {merchant}", lines=lines)
