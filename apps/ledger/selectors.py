"""Reads: rule sets, balances, net capital (defined once, here), capital position and reports."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import Q, Sum

from apps.core.calendar import business_date_today
from apps.core.money import quantize, quantize_down

from .models import (
    Account,
    AccountBalance,
    AccountType,
    Acct,
    BorrowingFacility,
    FacilityState,
    JournalEntry,
    JournalLine,
    LprRate,
    MerchantExposure,
    RuleSet,
)

ZERO = Decimal("0.00")

# The accounts whose (credit) balances make up net capital; see net_capital_from_balances.
CAPITAL_ACCOUNTS = (Acct.PAID_IN_CAPITAL, Acct.DONATED_CAPITAL, Acct.RETAINED_EARNINGS)


# --- rules ---------------------------------------------------------------------------------

def rules_in_force_get(*, lender, on: datetime.date | None = None) -> RuleSet:
    """The rule-set version in force on `on` (today by default); the DESIGN.md defaults if none was ever recorded."""
    on = on or business_date_today()
    rules = RuleSet.objects.filter(lender=lender, effective_from__lte=on).order_by("-effective_from", "-version").first()
    return rules or RuleSet(lender=lender, version=0, effective_from=datetime.date.min)


def rule_set_versions_list(*, lender):
    return RuleSet.objects.filter(lender=lender).select_related("created_by").order_by("-version")


def lpr_in_force_get(*, on: datetime.date | None = None) -> LprRate | None:
    return LprRate.objects.filter(effective_from__lte=on or business_date_today()).order_by("-effective_from").first()


def apr_ceiling_get(*, lender, on: datetime.date | None = None) -> Decimal | None:
    """The all-in APR ceiling in percent: the rule set's multiple × the one-year LPR in force."""
    lpr = lpr_in_force_get(on=on)
    if lpr is None:
        return None
    return quantize(rules_in_force_get(lender=lender, on=on).apr_multiple_of_lpr * lpr.one_year_rate, Decimal("0.0001"))


# --- balances and net capital -------------------------------------------------------------

def balances_by_code_get(*, lender, as_of: datetime.date | None = None, currency: str | None = None) -> dict[str, Decimal]:
    """Net debit (debits − credits) per account code: from balance rows now, from the journal as of a date."""
    currency = currency or lender.base_currency
    if as_of is None:
        # Raw SQL: this runs inside every money service's locked section, where ORM overhead is serialised.
        with connection.cursor() as cursor:
            cursor.execute("SELECT a.code, sum(b.balance) FROM ledger_accountbalance b"  # an account's slices summed
                           " JOIN ledger_account a ON a.id = b.account_id"
                           " WHERE a.lender_id = %s AND b.currency = %s GROUP BY a.code", [lender.pk, currency])
            return dict(cursor.fetchall())
    rows = (JournalLine.objects.filter(entry__lender=lender, entry__business_date__lte=as_of, currency=currency)
            .values("account__code").annotate(d=Sum("debit"), c=Sum("credit")).values_list("account__code", "d", "c"))
    return {code: d - c for code, d, c in rows}


def account_type_of(code: str) -> str:
    """The chart's code ranges: 1xxx assets, 2xxx liabilities, 3xxx equity, 4xxx income, 5xxx expenses."""
    return {"1": AccountType.ASSET, "2": AccountType.LIABILITY, "3": AccountType.EQUITY,
            "4": AccountType.INCOME, "5": AccountType.EXPENSE}[code[0]]


def net_capital_from_balances(balances: dict[str, Decimal]) -> Decimal:
    """Net capital (資本凈額) — the one definition, used by every limit and report:

        paid-in capital + donated capital + retained earnings
        + current-period income (interest, fees, penalties, recoveries)
        − current-period expenses (impairment — provisions and write-offs — and funding cost)

    Balances are net debits, so credit-normal equity and income count as −balance and
    expenses as +balance: net capital is minus the sum over those accounts.
    """
    total = ZERO
    for code, balance in balances.items():
        if counts_in_net_capital(code):
            total -= balance
    return total


def counts_in_net_capital(code: str) -> bool:
    """Whether an account's balance is part of net capital (see net_capital_from_balances)."""
    return code in CAPITAL_ACCOUNTS or account_type_of(code) in (AccountType.INCOME, AccountType.EXPENSE)


# The chart's codes that make up net capital: what the database's check-and-post functions sum (posting.principal_post).
NET_CAPITAL_CODES = tuple(code for code in Acct.values if counts_in_net_capital(code))


def net_capital_get(*, lender, as_of: datetime.date | None = None) -> Decimal:
    return net_capital_from_balances(balances_by_code_get(lender=lender, as_of=as_of))


def cash_get(*, lender) -> Decimal:
    return balances_by_code_get(lender=lender).get(Acct.CASH, ZERO)


def borrowings_outstanding_get(*, lender) -> Decimal:
    return -balances_by_code_get(lender=lender).get(Acct.BANK_BORROWINGS, ZERO)


@dataclass(frozen=True)
class CapitalPosition:
    currency: str
    net_capital: Decimal
    borrowings: Decimal
    cash: Decimal
    cap_ratio: Decimal
    single_borrower_ratio: Decimal
    undrawn_facilities: Decimal = ZERO
    rules_version: int = 0
    exposures: list = field(default_factory=list)

    @property
    def cap_amount(self) -> Decimal:
        """The most the lender may owe its banks: cap ratio × net capital (nothing when net capital ≤ 0)."""
        return quantize_down(max(self.net_capital, ZERO) * self.cap_ratio)  # never a cent past the ratio

    @property
    def headroom(self) -> Decimal:
        """How much more may be borrowed; negative when in breach."""
        return self.cap_amount - self.borrowings

    @property
    def in_breach(self) -> bool:
        return self.borrowings > self.cap_amount

    @property
    def cap_used_percent(self) -> Decimal:
        if self.cap_amount <= 0:
            return Decimal("100") if self.borrowings > 0 else ZERO
        return quantize(self.borrowings * 100 / self.cap_amount, Decimal("0.1"))

    @property
    def single_borrower_limit(self) -> Decimal:
        return quantize_down(max(self.net_capital, ZERO) * self.single_borrower_ratio)

    @property
    def lending_capacity(self) -> Decimal:
        """Cash on hand plus what could still be drawn within both the cap and the facilities' limits."""
        return self.cash + max(ZERO, min(self.headroom, self.undrawn_facilities))

    def describe(self) -> str:
        return (f"net capital {self.net_capital:,.2f} {self.currency}, borrowings {self.borrowings:,.2f}, "
                f"cap {self.cap_ratio:.0%} = {self.cap_amount:,.2f}, headroom {self.headroom:,.2f}")


def capital_position_from(*, lender, balances: dict[str, Decimal], rules: "RuleSet | PositionRules",
                          undrawn: Decimal = ZERO) -> CapitalPosition:
    return CapitalPosition(
        currency=lender.base_currency,
        net_capital=net_capital_from_balances(balances),
        borrowings=-balances.get(Acct.BANK_BORROWINGS, ZERO),
        cash=balances.get(Acct.CASH, ZERO),
        cap_ratio=rules.borrowing_cap_ratio,
        single_borrower_ratio=rules.single_borrower_ratio,
        undrawn_facilities=undrawn,
        rules_version=rules.version,
    )


def capital_position_get(*, lender, on: datetime.date | None = None, with_facilities: bool = False) -> CapitalPosition:
    """The lender's capital position now: two queries (balances, rules), three with the facilities' undrawn total."""
    undrawn = ZERO
    if with_facilities:
        for facility in BorrowingFacility.objects.filter(lender=lender, state=FacilityState.ACTIVE).only("limit", "drawn"):
            undrawn += facility.undrawn
    return capital_position_from(lender=lender, balances=balances_by_code_get(lender=lender),
                                 rules=rules_in_force_get(lender=lender, on=on), undrawn=undrawn)


@dataclass(frozen=True)
class PostingState:
    balances: dict[str, Decimal]  # net debit by account code, base currency
    reference_posted: bool
    exposure: Decimal | None  # the merchant's principal; None when it never borrowed
    chart: dict | None = None  # code → ChartAccount, when read with the lock (position_lock_state_get)
    rules: "PositionRules | None" = None  # the ratios of the rule set in force, likewise


@dataclass(frozen=True)
class PositionRules:
    """The part of the rule set in force that a capital position needs (see capital_position_from)."""

    version: int
    borrowing_cap_ratio: Decimal
    single_borrower_ratio: Decimal


def position_lock_state_get(*, lender, reference: str, merchant_id: int | None = None,
                            on: datetime.date | None = None) -> PostingState | None:
    """Take the lender position lock and read the decision state, in ONE round trip; None if no position row yet.

    The database function ledger_position_lock_state (migration 0003) locks first, then reads
    with a snapshot taken after the lock was granted: the chart with its base-currency
    balances, whether `reference` was posted, the merchant's exposure and the rules in force
    on `on` (today by default) — what balances_by_code_get, chart_get and rules_in_force_get
    would return, read under the lock.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM ledger_position_lock_state(%s, %s, %s, %s, %s)",
                       [lender.pk, lender.base_currency, reference, merchant_id, on or business_date_today()])
        rows = cursor.fetchall()
    if not rows:
        return None
    chart, balances, posted, exposure, rules = {}, {}, False, None, None
    for kind, pk, code, name, side, non_negative, amount, ratio1, ratio2, version in rows:
        if kind == "a":
            chart[code] = ChartAccount(pk, code, name, 1 if side == "debit" else -1, non_negative)
            if amount is not None:
                balances[code] = amount
        elif kind == "r":
            posted = True
        elif kind == "x":
            exposure = amount
        else:
            rules = PositionRules(version, ratio1, ratio2)
    if rules is None:  # the DESIGN.md defaults, as rules_in_force_get
        rules = PositionRules(0, *(RuleSet._meta.get_field(name).default
                                   for name in ("borrowing_cap_ratio", "single_borrower_ratio")))
    return PostingState(balances=balances, reference_posted=posted, exposure=exposure, chart=chart or None, rules=rules)


def lender_in_breach(*, lender) -> bool:
    return capital_position_get(lender=lender).in_breach


@dataclass(frozen=True)
class ExposureRow:
    merchant_id: int
    merchant_name: str
    principal: Decimal
    limit: Decimal

    @property
    def headroom(self) -> Decimal:
        return self.limit - self.principal


def exposures_top_list(*, lender, position: CapitalPosition, limit: int = 10) -> list[ExposureRow]:
    rows = (MerchantExposure.objects.filter(lender=lender, principal__gt=0).select_related("merchant")
            .order_by("-principal", "merchant_id")[:limit])
    return [ExposureRow(r.merchant_id, r.merchant.company_name, r.principal, position.single_borrower_limit) for r in rows]


def merchant_exposure_get(*, merchant) -> Decimal:
    row = MerchantExposure.objects.filter(merchant=merchant).values_list("principal", flat=True).first()
    return row if row is not None else ZERO


def facilities_list(*, lender):
    return BorrowingFacility.objects.filter(lender=lender).order_by("state", "id")


# --- reports ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportRow:
    code: str
    name: str
    type: str
    net_debit: Decimal
    sign: int

    @property
    def debit(self) -> Decimal:
        return self.net_debit if self.net_debit > 0 else ZERO

    @property
    def credit(self) -> Decimal:
        return -self.net_debit if self.net_debit < 0 else ZERO

    @property
    def amount(self) -> Decimal:
        """The balance on the account's normal side (a contra account shows as negative in its section)."""
        return self.net_debit if self.type in (AccountType.ASSET, AccountType.EXPENSE) else -self.net_debit


def _rows(lender, balances: dict[str, Decimal]) -> list[ReportRow]:
    accounts = Account.objects.filter(lender=lender).order_by("code").values_list("code", "name", "type", "normal_side")
    return [ReportRow(code, name, type_, balances.get(code, ZERO), 1 if side == "debit" else -1)
            for code, name, type_, side in accounts]


@dataclass(frozen=True)
class TrialBalance:
    as_of: datetime.date | None
    rows: list[ReportRow]

    @property
    def total_debit(self) -> Decimal:
        return sum((r.debit for r in self.rows), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((r.credit for r in self.rows), ZERO)

    @property
    def difference(self) -> Decimal:
        return self.total_debit - self.total_credit


def trial_balance_get(*, lender, as_of: datetime.date | None = None) -> TrialBalance:
    return TrialBalance(as_of, _rows(lender, balances_by_code_get(lender=lender, as_of=as_of)))


def trial_balance_all_currencies_zero(*, lender) -> bool:
    """Σ balances per currency over all the lender's accounts is zero (the books balance)."""
    sums = AccountBalance.objects.filter(account__lender=lender).values("currency").annotate(total=Sum("balance"))
    return all(row["total"] == 0 for row in sums)


@dataclass(frozen=True)
class BalanceSheet:
    as_of: datetime.date
    assets: list[ReportRow]
    liabilities: list[ReportRow]
    equity: list[ReportRow]
    current_earnings: Decimal
    net_capital: Decimal

    @property
    def total_assets(self) -> Decimal:
        return sum((r.amount for r in self.assets), ZERO)

    @property
    def total_liabilities(self) -> Decimal:
        return sum((r.amount for r in self.liabilities), ZERO)

    @property
    def total_equity(self) -> Decimal:
        return sum((r.amount for r in self.equity), ZERO) + self.current_earnings


def balance_sheet_get(*, lender, as_of: datetime.date) -> BalanceSheet:
    balances = balances_by_code_get(lender=lender, as_of=as_of)
    rows = _rows(lender, balances)
    by_type = {t: [r for r in rows if r.type == t] for t in AccountType.values}
    earnings = (sum((r.amount for r in by_type[AccountType.INCOME]), ZERO)
                - sum((r.amount for r in by_type[AccountType.EXPENSE]), ZERO))
    return BalanceSheet(as_of, by_type[AccountType.ASSET], by_type[AccountType.LIABILITY], by_type[AccountType.EQUITY],
                        earnings, net_capital_from_balances(balances))


@dataclass(frozen=True)
class IncomeStatement:
    date_from: datetime.date
    date_to: datetime.date
    income: list[ReportRow]
    expenses: list[ReportRow]

    @property
    def total_income(self) -> Decimal:
        return sum((r.amount for r in self.income), ZERO)

    @property
    def total_expenses(self) -> Decimal:
        return sum((r.amount for r in self.expenses), ZERO)

    @property
    def net_income(self) -> Decimal:
        return self.total_income - self.total_expenses


def income_statement_get(*, lender, date_from: datetime.date, date_to: datetime.date) -> IncomeStatement:
    lines = (JournalLine.objects.filter(entry__lender=lender, entry__business_date__range=(date_from, date_to),
                                        currency=lender.base_currency,
                                        account__type__in=[AccountType.INCOME, AccountType.EXPENSE])
             .values("account__code").annotate(d=Sum("debit"), c=Sum("credit")).values_list("account__code", "d", "c"))
    rows = _rows(lender, {code: d - c for code, d, c in lines})
    return IncomeStatement(date_from, date_to, [r for r in rows if r.type == AccountType.INCOME],
                           [r for r in rows if r.type == AccountType.EXPENSE])


def journal_lines_list(*, lender, date_from=None, date_to=None, account_code: str = "", reference: str = ""):
    """Journal lines newest first, filtered; entry, account and merchant joined (no N+1)."""
    lines = JournalLine.objects.filter(entry__lender=lender)
    if date_from:
        lines = lines.filter(entry__business_date__gte=date_from)
    if date_to:
        lines = lines.filter(entry__business_date__lte=date_to)
    if account_code:
        lines = lines.filter(account__code=account_code)
    if reference:
        lines = lines.filter(Q(entry__reference__icontains=reference))
    return lines.select_related("entry", "account", "merchant").order_by("-entry__business_date", "-entry_id", "id")


def journal_entry_get(*, lender, reference: str) -> JournalEntry | None:
    return JournalEntry.objects.filter(lender=lender, reference=reference).first()


@dataclass(frozen=True)
class ChartAccount:
    id: int
    code: str
    name: str
    sign: int
    non_negative: bool


def chart_get(*, lender) -> dict[str, ChartAccount]:
    """The lender's accounts by code (accounts are never changed or deleted, so this may be read before locking)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, code, name, normal_side, non_negative FROM ledger_account WHERE lender_id = %s", [lender.pk])
        return {code: ChartAccount(pk, code, name, 1 if side == "debit" else -1, non_negative)
                for pk, code, name, side, non_negative in cursor.fetchall()}


def accounts_list(*, lender):
    return Account.objects.filter(lender=lender).order_by("code")
