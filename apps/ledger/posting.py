"""The one way into the books: journal_post (and journal_reverse, which posts through it).

Idempotency: an entry's reference is unique per lender (a database constraint). Posting a
reference that already exists raises DuplicateReference carrying the existing entry — it
never posts twice. The business services in ``services`` treat a replay of the *same*
event (same kind and amount) as success and return the original entry instead.
"""

import contextlib
import datetime
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import DatabaseError, IntegrityError, connection, transaction

from apps.core.audit import actor_label_of, audit_record
from apps.core.calendar import business_date_today
from apps.core.db import prepared_fetchall
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import MAX_AMOUNT, quantize

from .errors import DuplicateReference, FacilityLimitExceeded, LedgerError, UnbalancedEntry
from .locks import balances_lock, lender_position_lock, merchant_exposure_lock
from .models import BALANCE_SLICES, AccountBalance, Acct, EntryKind, JournalEntry, RuleSet
from .selectors import NET_CAPITAL_CODES, CapitalPosition, chart_get

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Line:
    account: str  # account code, e.g. Acct.CASH
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    merchant_id: int | None = None
    currency: str | None = None  # the lender's base currency when None


def dr(account: str, amount: Decimal, *, merchant=None) -> Line:
    return Line(account, debit=amount, merchant_id=getattr(merchant, "pk", merchant))


def cr(account: str, amount: Decimal, *, merchant=None) -> Line:
    return Line(account, credit=amount, merchant_id=getattr(merchant, "pk", merchant))


def amount_check(value, *, what: str = "amount") -> Decimal:
    """A positive amount in whole cents, within MAX_AMOUNT; refused rather than silently rounded."""
    if not isinstance(value, Decimal):
        raise ValidationFailed(f"The {what} must be a decimal amount.", code="INVALID_AMOUNT")
    if not value.is_finite() or value <= 0:
        raise ValidationFailed(f"The {what} must be positive; got {value}.", code="INVALID_AMOUNT")
    if value > MAX_AMOUNT:
        raise ValidationFailed(f"The {what} {value} is larger than {MAX_AMOUNT}.", code="INVALID_AMOUNT")
    if quantize(value) != value:
        raise ValidationFailed(f"The {what} {value} has fractions of a cent.", code="INVALID_AMOUNT")
    return quantize(value)


def _reference_check(reference: str) -> None:
    longest = JournalEntry._meta.get_field("reference").max_length
    if not reference or len(reference) > longest:
        raise ValidationFailed(f"A reference of 1–{longest} characters is required.", code="INVALID_REFERENCE")


def _validate(lender, reference: str, lines: list[Line]) -> list[Line]:
    _reference_check(reference)
    if len(lines) < 2:
        raise UnbalancedEntry("A journal entry needs at least two lines.")
    normalised, totals = [], defaultdict(lambda: [ZERO, ZERO])
    for line in lines:
        debit, credit = line.debit or ZERO, line.credit or ZERO
        if (debit > 0) == (credit > 0) or debit < 0 or credit < 0:
            raise UnbalancedEntry(f"Each line is a debit or a credit, not both or neither ({line.account}).")
        amount_check(debit or credit, what=f"amount on {line.account}")
        currency = line.currency or lender.base_currency
        totals[currency][0] += debit
        totals[currency][1] += credit
        normalised.append(Line(line.account, debit, credit, line.merchant_id, currency))
    for currency, (debits, credits) in totals.items():
        if debits != credits:
            raise UnbalancedEntry(f"The entry does not balance in {currency}: debits {debits:,.2f}, credits {credits:,.2f}.")
    return normalised


def reference_posted(*, lender, reference: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM ledger_journalentry WHERE lender_id = %s AND reference = %s", [lender.pk, reference])
        return cursor.fetchone() is not None


def post_locked(
    *, lender, reference: str, lines: list[Line], business_date: datetime.date | None = None, description: str = "",
    actor=None, kind: str = EntryKind.MANUAL, reverses: JournalEntry | None = None, facility=None, chart=None,
    balances: dict[str, Decimal] | None = None, exposures: dict[int, Decimal | None] | None = None,
) -> JournalEntry:
    """Post one entry. The caller holds the lender position lock inside its transaction.

    `chart`, `balances` (base-currency net debits by code) and `exposures` (merchant id →
    principal or None) may be passed when the caller already read them under the lock.

    Also keeps the sub-ledgers in step: merchant-tagged lines on loans-receivable principal
    move that merchant's exposure row; bank-borrowing lines of a facility entry move its
    `drawn`. Database CHECKs back both (exposure ≥ 0, 0 ≤ drawn ≤ limit).

    Money services run this under the lender's lock, so it is written for few round trips. With
    nothing passed in (the usual case) it is ONE call of ledger_post_checked (migrations 0005/0006):
    the position not locked again (the caller holds it, or, like end of day, deliberately does
    not: see 0006), exposure rows locked and checked in merchant-id
    order, balance rows locked in account-id order and checked for the wrong side, the entry and
    its lines written. Otherwise (a facility entry, another currency, state passed in), one call
    of the database function ledger_post_entry (migration 0003) moves the exposure
    rows (merchant-id order) and the facility, locks the balance rows in account-id order,
    updates them and inserts the entry and its lines — its statements planned once per
    connection rather than on every posting.
    """
    lines = _validate(lender, reference, lines)
    if facility is None and chart is None and balances is None and exposures is None and all(
            line.currency == lender.base_currency for line in lines):
        # Nothing read by the caller to reuse: check and post in ONE statement (ledger_post_checked, no named checks).
        business_date = business_date or business_date_today()
        status, entry = _post_one_statement(lender=lender, reference=reference, kind=kind, lines=lines,
                                            business_date=business_date, description=description, actor=actor,
                                            reverses=reverses)
        if status == "replay":  # the unique reference: the caller checked it under the lock; this is the backstop
            raise DuplicateReference(f"Reference {reference} was already posted.")
        return entry
    chart = chart or chart_get(lender=lender)
    unknown = {line.account for line in lines} - chart.keys()
    if unknown:
        raise ValidationFailed(f"Unknown account(s) for this lender: {', '.join(sorted(unknown))}.", code="UNKNOWN_ACCOUNT")

    exposure_deltas: dict[int, Decimal] = defaultdict(lambda: ZERO)
    facility_delta = ZERO
    balance_deltas: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        if line.account == Acct.LOANS_PRINCIPAL and line.merchant_id:
            exposure_deltas[line.merchant_id] += line.debit - line.credit
        if line.account == Acct.BANK_BORROWINGS and facility is not None:
            facility_delta += line.credit - line.debit
        balance_deltas[(chart[line.account].id, line.currency)] += line.debit - line.credit
    new_exposures = set()
    for merchant_id in sorted(exposure_deltas):  # lock order: merchants before facility and balances
        current = exposures[merchant_id] if exposures and merchant_id in exposures else merchant_exposure_lock(merchant_id)
        if current is None:
            new_exposures.add(merchant_id)
        if (current or ZERO) + exposure_deltas[merchant_id] < 0:
            raise LedgerError("That is more principal than the merchant owes.", code="EXCEEDS_OUTSTANDING")
    if facility_delta:
        drawn, limit = type(facility).objects.select_for_update().filter(pk=facility.pk).values_list("drawn", "limit").get()
        if not 0 <= drawn + facility_delta <= limit:
            raise FacilityLimitExceeded(
                f"The facility with {facility.bank_name} would stand at {drawn + facility_delta:,.2f} "
                f"against a limit of {limit:,.2f}.")
    _balances_check(lender, chart, balance_deltas, balances)

    business_date = business_date or business_date_today()
    created_by = actor_label_of(actor)
    balance_keys = sorted(balance_deltas)
    merchants = sorted(exposure_deltas)
    # One call of ledger_post_entry (migration 0003): exposures by merchant id, the facility, then the balance rows
    # locked in (account id, currency) order and updated, the entry and its lines; its statements are planned once.
    params = [
        lender.pk, reference, kind, business_date, description[:255], reverses.pk if reverses else None,
        facility.pk if facility else None, created_by, facility_delta,
        [chart[line.account].id for line in lines], [line.debit for line in lines], [line.credit for line in lines],
        [line.currency for line in lines], [line.merchant_id for line in lines],
        [key[0] for key in balance_keys], [key[1] for key in balance_keys], [balance_deltas[key] for key in balance_keys],
        merchants, [exposure_deltas[m] for m in merchants], [m in new_exposures for m in merchants],
    ]
    try:
        with connection.cursor() as cursor:
            cursor.execute(_POST_SQL, params)
            entry_id, posted_at, balances_updated = cursor.fetchone()
    except IntegrityError as exc:
        # Callers checked the reference under the position lock; the unique constraint is the backstop.
        if "ledger_entry_unique_reference" in str(exc):
            raise DuplicateReference(f"Reference {reference} was already posted.") from exc
        raise
    if balances_updated != len(balance_deltas):  # never leave a balance row behind its lines
        raise LedgerError("Balance rows are missing for this entry.", code="BALANCE_ROW_MISSING")
    entry = JournalEntry(id=entry_id, lender=lender, reference=reference, kind=kind, business_date=business_date,
                         description=description[:255], reverses=reverses, facility=facility, posted_at=posted_at,
                         created_by=created_by)
    entry._state.adding = False
    entry._state.db = "default"
    return entry


_POST_SQL = ("SELECT * FROM ledger_post_entry(%s, %s, %s, %s, %s, %s, %s, %s, %s::numeric, %s::bigint[], %s::numeric[],"
             " %s::numeric[], %s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::numeric[], %s::bigint[], %s::numeric[],"
             " %s::boolean[])")


def _balances_check(lender, chart, deltas: dict[tuple[int, str], Decimal], balances: dict[str, Decimal] | None) -> None:
    """Refuse a wrong-side balance (the CHECK on the rows would too, less politely); create rows for a new currency."""
    keys = sorted(deltas)
    by_id = {a.id: a for a in chart.values()}
    if balances is not None and all(currency == lender.base_currency for _, currency in keys):
        current = {key: balances.get(by_id[key[0]].code, ZERO) for key in keys}
    else:
        current = balances_lock(keys)
        missing = [key for key in keys if key not in current]
        if missing:  # first posting in a new currency
            balance_slices_create([(by_id[aid], cur) for aid, cur in missing])
            current = balances_lock(keys)
    for key in keys:
        account = by_id[key[0]]
        after = (current[key] + deltas[key]) * account.sign
        if account.non_negative and after < 0:
            raise LedgerError(f"{account.name} would go below zero ({after:,.2f} {key[1]}).", code="NEGATIVE_BALANCE")


def balance_slices_create(keys) -> None:
    """The BALANCE_SLICES balance rows, at zero, of each (account, currency) that lacks them; idempotent."""
    AccountBalance.objects.bulk_create(
        [AccountBalance(account=account, currency=currency, slice=n, sign=account.sign, non_negative=account.non_negative)
         for account, currency in keys for n in range(BALANCE_SLICES)], ignore_conflicts=True)


# What principal_post refuses, besides a balance on the wrong side ('balance'): cash < a funding; the merchant's
# exposure past the single-borrower limit; a repayment of more principal than the merchant owes.
CHECK_CASH, CHECK_SINGLE_BORROWER, CHECK_OUTSTANDING = "cash", "single_borrower", "outstanding"


@dataclass(frozen=True)
class Checked:
    """What principal_post did: posted `entry`; found the reference `replayed`; or `refused` one of its checks.

    `position` and `exposure` are the decision state of a refusal, read under the lender's lock, for its message.
    """

    entry: JournalEntry | None
    replayed: bool
    refused: str | None = None
    position: CapitalPosition | None = None
    exposure: Decimal | None = None


def principal_post(
    *, lender, merchant, amount: Decimal, reference: str, kind: str, funding: bool,
    business_date: datetime.date | None = None, description: str = "", actor=None,
) -> Checked:
    """Move one merchant's loans-receivable principal against cash, checked — ONE statement (ledger_principal_post,
    migration 0007). A funding is Dr principal / Cr cash, refused when cash is short or the merchant would pass the
    single-borrower limit; a repayment is Dr cash / Cr principal, refused beyond what the merchant owes.

    The lender position is held in KEY SHARE: these entries never lower net capital or raise borrowings, so they
    exclude only the services holding it exclusively (a drawdown, a write-off, a funding event) and otherwise queue
    only on the rows they move, the balance rows last. Outside a transaction the statement is its own transaction;
    inside one it runs in a savepoint, as a nested atomic service would. A refusal is raised by the database, which
    undoes what the statement wrote, and comes back here as `refused`. A reference posted before comes back as
    `replayed` (even when the checks would refuse it now). The amount is the caller's, already checked.
    """
    _reference_check(reference)
    business_date = business_date or business_date_today()
    created_by = actor_label_of(actor)
    # The limits are those in force today: a funding dated earlier still moves today's position.
    # One balance slice per account only when the statement is the whole transaction (ledger migration 0016).
    params = [lender.pk, lender.base_currency, reference, kind, business_date, description[:255], created_by,
              getattr(merchant, "pk", merchant), amount, funding, business_date_today(), not connection.in_atomic_block]
    try:
        status, entry_id, posted_at = _books_call(lender, _PRINCIPAL_SQL, params, savepoint=True)
    except DatabaseError as exc:
        return _refusal(exc, lender)
    if status == "replay":
        return Checked(entry=None, replayed=True)
    return Checked(entry=_entry_of(entry_id, posted_at, lender=lender, reference=reference, kind=kind,
                                   business_date=business_date, description=description, created_by=created_by),
                   replayed=False)


def _rule_defaults() -> list[Decimal]:
    """The DESIGN.md ratios that hold while a lender never recorded a rule set (as rules_in_force_get)."""
    return [RuleSet._meta.get_field(name).default for name in ("borrowing_cap_ratio", "single_borrower_ratio")]


def codes_literal(codes) -> str:
    """Account codes as an SQL text[] literal, for a prepared statement to carry instead of a parameter sent with
    every call. They are ours, and digits: checked, so nothing else is ever written into SQL this way."""
    if not all(str(code).isdigit() for code in codes):
        raise ValueError(f"account codes must be digits to be written into SQL: {codes}")
    return f"ARRAY[{', '.join(repr(str(code)) for code in codes)}]::text[]"


def _constant_literals() -> dict[str, str]:
    """The chart codes and default ratios the posting functions take, as SQL literals: written into their prepared
    statements once instead of sent with every call (they are ours: account codes are digits, the ratios decimals)."""
    codes = {"cash": Acct.CASH, "principal": Acct.LOANS_PRINCIPAL, "borrowings": Acct.BANK_BORROWINGS}
    codes_literal(codes.values())
    cap, single = (f"{Decimal(ratio)}::numeric" for ratio in _rule_defaults())
    return {**{name: f"'{code}'" for name, code in codes.items()}, "cap": cap, "single": single,
            "capital": codes_literal(NET_CAPITAL_CODES)}


_SQL = _constant_literals()
_PRINCIPAL_SQL = ("SELECT * FROM ledger_principal_post(%s, %s, %s, %s, %s, %s, %s, %s::bigint, %s::numeric, %s, "
                  "{cash}, {principal}, {borrowings}, {capital}, {cap}, {single}, %s::date, %s)").format(**_SQL)
_REFUSED = "ledger refused: "


def _refusal(exc: DatabaseError, lender) -> Checked:
    """The database's refusal as a Checked; any other error goes on up."""
    diag = getattr(exc.__cause__, "diag", None)
    message = (diag.message_primary or "") if diag else ""
    if not message.startswith(_REFUSED):
        raise exc
    state = json.loads(diag.message_detail)
    if message == _REFUSED + "balance":
        raise LedgerError("Loans receivable would go below zero.", code="NEGATIVE_BALANCE") from exc
    position = CapitalPosition(
        currency=lender.base_currency, net_capital=Decimal(state["net_capital"]), borrowings=Decimal(state["borrowings"]),
        cash=Decimal(state["cash"]), cap_ratio=Decimal(state["cap_ratio"]), single_borrower_ratio=Decimal(state["single_ratio"]),
        rules_version=state["rules_version"])
    exposure = Decimal(state["exposure"]) if state["exposure"] is not None else None
    return Checked(entry=None, replayed=False, refused=message.removeprefix(_REFUSED), position=position, exposure=exposure)


def _books_call(lender, sql: str, params: list, *, savepoint: bool = False) -> tuple:
    """Run a posting function; on 'no_books' (first use: no position row, chart or balance row yet) set the books up
    and run it once more. Returns its row. With `savepoint`, inside a transaction each call runs in a savepoint of its
    own (the function raises its refusals), and the set-up stays when a call is refused."""
    for first_try in (True, False):
        in_savepoint = transaction.atomic() if savepoint and connection.in_atomic_block else contextlib.nullcontext()
        with in_savepoint:
            row = prepared_fetchall(sql, params)[0]
        if row[0] != "no_books" or not first_try:
            break
        from .services import ledger_setup_ensure

        ledger_setup_ensure(lender=lender)
    if row[0] == "no_books":
        raise LedgerError("Balance rows are missing for this entry.", code="BALANCE_ROW_MISSING")
    return row


def _entry_of(entry_id: int, posted_at, *, lender, reference, kind, business_date, description, created_by,
              reverses=None) -> JournalEntry:
    """The JournalEntry a posting function wrote, without reading it back."""
    entry = JournalEntry(id=entry_id, lender=lender, reference=reference, kind=kind, business_date=business_date,
                         description=description[:255], reverses=reverses, posted_at=posted_at, created_by=created_by)
    entry._state.adding = False
    entry._state.db = "default"
    return entry


def _post_one_statement(*, lender, reference, kind, lines, business_date, description, actor, reverses):
    """Post validated base-currency lines with ledger_post_checked, the position not locked (its caller holds it, or
    deliberately does not: migration 0006); raise its refusals as post_locked does. Returns (status, entry or None).
    """
    created_by = actor_label_of(actor)
    params = [
        lender.pk, lender.base_currency, reference, kind, business_date, description[:255], created_by,
        reverses.pk if reverses else None, [line.account for line in lines], [line.debit for line in lines],
        [line.credit for line in lines], [line.merchant_id for line in lines],
    ]
    status, entry_id, posted_at, *_, detail = _books_call(lender, _CHECKED_SQL, params)
    if status == "unknown_account":
        raise ValidationFailed(f"Unknown account(s) for this lender: {detail}.", code="UNKNOWN_ACCOUNT")
    if status == "exposure":
        raise LedgerError("That is more principal than the merchant owes.", code="EXCEEDS_OUTSTANDING")
    if status == "balance":
        name, after = detail.rsplit("|", 1)
        raise LedgerError(f"{name} would go below zero ({Decimal(after):,.2f} {lender.base_currency}).",
                          code="NEGATIVE_BALANCE")
    if status != "posted":
        return status, None
    return status, _entry_of(entry_id, posted_at, lender=lender, reference=reference, kind=kind,
                             business_date=business_date, description=description, created_by=created_by, reverses=reverses)


# No merchant, amount or named checks, no replay look-up, the position not locked: post_locked's use of it.
_CHECKED_SQL = ("SELECT * FROM ledger_post_checked(%s, %s, %s, %s, %s, %s, %s, %s::bigint, %s::text[], %s::numeric[],"
                " %s::numeric[], %s::bigint[], NULL::bigint, NULL::numeric, '{{}}'::text[], false, {cash}, {borrowings},"
                " {principal}, {capital}, {cap}, {single}, 'none')").format(**_SQL)


@transaction.atomic
def journal_post(
    *, lender, reference: str, lines: list[Line], business_date: datetime.date | None = None, description: str = "",
    actor=None, kind: str = EntryKind.MANUAL, facility=None,
) -> JournalEntry:
    """Post a balanced entry; raises DuplicateReference (with `.existing`) if the reference was used."""
    lender_position_lock(lender)
    if reference_posted(lender=lender, reference=reference):
        existing = JournalEntry.objects.get(lender=lender, reference=reference)
        raise DuplicateReference(f"Reference {reference} was already posted on {existing.business_date}.", existing=existing)
    return post_locked(lender=lender, reference=reference, lines=lines, business_date=business_date,
                       description=description, actor=actor, kind=kind, facility=facility)


@transaction.atomic
def journal_reverse(*, entry: JournalEntry, reference: str, actor, reason: str,
                    business_date: datetime.date | None = None, via: dict[str, str] | None = None) -> JournalEntry:
    """Correct an entry by posting its mirror image (debits ↔ credits); an entry is reversed at most once.

    Not a borrowing's entry (its mirror would draw on a facility past the cap's check: the treasury services draw
    and repay) and not a reversal (post the entry again instead, through the service that checks it).
    `via` sends the mirror of one account's lines to another (code → code): a payment undone to be re-applied
    at once gives its cash back to a suspense account, not to the bank (apps/repayments/services.py).
    """
    via = via or {}
    if entry.facility_id is not None:
        raise Conflict(f"Entry {entry.reference} moves a bank facility; record a drawdown or a repayment instead.",
                       code="FACILITY_ENTRY")
    if entry.reverses_id is not None:
        raise Conflict(f"Entry {entry.reference} is a reversal; it is not reversed in turn.", code="REVERSAL_ENTRY")
    lender = entry.lender
    lender_position_lock(lender)
    already = JournalEntry.objects.filter(reverses=entry).first()
    if already is not None:
        if already.reference == reference:
            return already  # the same correction, retried
        raise Conflict(f"Entry {entry.reference} was already reversed by {already.reference}.", code="ALREADY_REVERSED")
    lines = [Line(via.get(line.account.code, line.account.code), debit=line.credit, credit=line.debit,
                  merchant_id=line.merchant_id, currency=line.currency)
             for line in entry.lines.select_related("account")]
    reversal = post_locked(lender=lender, reference=reference, lines=lines, business_date=business_date,
                           description=f"Reversal of {entry.reference}: {reason}", actor=actor, kind=EntryKind.REVERSAL,
                           reverses=entry)
    audit_record(actor=actor, action="journal_reversed", subject=entry, reason=reason,
                 data={"reversal": reversal.reference, "reversal_id": reversal.pk})
    return reversal
