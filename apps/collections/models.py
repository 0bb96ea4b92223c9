"""Delinquency policy and the dunning ladder, as data (DESIGN.md, End of day and Collections)."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

RATE = {"max_digits": 5, "decimal_places": 4}


class Bucket(models.TextChoices):
    CURRENT = "current", "Current"
    DPD_1_30 = "1-30", "1–30 days"
    DPD_31_60 = "31-60", "31–60 days"
    DPD_61_90 = "61-90", "61–90 days"
    DPD_90_PLUS = "90+", "90+ days"


class CollectionsPolicy(models.Model):
    """Effective-dated, versioned per lender: when a loan defaults and what each bucket provisions."""

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="collections_policies")
    version = models.PositiveIntegerField()
    effective_from = models.DateField()
    default_dpd = models.PositiveSmallIntegerField(default=90, help_text="Days past due at which a loan defaults")
    provision_current = models.DecimalField(default=Decimal("0"), **RATE)
    provision_1_30 = models.DecimalField(default=Decimal("0.05"), **RATE)
    provision_31_60 = models.DecimalField(default=Decimal("0.25"), **RATE)
    provision_61_90 = models.DecimalField(default=Decimal("0.50"), **RATE)
    provision_90_plus = models.DecimalField(default=Decimal("1.00"), **RATE)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lender_id", "-effective_from", "-version"]
        verbose_name_plural = "collections policies"
        constraints = [
            models.UniqueConstraint(fields=["lender", "version"], name="collections_policy_unique_version"),
            models.CheckConstraint(name="collections_policy_rates_0_1", condition=(
                Q(provision_current__gte=0, provision_current__lte=1) & Q(provision_1_30__gte=0, provision_1_30__lte=1)
                & Q(provision_31_60__gte=0, provision_31_60__lte=1) & Q(provision_61_90__gte=0, provision_61_90__lte=1)
                & Q(provision_90_plus__gte=0, provision_90_plus__lte=1))),
            models.CheckConstraint(name="collections_policy_default_dpd_positive", condition=Q(default_dpd__gte=1)),
        ]

    def __str__(self):
        return f"Collections policy v{self.version} of lender {self.lender_id} from {self.effective_from}"

    def provision_rate(self, bucket: str) -> Decimal:
        return {Bucket.CURRENT: self.provision_current, Bucket.DPD_1_30: self.provision_1_30,
                Bucket.DPD_31_60: self.provision_31_60, Bucket.DPD_61_90: self.provision_61_90,
                Bucket.DPD_90_PLUS: self.provision_90_plus}[bucket]


class Audience(models.TextChoices):
    MERCHANT = "merchant", "The borrowing merchant"
    GUARANTORS = "guarantors", "The loan's guarantors"


class StepAction(models.TextChoices):
    NONE = "", "Notify only"
    GUARANTEE_CLAIM = "guarantee_claim", "Open guarantee claims"
    ASSIGN_COLLECTOR = "assign_collector", "Assign a collector"
    LEGAL_REFERRAL = "legal_referral", "Refer to legal"


class DunningStep(models.Model):
    """One rung of the ladder: fires once per loan and due date, `offset_days` from the due date.

    Negative offsets are reminders before the due date. Title and body may use {loan}, {amount},
    {due_date}, {dpd} and {company}.
    """

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="dunning_steps")
    code = models.SlugField(max_length=32)
    offset_days = models.SmallIntegerField()
    audience = models.CharField(max_length=12, choices=Audience.choices, default=Audience.MERCHANT)
    channels = models.CharField(max_length=32, default="email", help_text="Comma-separated: email, sms")
    action = models.CharField(max_length=20, choices=StepAction.choices, blank=True, default="")
    title = models.CharField(max_length=200)
    body = models.TextField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["lender_id", "offset_days"]
        constraints = [
            models.UniqueConstraint(fields=["lender", "code"], name="dunning_step_unique_code"),
            models.UniqueConstraint(fields=["lender", "offset_days"], name="dunning_step_unique_offset"),
            models.CheckConstraint(name="dunning_step_offset_sane", condition=Q(offset_days__gte=-30, offset_days__lte=365)
                                   & ~Q(offset_days=0)),
        ]

    def __str__(self):
        return f"D{self.offset_days:+d} {self.code}"


class DunningEvent(models.Model):
    """A ladder step that fired for a loan's oldest unpaid due date: the record that it never fires twice."""

    loan = models.ForeignKey("repayments.Loan", on_delete=models.PROTECT, related_name="dunning_events")
    step = models.ForeignKey(DunningStep, on_delete=models.PROTECT, related_name="events")
    due_date = models.DateField()
    business_date = models.DateField()
    dpd = models.SmallIntegerField(help_text="Days past due when it fired (negative: days before the due date)")
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text="Amount due or overdue when it fired")

    class Meta:
        ordering = ["loan_id", "due_date", "step__offset_days"]
        constraints = [models.UniqueConstraint(fields=["loan", "step", "due_date"], name="dunning_event_once")]
        indexes = [models.Index(fields=["business_date", "step"])]

    def __str__(self):
        return f"{self.step.code} for loan {self.loan_id} (due {self.due_date})"


DEFAULT_LADDER = [
    # (code, offset, audience, channels, action, title, body)
    ("reminder", -3, Audience.MERCHANT, "email", StepAction.NONE, "Payment due on {due_date}",
     "Loan #{loan}: {amount} falls due on {due_date}. Pay in the portal or let your settlements repay it."),
    ("first-notice", 1, Audience.MERCHANT, "email,sms", StepAction.NONE, "Payment overdue: loan #{loan}",
     "Loan #{loan}: {amount} was due on {due_date} and is now overdue. Penalty interest accrues daily."),
    ("second-notice", 7, Audience.MERCHANT, "email,sms", StepAction.NONE, "Second notice: loan #{loan} is {dpd} days overdue",
     "Loan #{loan}: {amount} has been overdue since {due_date}. Please pay now to avoid further action."),
    ("guarantors", 15, Audience.GUARANTORS, "email,sms", StepAction.GUARANTEE_CLAIM,
     "Guarantee called: loan #{loan} of {company}",
     "{company} is {dpd} days overdue on loan #{loan}, which you guarantee. You are now liable for {amount}; "
     "you can pay it in the portal."),
    ("demand-letter", 30, Audience.MERCHANT, "email", StepAction.ASSIGN_COLLECTOR, "Demand letter: loan #{loan}",
     "Loan #{loan}: {amount} is {dpd} days overdue. A collector has been assigned and will contact you."),
    ("legal-referral", 60, Audience.MERCHANT, "email", StepAction.LEGAL_REFERRAL, "Referral to legal: loan #{loan}",
     "Loan #{loan}: {amount} is {dpd} days overdue and has been referred to our legal department."),
    ("default-notice", 90, Audience.MERCHANT, "email", StepAction.NONE, "Loan #{loan} is in default",
     "Loan #{loan} is in default: {amount} overdue for {dpd} days. The whole balance is now due."),
]
