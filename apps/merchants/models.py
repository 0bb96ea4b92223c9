from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from apps.core.money import money_field_kwargs


class KycState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"
    SUSPENDED = "suspended", "Suspended"


class RiskGrade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"
    E = "E", "E"


def _has_documents(merchant) -> bool:
    return merchant.kyc_documents.exists()


class Merchant(FSMModelMixin, models.Model):
    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="merchants")
    company_name = models.CharField(max_length=200)
    store_handle = models.SlugField(max_length=64, help_text="The shop's handle on the marketplace")
    contact_name = models.CharField(max_length=120)
    contact_email = models.EmailField()
    contact_phone = models.CharField(max_length=32)
    bank_name = models.CharField(max_length=120)
    bank_account_name = models.CharField(max_length=200)
    bank_account_number = models.CharField(max_length=34)
    kyc_state = FSMField(default=KycState.DRAFT, choices=KycState.choices, protected=True)
    kyc_submitted_at = models.DateTimeField(null=True, blank=True)
    kyc_decision_reason = models.TextField(blank=True)
    # Latest credit assessment, denormalised for lists; history in CreditAssessment.
    risk_grade = models.CharField(max_length=1, choices=RiskGrade.choices, blank=True)
    credit_limit = models.DecimalField(default=0, **money_field_kwargs())
    # Contagion (apps/groups): a frozen limit refuses new financing until a lender admin lifts it;
    # a flagged merchant is re-graded at the next end of day.
    limit_frozen_at = models.DateTimeField(null=True, blank=True)
    limit_frozen_reason = models.TextField(blank=True, default="", db_default="")
    grade_review_due = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lender", "store_handle"], name="merchant_unique_store_handle"),
            models.CheckConstraint(condition=Q(credit_limit__gte=0), name="merchant_credit_limit_non_negative"),
        ]
        indexes = [
            models.Index(fields=["lender", "kyc_state", "kyc_submitted_at"]),
            models.Index(fields=["id"], condition=Q(grade_review_due=True), name="merchant_grade_review_due"),
        ]

    def __str__(self):
        return self.company_name

    # KYC lifecycle; only apps.merchants.services calls these (via core.transitions).
    @transition(field=kyc_state, source=[KycState.DRAFT, KycState.REJECTED], target=KycState.SUBMITTED,
                conditions=[_has_documents])
    def kyc_submit(self):
        from django.utils import timezone

        self.kyc_submitted_at = timezone.now()
        self.kyc_decision_reason = ""

    @transition(field=kyc_state, source=KycState.SUBMITTED, target=KycState.VERIFIED,
                permission=lambda m, user: user.has_role("credit_officer"))
    def kyc_verify(self, reason: str = ""):
        self.kyc_decision_reason = reason

    @transition(field=kyc_state, source=KycState.SUBMITTED, target=KycState.REJECTED,
                permission=lambda m, user: user.has_role("credit_officer"))
    def kyc_reject(self, reason: str):
        self.kyc_decision_reason = reason

    @transition(field=kyc_state, source=KycState.VERIFIED, target=KycState.SUSPENDED,
                permission=lambda m, user: user.has_role("lender_admin"))
    def kyc_suspend(self, reason: str):
        self.kyc_decision_reason = reason

    @transition(field=kyc_state, source=KycState.SUSPENDED, target=KycState.VERIFIED,
                permission=lambda m, user: user.has_role("lender_admin"))
    def kyc_reinstate(self, reason: str):
        self.kyc_decision_reason = reason


class KycDocumentKind(models.TextChoices):
    BUSINESS_LICENCE = "business_licence", "Business licence"
    LEGAL_REP_ID = "legal_rep_id", "Legal representative's ID"
    BANK_STATEMENT = "bank_statement", "Bank account statement"
    OTHER = "other", "Other"


def kyc_upload_path(instance, filename):
    return f"kyc/{instance.merchant_id}/{filename}"


class KycDocument(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="kyc_documents")
    kind = models.CharField(max_length=32, choices=KycDocumentKind.choices)
    file = models.FileField(upload_to=kyc_upload_path)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.original_name}"


class DailySales(models.Model):
    """One merchant's marketplace sales for one day."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="daily_sales")
    date = models.DateField()
    currency = models.CharField(max_length=3, default="CNY")
    gross_sales = models.DecimalField(**money_field_kwargs())
    order_count = models.PositiveIntegerField()
    refunds = models.DecimalField(**money_field_kwargs())
    chargebacks = models.DecimalField(**money_field_kwargs())
    source = models.CharField(max_length=16, choices=[("csv", "CSV upload"), ("api", "API")])
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "date"], name="daily_sales_one_row_per_day"),
            models.CheckConstraint(
                condition=Q(gross_sales__gte=0) & Q(refunds__gte=0) & Q(chargebacks__gte=0),
                name="daily_sales_amounts_non_negative",
            ),
        ]

    def __str__(self):
        return f"{self.merchant_id} {self.date}: {self.gross_sales}"


class ScoringPolicy(models.Model):
    """The credit scoring model's parameters as data, effective-dated and versioned.

    See apps/merchants/scoring.py for how `parameters` are used.
    """

    lender = models.ForeignKey("accounts.Lender", on_delete=models.PROTECT, related_name="scoring_policies")
    version = models.PositiveIntegerField()
    effective_from = models.DateField()
    parameters = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lender", "version"], name="scoring_policy_unique_version")]
        ordering = ["-effective_from", "-version"]

    def __str__(self):
        return f"Scoring policy v{self.version} from {self.effective_from}"


class CreditAssessment(models.Model):
    """One run of the scoring model for a merchant: inputs, score, grade, limit, reasons."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="credit_assessments")
    policy = models.ForeignKey(ScoringPolicy, on_delete=models.PROTECT, related_name="+")
    as_of = models.DateField()
    score = models.PositiveSmallIntegerField()
    grade = models.CharField(max_length=1, choices=RiskGrade.choices)
    credit_limit = models.DecimalField(**money_field_kwargs())
    inputs = models.JSONField()
    reasons = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.merchant_id} {self.as_of}: {self.grade} ({self.score})"
