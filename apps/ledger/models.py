"""The general ledger, the lender's position, borrowing facilities and the regulatory rule set.

Journal entries and lines are append-only (database triggers refuse UPDATE and DELETE, migration
0002), the lines each statement writes balance per entry and currency, and an entry without lines
cannot commit (migration 0017). Balance rows carry the signed *net debit* (debits − credits) of an
account.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least
from django.db.models.lookups import Exact, GreaterThan

from apps.core.money import money_field_kwargs

RATIO = {"max_digits": 6, "decimal_places": 4}


class AccountType(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    INCOME = "income", "Income"
    EXPENSE = "expense", "Expense"


class NormalSide(models.TextChoices):
    DEBIT = "debit", "Debit"
    CREDIT = "credit", "Credit"


class Acct(models.TextChoices):
    """The small-loan company's chart of accounts: code → name (seeded by chart_of_accounts_ensure)."""

    CASH = "1000", "Cash at bank"
    LOANS_PRINCIPAL = "1100", "Loans receivable — principal"
    LOANS_INTEREST = "1110", "Loans receivable — interest"
    LOANS_FEES = "1120", "Loans receivable — fees"
    LOANS_PENALTIES = "1130", "Loans receivable — penalties"
    LOAN_LOSS_ALLOWANCE = "1190", "Loan-loss allowance"
    DUE_TO_PARTNER_BANKS = "2000", "Due to partner banks"
    BANK_BORROWINGS = "2100", "Bank borrowings"
    MERCHANT_CREDIT = "2200", "Merchant credit balances"
    # Zero at rest: holds the cash of payments being re-applied in date order (apps/repayments/services.py).
    REAPPLICATION_SUSPENSE = "2900", "Repayments being re-applied"
    PAID_IN_CAPITAL = "3000", "Paid-in capital"
    DONATED_CAPITAL = "3100", "Donated capital"
    RETAINED_EARNINGS = "3200", "Retained earnings"
    INTEREST_INCOME = "4000", "Interest income"
    FEE_INCOME = "4100", "Fee income"
    PENALTY_INCOME = "4200", "Penalty income"
    RECOVERY_INCOME = "4300", "Recovery income"
    IMPAIRMENT_EXPENSE = "5000", "Impairment expense"
    FUNDING_COST_EXPENSE = "5100", "Funding-cost expense"


class Account(models.Model):
    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="ledger_accounts")
    code = models.CharField(max_length=16)
    name = models.CharField(max_length=120)
    type = models.CharField(max_length=16, choices=AccountType.choices)
    normal_side = models.CharField(max_length=6, choices=NormalSide.choices)
    # The balance may never cross to the wrong side (cash, borrowings, receivables, the allowance).
    non_negative = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lender", "code"], name="ledger_account_unique_code")]
        ordering = ["lender", "code"]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def sign(self) -> int:
        """+1 when the balance is shown as debits − credits, −1 for credit-normal accounts."""
        return 1 if self.normal_side == NormalSide.DEBIT else -1


class EntryKind(models.TextChoices):
    EQUITY_INJECTION = "equity_injection", "Equity injection"
    DONATION = "donation", "Donation"
    DRAWDOWN = "drawdown", "Borrowing drawdown"
    BORROWING_REPAYMENT = "borrowing_repayment", "Borrowing repayment"
    BORROWING_INTEREST = "borrowing_interest", "Interest paid on borrowings"
    LOAN_FUNDING = "loan_funding", "Loan funding"
    LOAN_REPAYMENT = "loan_repayment", "Loan repayment"
    ACCRUAL = "accrual", "Accrual of interest, fees and penalties"
    PROVISION = "provision", "Provision"
    WRITE_OFF = "write_off", "Write-off"
    REVERSAL = "reversal", "Reversal"
    MANUAL = "manual", "Manual"


class JournalEntry(models.Model):
    # Indexes are kept to what reads need: every posting pays for each one (lender: by the reference and date indexes).
    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="journal_entries", db_index=False)
    # Bytewise collation: the unique (lender, reference) index then also serves reference prefixes (one loan's entries).
    reference = models.CharField(max_length=255, db_collation="C", help_text="The business event's idempotency key")
    kind = models.CharField(max_length=32, choices=EntryKind.choices, default=EntryKind.MANUAL)
    business_date = models.DateField()
    description = models.CharField(max_length=255, blank=True)
    # Reversed at most once (Meta); unique only where set, so the entries that reverse nothing add no index entry.
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    facility = models.ForeignKey("BorrowingFacility", null=True, blank=True, on_delete=models.PROTECT, related_name="entries",
                                 db_index=False)  # indexed where set (Meta)
    posted_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lender", "reference"], name="ledger_entry_unique_reference"),
            models.UniqueConstraint(fields=["reverses"], condition=Q(reverses__isnull=False), name="ledger_entry_reversed_once"),
        ]
        indexes = [
            models.Index(fields=["lender", "business_date", "id"]),
            models.Index(fields=["facility"], condition=Q(facility__isnull=False), name="ledger_entry_facility"),
        ]
        ordering = ["-business_date", "-id"]
        verbose_name_plural = "journal entries"

    def __str__(self):
        return f"{self.reference} ({self.business_date})"


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines", db_index=False)  # (account, entry)
    debit = models.DecimalField(default=Decimal("0"), **money_field_kwargs())
    credit = models.DecimalField(default=Decimal("0"), **money_field_kwargs())
    currency = models.CharField(max_length=3)
    # Which borrower a receivable line belongs to: the single-borrower exposure sub-ledger.
    merchant = models.ForeignKey("merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 db_index=False)  # indexed where set (Meta)

    class Meta:
        constraints = [
            # One side positive, the other zero; written compactly, as every posting's lines are checked against it.
            models.CheckConstraint(name="ledger_line_one_side",
                                   condition=Exact(Least("debit", "credit"), 0) & GreaterThan(Greatest("debit", "credit"), 0)),
        ]
        indexes = [
            models.Index(fields=["account", "entry"]),
            models.Index(fields=["merchant"], condition=Q(merchant__isnull=False), name="ledger_line_merchant"),
        ]
        ordering = ["id"]

    def __str__(self):
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.account_id} {side} {self.currency}"


# Each account's balance in a currency is kept in this many rows (slices), so that postings running at once need not
# queue on one row: a one-statement posting that is its whole transaction moves each account in a slice no one else
# holds that can take the movement (SKIP LOCKED); every other posting locks all slices in order, and spreads an
# account with a wrong side evenly over them (ledger migration 0016). Each slice obeys the wrong-side rule on its own,
# so their sum does.
BALANCE_SLICES = 8


class AccountBalance(models.Model):
    """Net debit (debits − credits) of one slice of one account in one currency, kept in step by journal_post.

    An account's balance is the sum of its BALANCE_SLICES slices.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="balances", db_index=False)  # the unique one
    currency = models.CharField(max_length=3)
    slice = models.SmallIntegerField(default=0)
    balance = models.DecimalField(default=Decimal("0"), **money_field_kwargs())
    # Copied from the account so that a CHECK can guard the wrong-side rule in the database.
    sign = models.SmallIntegerField()
    non_negative = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "currency", "slice"], name="ledger_balance_unique"),
            models.CheckConstraint(name="ledger_balance_slice_range", condition=Q(slice__gte=0, slice__lt=BALANCE_SLICES)),
            models.CheckConstraint(name="ledger_balance_not_wrong_side",
                                   condition=Q(non_negative=False) | Q(balance__gte=0, sign=1) | Q(balance__lte=0, sign=-1)),
        ]

    def __str__(self):
        return f"{self.account_id}/{self.slice}: {self.balance} {self.currency}"


class LenderPosition(models.Model):
    """One row per lender: the first lock every money service takes (lender → merchant → loan → installment)."""

    lender = models.OneToOneField("accounts.Lender", on_delete=models.PROTECT, related_name="ledger_position")

    def __str__(self):
        return f"position of lender {self.lender_id}"


class MerchantExposure(models.Model):
    """Outstanding loans-receivable principal per borrower, kept by journal_post from merchant-tagged lines."""

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="+")
    merchant = models.OneToOneField("merchants.Merchant", on_delete=models.PROTECT, related_name="ledger_exposure")
    principal = models.DecimalField(default=Decimal("0"), **money_field_kwargs())

    class Meta:
        # No index on principal: every funding and repayment updates it, and an indexed column would make each update
        # write new index entries instead of a heap-only (HOT) tuple. The largest exposures are a top-N sort of one
        # lender's rows.
        constraints = [models.CheckConstraint(name="ledger_exposure_non_negative", condition=Q(principal__gte=0))]

    def __str__(self):
        return f"merchant {self.merchant_id}: {self.principal}"


class FacilityState(models.TextChoices):
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


class BorrowingFacility(models.Model):
    """A credit line from a banking institution; `drawn` is kept by journal_post from facility-tagged entries."""

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="borrowing_facilities")
    bank_name = models.CharField(max_length=200)
    limit = models.DecimalField(**money_field_kwargs())
    annual_rate = models.DecimalField(max_digits=7, decimal_places=4, help_text="Annual interest rate, percent")
    currency = models.CharField(max_length=3)
    drawn = models.DecimalField(default=Decimal("0"), **money_field_kwargs())
    state = models.CharField(max_length=8, choices=FacilityState.choices, default=FacilityState.ACTIVE)
    opened_on = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    reference = models.CharField(max_length=160, blank=True, default="", help_text="The request's idempotency key")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lender", "reference"], condition=~Q(reference=""),
                                    name="ledger_facility_once_per_reference"),
            models.CheckConstraint(name="ledger_facility_limit_positive", condition=Q(limit__gt=0)),
            models.CheckConstraint(name="ledger_facility_rate_range", condition=Q(annual_rate__gte=0, annual_rate__lte=100)),
            # The database refuses a drawdown past the facility limit even if a service forgot to.
            models.CheckConstraint(name="ledger_facility_drawn_within_limit", condition=Q(drawn__gte=0, drawn__lte=F("limit"))),
        ]
        ordering = ["lender", "id"]
        verbose_name_plural = "borrowing facilities"

    def __str__(self):
        return f"{self.bank_name} ({self.limit} {self.currency})"

    @property
    def undrawn(self) -> Decimal:
        return self.limit - self.drawn


class RuleSet(models.Model):
    """One version of a lender's regulatory limits, in force from `effective_from` until a later version."""

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="rule_sets")
    version = models.PositiveIntegerField()
    effective_from = models.DateField()
    borrowing_cap_ratio = models.DecimalField(default=Decimal("0.50"), **RATIO,
                                              help_text="Bank borrowings ≤ this share of net capital")
    max_lending_banks = models.PositiveSmallIntegerField(default=2)
    single_borrower_ratio = models.DecimalField(default=Decimal("0.05"), **RATIO,
                                                help_text="One borrower's exposure ≤ this share of net capital")
    reserve_coverage_min = models.DecimalField(default=Decimal("1.00"), **RATIO,
                                               help_text="Loan-loss reserve ≥ this share of required provisions")
    apr_multiple_of_lpr = models.DecimalField(default=Decimal("4"), max_digits=5, decimal_places=2)
    min_own_share_colending = models.DecimalField(default=Decimal("0.30"), **RATIO)
    upfront_deduction_allowed = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lender", "version"], name="ledger_ruleset_unique_version"),
            models.CheckConstraint(name="ledger_ruleset_ratios", condition=Q(
                borrowing_cap_ratio__gte=0, borrowing_cap_ratio__lte=1, single_borrower_ratio__gt=0,
                single_borrower_ratio__lte=1, min_own_share_colending__gte=0, min_own_share_colending__lte=1,
                apr_multiple_of_lpr__gt=0, reserve_coverage_min__gte=0)),
        ]
        ordering = ["lender", "-effective_from", "-version"]

    def __str__(self):
        return f"rules v{self.version} from {self.effective_from}"


class LprRate(models.Model):
    """The one-year Loan Prime Rate published by the PBOC's National Interbank Funding Center."""

    effective_from = models.DateField(unique=True)
    one_year_rate = models.DecimalField(max_digits=7, decimal_places=4, help_text="Percent per year")

    class Meta:
        ordering = ["-effective_from"]
        constraints = [models.CheckConstraint(name="ledger_lpr_positive", condition=Q(one_year_rate__gt=0))]

    def __str__(self):
        return f"LPR {self.one_year_rate}% from {self.effective_from}"
