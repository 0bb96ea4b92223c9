"""Delinquency policy and the dunning ladder, as data; collection cases, contacts, promises,
write-offs and recoveries (DESIGN.md, End of day and Collections)."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, FSMModelMixin, transition

from apps.core.money import money_field_kwargs

RATE = {"max_digits": 5, "decimal_places": 4}


class Bucket(models.TextChoices):
    CURRENT = "current", "Current"
    DPD_1_30 = "1-30", "1–30 days"
    DPD_31_60 = "31-60", "31–60 days"
    DPD_61_90 = "61-90", "61–90 days"
    DPD_90_PLUS = "90+", "90+ days"


class PriorityFormula(models.TextChoices):
    AMOUNT_X_DPD = "amount_x_dpd", "Overdue amount × days past due"
    WEIGHTED = "weighted", "Amount weight × overdue amount + DPD weight × days past due"


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
    # The collector queue's order: priority = formula × (1 + broken_promise_boost × broken promises).
    priority_formula = models.CharField(max_length=16, choices=PriorityFormula.choices, default=PriorityFormula.AMOUNT_X_DPD)
    priority_amount_weight = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("1"),
                                                 help_text="Weighted formula: per unit of overdue amount")
    priority_dpd_weight = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"),
                                              help_text="Weighted formula: per day past due")
    broken_promise_boost = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("0.25"),
                                               help_text="Extra priority per broken promise (0.25 = +25% each)")
    promise_max_days = models.PositiveSmallIntegerField(default=30, help_text="How far ahead a promise to pay may fall")
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
            models.CheckConstraint(name="collections_policy_priority_sane", condition=(
                Q(priority_amount_weight__gte=0) & Q(priority_dpd_weight__gte=0) & Q(broken_promise_boost__gte=0)
                & Q(promise_max_days__gte=1, promise_max_days__lte=366))),
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


# --- collection cases -------------------------------------------------------------------------

class CaseState(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    PROMISE_TO_PAY = "promise_to_pay", "Promise to pay"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    WRITTEN_OFF = "written_off", "Written off"


LIVE_CASE_STATES = (CaseState.OPEN, CaseState.IN_PROGRESS, CaseState.PROMISE_TO_PAY)


def _works_cases(case, user) -> bool:
    return user.has_role("collector")  # lender admins hold every staff role


def _checks_write_offs(case, user) -> bool:
    return user.has_role("credit_officer")


class CollectionCase(FSMModelMixin, models.Model):
    """One delinquent loan being worked: opened by end of day when a loan is overdue, worked by a collector.

    open → in progress → promise to pay → (kept → resolved | broken → in progress); any live state →
    closed | written off; end of day also resolves a live case whose loan is current again. Only
    services (apps.collections.services, via core.transitions) and the set-based end-of-day steps
    (apps.collections.cases_eod, which write their audit rows in the same statement) change `state`.
    """

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="collection_cases")
    loan = models.ForeignKey("repayments.Loan", on_delete=models.PROTECT, related_name="collection_cases")
    state = FSMField(default=CaseState.OPEN, choices=CaseState.choices, protected=True)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="assigned_cases")
    assigned_at = models.DateTimeField(null=True, blank=True)
    opened_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True, help_text="Resolved, closed or written off on")
    legal_referred_on = models.DateField(null=True, blank=True)
    broken_promises = models.PositiveSmallIntegerField(default=0)
    # Refreshed by end of day (cases_eod.cases_update) with the policy's priority formula.
    priority = models.DecimalField(default=Decimal("0"), **money_field_kwargs())
    overdue_amount = models.DecimalField(default=Decimal("0"), **money_field_kwargs())
    dpd = models.IntegerField(default=0, help_text="Days past due as of refreshed_on")
    refreshed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        ordering = ["-priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["loan"], condition=Q(state__in=LIVE_CASE_STATES),
                                    name="collection_case_one_live_per_loan"),
            models.CheckConstraint(name="collection_case_amounts_non_negative",
                                   condition=Q(priority__gte=0) & Q(overdue_amount__gte=0) & Q(dpd__gte=0)),
            models.CheckConstraint(name="collection_case_closed_on_iff_not_live",
                                   condition=Q(state__in=LIVE_CASE_STATES, closed_on__isnull=True)
                                   | (~Q(state__in=LIVE_CASE_STATES) & Q(closed_on__isnull=False))),
        ]
        indexes = [
            models.Index(fields=["lender", "-priority", "id"], condition=Q(state__in=LIVE_CASE_STATES),
                         name="collection_case_live_queue"),
            models.Index(fields=["assigned_to"], condition=Q(state__in=LIVE_CASE_STATES), name="collection_case_live_load"),
        ]

    def __str__(self):
        return f"Case #{self.pk} on loan {self.loan_id} ({self.state})"

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_CASE_STATES

    @transition(field=state, source=CaseState.OPEN, target=CaseState.IN_PROGRESS, permission=_works_cases)
    def start(self):
        pass

    @transition(field=state, source=CaseState.IN_PROGRESS, target=CaseState.PROMISE_TO_PAY, permission=_works_cases)
    def promise(self):
        pass

    # End of day judges promises and resolves cured loans set-based (cases_eod); these document the machine.
    @transition(field=state, source=CaseState.PROMISE_TO_PAY, target=CaseState.RESOLVED)
    def promise_kept(self, *, on):
        self.closed_on = on

    @transition(field=state, source=CaseState.PROMISE_TO_PAY, target=CaseState.IN_PROGRESS)
    def promise_broken(self):
        self.broken_promises += 1

    @transition(field=state, source=LIVE_CASE_STATES, target=CaseState.RESOLVED)
    def resolve(self, *, on):
        self.closed_on = on

    @transition(field=state, source=LIVE_CASE_STATES, target=CaseState.CLOSED, permission=_works_cases)
    def close(self, *, on):
        self.closed_on = on

    # "Any → written off": a case closed by a person (handed over, disputed) can still see its loan written off.
    @transition(field=state, source=(*LIVE_CASE_STATES, CaseState.CLOSED), target=CaseState.WRITTEN_OFF,
                permission=_checks_write_offs)
    def write_off(self, *, on):
        self.closed_on = on


class ContactChannel(models.TextChoices):
    PHONE = "phone", "Phone"
    VISIT = "visit", "Visit"
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"
    OTHER = "other", "Other"


class ContactOutcome(models.TextChoices):
    REACHED = "reached", "Reached the merchant"
    NO_ANSWER = "no_answer", "No answer"
    LEFT_MESSAGE = "left_message", "Left a message"
    REFUSED = "refused", "Refused to pay"
    DISPUTED = "disputed", "Disputes the debt"
    WRONG_CONTACT = "wrong_contact", "Wrong contact details"
    OTHER = "other", "Other"


class ContactLog(models.Model):
    """One attempt to reach the merchant on a case; append-only."""

    case = models.ForeignKey(CollectionCase, on_delete=models.PROTECT, related_name="contacts")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=8, choices=ContactChannel.choices)
    outcome = models.CharField(max_length=16, choices=ContactOutcome.choices)
    note = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["case", "-at"])]

    def __str__(self):
        return f"{self.channel} on case {self.case_id}: {self.outcome}"


class PromiseState(models.TextChoices):
    OPEN = "open", "Open"
    KEPT = "kept", "Kept"
    BROKEN = "broken", "Broken"


class PromiseToPay(models.Model):
    """The merchant promises `amount` by `promised_date`. End of day after that date judges it by the money
    received on the loan since it was made (repayments total now − `paid_before`). Only the set-based
    cases_eod.promises_review changes `state`."""

    case = models.ForeignKey(CollectionCase, on_delete=models.PROTECT, related_name="promises")
    amount = models.DecimalField(**money_field_kwargs())
    promised_date = models.DateField()
    state = models.CharField(max_length=8, choices=PromiseState.choices, default=PromiseState.OPEN)
    paid_before = models.DecimalField(**money_field_kwargs(), help_text="Repayments on the loan when it was made")
    received = models.DecimalField(null=True, blank=True, **money_field_kwargs(), help_text="Received by the judgement")
    judged_on = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(name="promise_amount_positive", condition=Q(amount__gt=0) & Q(paid_before__gte=0)),
            models.CheckConstraint(name="promise_judged_iff_settled",
                                   condition=Q(state=PromiseState.OPEN, judged_on__isnull=True, received__isnull=True)
                                   | (Q(state__in=[PromiseState.KEPT, PromiseState.BROKEN])
                                      & Q(judged_on__isnull=False, received__isnull=False))),
            models.UniqueConstraint(fields=["case"], condition=Q(state=PromiseState.OPEN), name="promise_one_open_per_case"),
        ]
        indexes = [models.Index(fields=["promised_date"], condition=Q(state=PromiseState.OPEN), name="promise_open_due")]

    def __str__(self):
        return f"Promise of {self.amount} by {self.promised_date} on case {self.case_id} ({self.state})"


class WriteOffState(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class WriteOffRequest(models.Model):
    """Writing a defaulted loan off takes two people: a maker asks, a different checker decides.

    `amount` is the outstanding principal when asked (approval refuses if it has moved since);
    approval records what the books wrote off: the partner bank's share of the principal and the
    accrued interest, fees and penalties reversed.
    """

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="write_off_requests")
    loan = models.ForeignKey("repayments.Loan", on_delete=models.PROTECT, related_name="write_off_requests")
    case = models.ForeignKey(CollectionCase, on_delete=models.PROTECT, related_name="write_off_requests")
    amount = models.DecimalField(**money_field_kwargs())
    reason = models.TextField()
    state = models.CharField(max_length=8, choices=WriteOffState.choices, default=WriteOffState.PENDING)
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    checker = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    partner_amount = models.DecimalField(default=Decimal("0"), **money_field_kwargs(),
                                         help_text="Of `amount`, the partner bank's share (borne by the bank)")
    accruals_reversed = models.DecimalField(default=Decimal("0"), **money_field_kwargs(),
                                            help_text="Accrued interest, fees and penalties unpaid, reversed")
    created_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(name="write_off_amount_positive",
                                   condition=Q(amount__gt=0) & Q(partner_amount__gte=0) & Q(partner_amount__lte=F("amount"))
                                   & Q(accruals_reversed__gte=0)),
            models.CheckConstraint(name="write_off_checker_is_not_maker",
                                   condition=Q(checker__isnull=True) | ~Q(checker=F("maker"))),
            models.CheckConstraint(name="write_off_decided_iff_checked",
                                   condition=Q(state=WriteOffState.PENDING, checker__isnull=True, decided_at__isnull=True)
                                   | (Q(state__in=[WriteOffState.APPROVED, WriteOffState.REJECTED])
                                      & Q(checker__isnull=False, decided_at__isnull=False))),
            models.UniqueConstraint(fields=["loan"], condition=Q(state=WriteOffState.PENDING),
                                    name="write_off_one_pending_per_loan"),
            models.UniqueConstraint(fields=["loan"], condition=Q(state=WriteOffState.APPROVED),
                                    name="write_off_once_per_loan"),
        ]
        indexes = [models.Index(fields=["lender", "created_at"], condition=Q(state=WriteOffState.PENDING),
                                name="write_off_pending")]

    def __str__(self):
        return f"Write-off of loan {self.loan_id}: {self.amount} ({self.state})"

    @property
    def claim(self) -> Decimal:
        """What the merchant still owed when the loan was written off: what recoveries may collect."""
        return self.amount + self.accruals_reversed


class Recovery(models.Model):
    """Money received on a written-off loan: Dr cash / Cr recovery income (a co-lent loan's partner share
    of it is owed to the bank). Idempotent per (loan, source, reference), like repayments."""

    # True on the recovery recovery_post returns for a resent reference: the first one, nothing posted again.
    replayed = False

    loan = models.ForeignKey("repayments.Loan", on_delete=models.PROTECT, related_name="recoveries")
    source = models.CharField(max_length=12, help_text="repayments.RepaymentSource")
    reference = models.CharField(max_length=100)
    amount = models.DecimalField(**money_field_kwargs())
    partner_amount = models.DecimalField(default=Decimal("0"), **money_field_kwargs())
    received_on = models.DateField()
    journal_entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="recovery")
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        ordering = ["received_on", "id"]
        verbose_name_plural = "recoveries"
        constraints = [
            models.UniqueConstraint(fields=["loan", "source", "reference"], name="recovery_once_per_reference"),
            models.CheckConstraint(name="recovery_amount_positive",
                                   condition=Q(amount__gt=0) & Q(partner_amount__gte=0) & Q(partner_amount__lte=F("amount"))),
        ]

    def __str__(self):
        return f"Recovery {self.amount} on loan {self.loan_id} ({self.source} {self.reference})"
