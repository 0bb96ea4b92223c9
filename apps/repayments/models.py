from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Least
from django.db.models.lookups import Exact, GreaterThanOrEqual
from django.utils import timezone
from django_fsm import RETURN_VALUE, FSMField, FSMModelMixin, transition

from apps.core.money import money_field_kwargs


class LoanState(models.TextChoices):
    PENDING_DISBURSEMENT = "pending_disbursement", "Pending disbursement"
    ACTIVE = "active", "Active"
    OVERDUE = "overdue", "Overdue"
    DEFAULTED = "defaulted", "Defaulted"
    WRITTEN_OFF = "written_off", "Written off"
    PAID_OFF = "paid_off", "Paid off"
    RESTRUCTURED = "restructured", "Restructured"


class RepaymentMethod(models.TextChoices):
    """How a schedule is built (apps/repayments/schedules.py)."""

    BULLET = "bullet", "Bullet: one installment at maturity"
    EQUAL_INSTALLMENT = "equal_installment", "Equal installments (等额本息)"
    EQUAL_PRINCIPAL = "equal_principal", "Equal principal (等额本金)"
    INTEREST_ONLY = "interest_only", "Interest-only with balloon"


class PrepaymentChoice(models.TextChoices):
    """What a partial prepayment does to the rest of a monthly schedule (the merchant chooses)."""

    REDUCE_INSTALLMENT = "reduce_installment", "Lower installments, same number of months"
    REDUCE_TERM = "reduce_term", "Same installment, fewer months"


class Loan(FSMModelMixin, models.Model):
    """A disbursed loan. The merchant receives the full principal; a partner bank may fund a share.

    The contract terms are copied from the product and the offer at disbursement, so editing a
    product later never changes a running loan.
    """

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="loans")
    application = models.OneToOneField("financing.FinancingApplication", on_delete=models.PROTECT, related_name="loan")
    # The product kind (financing.ProductKind): "presale_advance" or "term_loan"; the product itself is application.product.
    product = models.CharField(max_length=32, default="presale_advance")
    repayment_method = models.CharField(max_length=20, choices=RepaymentMethod.choices, default=RepaymentMethod.BULLET)
    allocation_strategy = models.CharField(max_length=32, default="default",
                                           help_text="A name in apps.repayments.allocation.STRATEGIES")
    currency = models.CharField(max_length=3)
    principal = models.DecimalField(**money_field_kwargs())
    lender_principal = models.DecimalField(**money_field_kwargs())
    partner_principal = models.DecimalField(**money_field_kwargs())
    partner_bank = models.ForeignKey("partners.PartnerBank", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="loans")
    # The bank earns its agreement's rate on its share (apps/repayments/shares.py), copied at disbursement.
    partner_annual_rate = models.DecimalField(max_digits=7, decimal_places=4, default=0, db_default=0)
    annual_rate = models.DecimalField(max_digits=7, decimal_places=4)
    day_count = models.CharField(max_length=8, default="ACT/360")
    # Contract terms fixed at disbursement: penalty interest on overdue principal, per year.
    penalty_annual_rate = models.DecimalField(max_digits=7, decimal_places=4, default="0.1000")
    penalty_accrued_through = models.DateField(null=True, blank=True)
    apr = models.DecimalField(max_digits=7, decimal_places=4)
    start_date = models.DateField()
    maturity_date = models.DateField()
    state = FSMField(default=LoanState.PENDING_DISBURSEMENT, choices=LoanState.choices, protected=True)
    disbursed_at = models.DateTimeField(null=True, blank=True)
    # Delinquency as of the last end of day (apps/eod): DPD = business date − overdue_since + 1.
    overdue_since = models.DateField(null=True, blank=True, help_text="First day the oldest unpaid installment was overdue")
    defaulted_on = models.DateField(null=True, blank=True)
    # Database defaults too: set-based loaders (benchmarks, imports) insert loans without naming them.
    bucket = models.CharField(max_length=8, default="current", db_default="current", help_text="collections.Bucket")
    provision = models.DecimalField(default=0, db_default=0, help_text="Loan-loss allowance held against this loan",
                                    **money_field_kwargs())
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="loan_principal_positive"),
            models.CheckConstraint(condition=Q(lender_principal__gte=0) & Q(partner_principal__gte=0)
                                   & Q(principal=F("lender_principal") + F("partner_principal")),
                                   name="loan_shares_add_up"),
            # The lender funds at least 30% of every loan (the rule set may demand more).
            models.CheckConstraint(condition=Q(lender_principal__gte=F("principal") * Decimal("0.30")),
                                   name="loan_lender_share_30pct"),
            models.CheckConstraint(condition=Q(partner_principal=0) | Q(partner_bank__isnull=False),
                                   name="loan_partner_share_has_a_bank"),
            models.CheckConstraint(condition=Q(provision__gte=0) & Q(provision__lte=F("principal")),
                                   name="loan_provision_within_principal"),
        ]
        indexes = [models.Index(fields=["state", "maturity_date"])]

    def __str__(self):
        return f"Loan #{self.pk} {self.principal} ({self.state})"

    @property
    def repayable(self) -> bool:
        return self.state in REPAYABLE_STATES

    @transition(field=state, source=LoanState.PENDING_DISBURSEMENT, target=LoanState.ACTIVE)
    def activate(self):
        self.disbursed_at = timezone.now()

    @transition(field=state, source=LoanState.ACTIVE, target=LoanState.OVERDUE)
    def mark_overdue(self):
        pass

    @transition(field=state, source=LoanState.OVERDUE, target=LoanState.ACTIVE)
    def cure(self):
        pass

    @transition(field=state, source=LoanState.OVERDUE, target=LoanState.DEFAULTED)
    def default(self):
        pass

    @transition(field=state, source=LoanState.DEFAULTED, target=LoanState.WRITTEN_OFF)
    def write_off(self):
        pass

    @transition(field=state, source=[LoanState.ACTIVE, LoanState.OVERDUE, LoanState.DEFAULTED], target=LoanState.PAID_OFF)
    def pay_off(self):
        pass

    @transition(field=state, source=[LoanState.ACTIVE, LoanState.OVERDUE], target=LoanState.RESTRUCTURED)
    def restructure(self):
        pass

    @transition(field=state, source=LoanState.PAID_OFF,
                target=RETURN_VALUE(LoanState.ACTIVE, LoanState.OVERDUE, LoanState.DEFAULTED))
    def reopen(self, past_due: bool = False):
        """A payment that had paid the loan off bounced (apps/repayments/reopening.py); a loan that had defaulted
        before it was paid off is defaulted again (non-accrual), not performing."""
        if self.defaulted_on is not None:
            return LoanState.DEFAULTED
        return LoanState.OVERDUE if past_due else LoanState.ACTIVE


# Non-accrual: end of day stops accruing interest and fees on a defaulted loan, so only what is on its
# books (accrued, unpaid) is owed or quoted; repayments must never settle interest never accrued.
NON_ACCRUAL_STATES = (LoanState.DEFAULTED,)
# The states a loan takes payments in (a defaulted loan's come from recoveries, guarantors and sweeps).
REPAYABLE_STATES = (LoanState.ACTIVE, LoanState.OVERDUE, LoanState.DEFAULTED)


class InstallmentStatus(models.TextChoices):
    """As marked by the last end of day."""

    SCHEDULED = "scheduled", "Scheduled"
    DUE = "due", "Due"
    OVERDUE = "overdue", "Overdue"
    PAID = "paid", "Paid"


class LoanInstallment(models.Model):
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="installments", db_index=False)  # (loan, number)
    number = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    principal_due = models.DecimalField(**money_field_kwargs())
    interest_due = models.DecimalField(**money_field_kwargs())
    fee_due = models.DecimalField(default=0, **money_field_kwargs())
    # Accrued so far (apps/repayments/accrual.py); reaches the amounts due at the due date.
    interest_accrued = models.DecimalField(default=0, **money_field_kwargs())
    fee_accrued = models.DecimalField(default=0, **money_field_kwargs())
    penalty_accrued = models.DecimalField(default=0, **money_field_kwargs())
    penalty_paid = models.DecimalField(default=0, **money_field_kwargs())
    principal_paid = models.DecimalField(default=0, **money_field_kwargs())
    interest_paid = models.DecimalField(default=0, **money_field_kwargs())
    fee_paid = models.DecimalField(default=0, **money_field_kwargs())
    status = models.CharField(max_length=10, choices=InstallmentStatus.choices, default=InstallmentStatus.SCHEDULED,
                              db_default=InstallmentStatus.SCHEDULED)

    class Meta:
        ordering = ["loan_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "number"], name="installment_unique_number"),
            # Nothing negative, nothing paid or accrued past what is due: one compact CHECK, because PostgreSQL reads a
            # table's CHECKs back from their stored text on every statement that writes it, and every repayment writes
            # installments. (Paid at least 0 and at most due keeps each due amount non-negative too.)
            models.CheckConstraint(condition=GreaterThanOrEqual(Least("principal_paid", "interest_paid", "fee_paid",
                                                                      "interest_accrued", "fee_accrued", "penalty_paid"), 0)
                                   & Q(principal_paid__lte=F("principal_due"), interest_paid__lte=F("interest_due"),
                                       fee_paid__lte=F("fee_due"), interest_accrued__lte=F("interest_due"),
                                       fee_accrued__lte=F("fee_due"), penalty_paid__lte=F("penalty_accrued")),
                                   name="installment_amounts_in_range"),
        ]

    def __str__(self):
        return f"Loan {self.loan_id} #{self.number} due {self.due_date}"

    @property
    def total_due(self):
        return self.principal_due + self.interest_due + self.fee_due + self.penalty_accrued

    @property
    def total_paid(self):
        return self.principal_paid + self.interest_paid + self.fee_paid + self.penalty_paid


class RepaymentSource(models.TextChoices):
    SWEEP = "sweep", "Settlement sweep"
    PORTAL = "portal", "Merchant, in the portal"
    PARTNER = "partner", "Partner bank"
    BACKOFFICE = "backoffice", "Recorded by the lender"
    GUARANTOR = "guarantor", "Guarantor, paying a guarantee claim"


class Repayment(models.Model):
    """Money received against a loan, idempotent per (loan, source, external reference)."""

    # True on the repayment repayment_post returns for a resent reference, or repayment_reverse for one already reversed:
    # that call did nothing.
    replayed = False

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="repayments", db_index=False)  # the unique one
    source = models.CharField(max_length=12, choices=RepaymentSource.choices)
    reference = models.CharField(max_length=100)
    amount = models.DecimalField(**money_field_kwargs())
    received_on = models.DateField()
    # Kept so a replay after a reversal reshapes the schedule the way the merchant chose.
    prepayment = models.CharField(max_length=20, choices=PrepaymentChoice.choices,
                                  default=PrepaymentChoice.REDUCE_INSTALLMENT)
    # The entry currently carrying it: a replay after an earlier payment bounced posts a new one.
    journal_entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="repayment")
    reversed_at = models.DateTimeField(null=True, blank=True, help_text="Set when the payment bounced")
    reversal_reason = models.TextField(blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "source", "reference"], name="repayment_once_per_reference"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_amount_positive"),
        ]

    def __str__(self):
        return f"{self.amount} on loan {self.loan_id} ({self.source} {self.reference})"


class RepaymentAllocation(models.Model):
    repayment = models.ForeignKey(Repayment, on_delete=models.PROTECT, related_name="allocations")
    installment = models.ForeignKey(LoanInstallment, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="allocations")
    component = models.CharField(max_length=10, choices=[(c, c) for c in ("penalty", "fee", "interest", "principal",
                                                                          "credit")])
    amount = models.DecimalField(**money_field_kwargs())

    class Meta:
        ordering = ["id"]
        constraints = [
            # A positive amount; an installment unless it is a credit (one compact CHECK, as the installments').
            models.CheckConstraint(condition=Q(amount__gt=0) & Exact(Q(component="credit"), Q(installment__isnull=True)),
                                   name="allocation_positive_credit_has_no_installment"),
        ]

    def __str__(self):
        return f"{self.component} {self.amount}"


class CreditRefund(models.Model):
    """Money paid back to a merchant out of its credit balance (overpayments and sweep remainders)."""

    # True on the refund merchant_credit_refund returns for a resent reference: the first one, nothing paid again.
    replayed = False

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="credit_refunds")
    amount = models.DecimalField(**money_field_kwargs())
    reference = models.CharField(max_length=100)
    journal_entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="credit_refund")
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_refund_amount_positive"),
                       # Per merchant: one tenant's reference must neither block nor reveal another's.
                       models.UniqueConstraint(fields=["merchant", "reference"], name="credit_refund_once_per_reference")]

    def __str__(self):
        return f"Refund {self.amount} to merchant {self.merchant_id}"


class MarginCallState(models.TextChoices):
    OPEN = "open", "Open"
    CURED = "cured", "Cured"
    ACCELERATED = "accelerated", "Loan accelerated"


class MarginCall(models.Model):
    """A pledged order was refunded or cancelled and the loan is no longer covered.

    The merchant repays the shortfall or pledges replacement orders by the deadline, else the
    loan accelerates (everything falls due at once).
    """

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="margin_calls")
    shortfall = models.DecimalField(**money_field_kwargs())
    deadline = models.DateField()
    state = models.CharField(max_length=12, choices=MarginCallState.choices, default=MarginCallState.OPEN)
    reason = models.TextField()
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(shortfall__gt=0), name="margin_call_shortfall_positive"),
            models.UniqueConstraint(fields=["loan"], condition=Q(state="open"), name="margin_call_one_open_per_loan"),
        ]

    def __str__(self):
        return f"Margin call on loan {self.loan_id}: {self.shortfall} by {self.deadline}"


class PenaltyAccrual(models.Model):
    """Penalty interest accrued on one installment for the days (period_start, period_end].

    Kept so a reversal can take back exactly the penalty accrued after a bounced payment and
    accrue it again on the principal that was really overdue.
    """

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="penalty_accruals")
    installment = models.ForeignKey(LoanInstallment, on_delete=models.PROTECT, related_name="penalty_accruals")
    period_start = models.DateField()
    period_end = models.DateField()
    amount = models.DecimalField(**money_field_kwargs())

    class Meta:
        ordering = ["period_end", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0) & Q(period_end__gt=F("period_start")),
                                              name="penalty_accrual_positive")]

    def __str__(self):
        return f"Penalty {self.amount} on {self.installment_id} to {self.period_end}"


class NightlyAccrual(models.Model):
    """What end of day accrued on one loan for one business date, for the loan's timeline.

    The GL carries the night's accruals as one entry per chunk of loans (eod:<date>:interest|penalty:<chunk_start>),
    so without this row a loan would not show what accrued on it night by night. A payment accrues its own day
    in an entry of its own (accrual:<loan>:<date>); that day's row, if any, holds only what end of day added.
    Written in the statement that accrues; never changed afterwards, except that a rerun of the date adds to it.
    """

    pk = models.CompositePrimaryKey("loan_id", "business_date")  # one index: the loan's nights, in date order
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="nightly_accruals", db_index=False)
    business_date = models.DateField()
    interest = models.DecimalField(default=0, **money_field_kwargs())
    fee = models.DecimalField(default=0, **money_field_kwargs())
    penalty = models.DecimalField(default=0, **money_field_kwargs())
    chunk_start = models.BigIntegerField(help_text="The first loan id of the chunk whose GL entries carry it")

    class Meta:
        ordering = ["loan_id", "business_date"]
        constraints = [models.CheckConstraint(condition=Q(interest__gte=0, fee__gte=0, penalty__gte=0),
                                              name="nightly_accrual_not_negative")]

    def __str__(self):
        return f"Loan {self.loan_id} accrued {self.interest}+{self.fee}+{self.penalty} on {self.business_date}"


class RevisionReason(models.TextChoices):
    PREPAYMENT = "prepayment", "Partial prepayment"
    PAYOFF = "payoff", "Paid off: interest not yet accrued dropped"


class ScheduleRevision(models.Model):
    """A change a payment made to the schedule itself, kept so a reversal can undo it exactly.

    A partial prepayment recomputes the installments after the current one; a payoff drops the
    interest and fees not yet accrued. `before` holds the affected rows as they were (decimal
    strings); `after` what they became. A reversal restores `before` and marks the revision reverted.
    """

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="schedule_revisions")
    repayment = models.ForeignKey(Repayment, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="schedule_revisions")
    reason = models.CharField(max_length=12, choices=RevisionReason.choices)
    choice = models.CharField(max_length=20, choices=PrepaymentChoice.choices, blank=True)
    prepaid = models.DecimalField(default=0, **money_field_kwargs())
    before = models.JSONField()
    after = models.JSONField()
    # Interest accrued on rows that changed and was taken back out of income (re-accrued on the new rows).
    release_entry = models.OneToOneField("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="schedule_revision")
    pledges_released = models.JSONField(default=list, blank=True, help_text="Pledge ids a payoff released")
    reverted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(prepaid__gte=0), name="schedule_revision_prepaid_non_negative"),
            models.CheckConstraint(condition=Q(reason="payoff") | (Q(repayment__isnull=False) & ~Q(choice="")),
                                   name="schedule_revision_prepayment_has_its_payment"),
        ]
        indexes = [models.Index(fields=["loan", "reverted_at"])]

    def __str__(self):
        return f"{self.get_reason_display()} on loan {self.loan_id}"
